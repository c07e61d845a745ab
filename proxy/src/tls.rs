//! TLS with rustls (pingora's `rustls` feature, ring provider): the downstream side compiled
//! (`compile`) from `[server.tls]` and `[domains]` into a [`Transport`] each snapshot carries
//! (certificates by server name, mutual TLS per domain), the listener hooks that read the
//! serving snapshot's transport at every handshake (`listener`), what a connection tells its
//! requests (`connection`), and HTTPS to backends (`upstream`).

mod certs;
mod compile;
mod connection;
mod files;
mod listener;
mod upstream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::HeaderName;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::CertifiedKey;

pub use certs::CertificateError;
pub use compile::{compile, files_named};
pub use connection::{ClientCert, ConnectionTls};
pub use files::FileError;
pub use listener::{listener_settings, session_cache, SessionCache, TransportSource};
pub use upstream::{UpstreamTls, UpstreamTlsError};

/// The downstream TLS of one snapshot: what certificate each server name gets, and which
/// domains require client certificates.
#[derive(Default)]
pub struct Transport {
    default_certificate: Option<Arc<CertifiedKey>>,
    /// By lower-case name: exact names and `*.suffix` wildcards.
    domains: HashMap<String, Arc<Domain>>,
    /// Whether some domain has mutual TLS: listeners then ask every client for a certificate,
    /// and each request checks it against its own domain's truststore.
    pub asks_client_certs: bool,
    /// Every domain's `forward_header`: taken off every request, set only from a certificate
    /// verified for the request's domain.
    pub forward_headers: Vec<HeaderName>,
    /// Tells transports apart, so a connection verified with an older one is verified again.
    id: u64,
    /// Plaintext listeners that redirect to HTTPS.
    pub redirect_listen: Vec<SocketAddr>,
    /// The port HTTPS is served on (the first TLS listener's), for redirects.
    pub https_port: Option<u16>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("domains", &self.domains.keys().collect::<Vec<_>>())
            .field("default_certificate", &self.default_certificate.is_some())
            .finish_non_exhaustive()
    }
}

/// A domain with mutual TLS, and a connection without a certificate its truststore verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this domain requires a client certificate its truststore verifies")]
pub struct MissingClientCert;

/// Numbers each compiled transport.
static TRANSPORTS: AtomicU64 = AtomicU64::new(1);

/// A custom domain.
pub struct Domain {
    /// As configured: `api.example.com` or `*.example.com`.
    pub name: String,
    certificate: Option<Arc<CertifiedKey>>,
    /// Mutual TLS, when the domain requires client certificates.
    pub mtls: Option<Mtls>,
}

/// A domain's mutual TLS.
pub struct Mtls {
    verifier: Arc<dyn ClientCertVerifier>,
    /// The header the verified certificate is forwarded to backends in.
    pub forward_header: Option<HeaderName>,
}

impl Transport {
    /// Whether plaintext requests need the transport's check too: to be redirected, or refused
    /// for a domain with mutual TLS.
    pub fn checks_plaintext(&self) -> bool {
        self.asks_client_certs || !self.redirect_listen.is_empty()
    }

    /// The domain `host` (lower case, no port) belongs to: its own entry, else its wildcard's.
    pub fn domain(&self, host: &str) -> Option<&Arc<Domain>> {
        if self.domains.is_empty() {
            return None;
        }
        if let Some(domain) = self.domains.get(host) {
            return Some(domain);
        }
        let (_, parent) = host.split_once('.')?;
        self.domains.get(&format!("*.{parent}"))
    }

    /// The certificate for a handshake naming `server_name`: the domain's, its wildcard's, or
    /// the default.
    fn certificate_for(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = server_name {
            let exact = self.domains.get(name).and_then(|d| d.certificate.clone());
            let wildcard = || {
                let (_, parent) = name.split_once('.')?;
                self.domains
                    .get(&format!("*.{parent}"))?
                    .certificate
                    .clone()
            };
            if let Some(certificate) = exact.or_else(wildcard) {
                return Some(certificate);
            }
        }
        self.default_certificate.clone()
    }

    /// The client certificate a request for `host` (lower case) on connection `tls` may use:
    /// `Ok(None)` when the host's domain has no mutual TLS (a certificate no domain asked for
    /// identifies nobody), the certificate its domain's truststore verified, or `Err` when the
    /// domain requires one and the connection has none verified for it. A connection verified
    /// before a reload is verified again with the current truststore and CRL, once.
    pub fn client_cert(
        &self,
        host: Option<&str>,
        tls: Option<&ConnectionTls>,
    ) -> Result<Option<Arc<ClientCert>>, MissingClientCert> {
        let Some(domain) = host.and_then(|host| self.domain(host)) else {
            return Ok(None);
        };
        let Some(mtls) = &domain.mtls else {
            return Ok(None);
        };
        let tls = tls.ok_or(MissingClientCert)?;
        if tls.verified_for.as_deref() != Some(domain.name.as_str()) {
            return Err(MissingClientCert);
        }
        if tls.verified_with.load(Ordering::Relaxed) != self.id {
            let (leaf, intermediates) = tls.chain.split_first().ok_or(MissingClientCert)?;
            let now = rustls::pki_types::UnixTime::now();
            mtls.verifier
                .verify_client_cert(leaf, intermediates, now)
                .map_err(|_| MissingClientCert)?;
            tls.verified_with.store(self.id, Ordering::Relaxed);
        }
        Ok(tls.client_cert.clone())
    }

    /// This transport's id, for connections verified with it.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}
