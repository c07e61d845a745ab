//! What a TLS connection tells each request on it: the server name the client asked for, the
//! protocol version, and the client certificate with the domain whose truststore verified it.
//! Built once per connection at the end of the handshake and kept in pingora's TLS digest.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use pingora::protocols::tls::SslDigest;
use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The TLS side of one downstream connection.
#[derive(Debug, Default)]
pub struct ConnectionTls {
    /// The SNI server name, lower case; `None` when the client sent none.
    pub server_name: Option<String>,
    /// `TLSv1_3` or `TLSv1_2`.
    pub version: &'static str,
    /// The negotiated cipher suite.
    pub cipher: &'static str,
    /// The certificate the client presented, when it presented one.
    pub client_cert: Option<Arc<ClientCert>>,
    /// The chain the client presented, leaf first: verified again after a reload changed
    /// the truststore or CRL.
    pub chain: Vec<CertificateDer<'static>>,
    /// The domain (as configured, e.g. `api.example.com` or `*.example.com`) whose mutual TLS
    /// truststore verified `client_cert`.
    pub verified_for: Option<String>,
    /// The `Transport::id` that verification was made with.
    pub verified_with: AtomicU64,
}

/// A client certificate's fields, as AWS exposes them (`$context.identity.clientCert.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// Subject distinguished name, RFC 4514 order (`CN=client,O=Example`).
    pub subject_dn: String,
    /// Issuer distinguished name.
    pub issuer_dn: String,
    /// Serial number, hexadecimal.
    pub serial_number: String,
    /// Start of validity, RFC 3339 (UTC).
    pub not_before: String,
    /// End of validity, RFC 3339 (UTC).
    pub not_after: String,
    /// The certificate in PEM.
    pub pem: String,
}

impl ClientCert {
    /// The fields of `der`, or `None` if it does not parse (the verifier refuses such
    /// certificates before this runs).
    pub fn parse(der: &CertificateDer<'_>) -> Option<Self> {
        let (_, certificate) = X509Certificate::from_der(der).ok()?;
        let validity = certificate.validity();
        Some(Self {
            subject_dn: certificate.subject().to_string(),
            issuer_dn: certificate.issuer().to_string(),
            serial_number: certificate.raw_serial_as_string().replace(':', ""),
            not_before: rfc3339(validity.not_before.timestamp()),
            not_after: rfc3339(validity.not_after.timestamp()),
            pem: pem(der),
        })
    }
}

impl ConnectionTls {
    /// The connection's TLS facts from pingora's digest, when it is a TLS connection.
    pub fn of(digest: &SslDigest) -> Option<&ConnectionTls> {
        digest.extension.get::<ConnectionTls>()
    }
}

fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// `der` as a PEM block, 64 base64 characters a line.
fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}
