//! The transport as written: `[server.tls]` (HTTPS listeners and the default certificate),
//! `[server.http2]`, `[domains.<name>]` (custom domains: their certificates and mutual TLS) and
//! an upstream's `tls` table (how backends are reached over HTTPS).
//!
//! ```toml
//! [server.tls]
//! listen = ["0.0.0.0:443"]
//! certificate = "certs/default.pem"      # chain, leaf first
//! key = "certs/default.key"
//! redirect_listen = ["0.0.0.0:80"]       # answer 308 to https:// there
//!
//! [domains."api.example.com"]
//! certificate = "certs/api.pem"
//! key = "certs/api.key"
//! mtls = { truststore = "certs/clients-ca.pem", crl = "certs/clients.crl" }
//!
//! [upstreams.billing]
//! targets = ["billing.internal:8443"]
//! tls = { ca = "certs/internal-ca.pem", client_certificate = "certs/gw.pem", client_key = "certs/gw.key" }
//! ```

use serde::Deserialize;
use toml::Spanned;

use super::default_true;

/// `[server.tls]`: the HTTPS listeners.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// Addresses served over TLS.
    pub listen: Vec<Spanned<String>>,
    /// The default certificate chain (PEM, leaf first): for clients that send no server name, or
    /// one no domain's certificate covers. Without it such handshakes fail.
    pub certificate: Option<Spanned<String>>,
    /// The default certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: Option<Spanned<String>>,
    /// A DER OCSP response stapled with the default certificate.
    pub ocsp: Option<Spanned<String>>,
    /// Offer HTTP/2 by ALPN. Default true.
    #[serde(default = "default_true")]
    pub http2: bool,
    /// Plaintext addresses that answer every request with a 308 to the same URL over HTTPS.
    #[serde(default)]
    pub redirect_listen: Vec<Spanned<String>>,
}

/// `[server.http2]`: HTTP/2 from clients (over TLS by ALPN, or in cleartext when opted in).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Http2File {
    /// Accept HTTP/2 with prior knowledge (h2c) on the plaintext listeners. Default false.
    #[serde(default)]
    pub cleartext: bool,
    /// Streams a client may have open at once on one connection, 1 to 1000. Default 128.
    #[serde(default = "default_max_concurrent_streams")]
    pub max_concurrent_streams: u32,
    /// An HTTP/2 connection with no stream open for this long is closed, in ms (1000 to
    /// 3600000). Default 60000.
    #[serde(default = "default_http2_idle_timeout")]
    pub idle_timeout_ms: u64,
}

impl Default for Http2File {
    fn default() -> Self {
        Self {
            cleartext: false,
            max_concurrent_streams: default_max_concurrent_streams(),
            idle_timeout_ms: default_http2_idle_timeout(),
        }
    }
}

fn default_http2_idle_timeout() -> u64 {
    60_000
}

fn default_max_concurrent_streams() -> u32 {
    128
}

/// `[domains.<name>]`: a custom domain (`api.example.com` or `*.example.com`) served over TLS.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DomainFile {
    /// The domain's certificate chain (PEM, leaf first); it must cover the name. Without one
    /// the domain is served with the default certificate.
    pub certificate: Option<Spanned<String>>,
    /// Its private key.
    pub key: Option<Spanned<String>>,
    /// A DER OCSP response stapled with it.
    pub ocsp: Option<Spanned<String>>,
    /// Mutual TLS: clients must present a certificate this truststore verifies.
    pub mtls: Option<MtlsFile>,
}

/// `mtls = { ... }` of a domain.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MtlsFile {
    /// The CA certificates (PEM bundle) client certificates must chain to.
    pub truststore: Spanned<String>,
    /// Revoked client certificates: a CRL file (PEM or DER).
    pub crl: Option<Spanned<String>>,
    /// Send the verified client certificate (URL-encoded PEM) to backends in this header.
    pub forward_header: Option<Spanned<String>>,
}

/// An upstream's `tls = { ... }`: how its backends are verified and what the gateway presents.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsFile {
    /// CA certificates (PEM bundle) the backends' certificates must chain to. Default: the
    /// system's roots.
    pub ca: Option<Spanned<String>>,
    /// The name sent as SNI, verified in the backend's certificate and sent as `Host`. Default:
    /// each target's host for SNI and verification, the URI's authority for `Host`.
    pub server_name: Option<Spanned<String>>,
    /// Accept any backend certificate. Logged at every load; for tests and emergencies only.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// A certificate chain the gateway presents to backends that ask for one.
    pub client_certificate: Option<Spanned<String>>,
    /// Its private key.
    pub client_key: Option<Spanned<String>>,
}
