//! HTTPS to backends: what an upstream's `tls` table (or a direct `https://host` URI, with the
//! system's roots) sets on the pingora peer — CA bundle, server name, verification and the
//! client certificate the gateway presents.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use pingora::upstreams::peer::HttpPeer;
use pingora::utils::tls::{parse_x509, CertKey, WrappedX509};

use super::files::{self, FileError};
use crate::config::UpstreamTlsFile;

/// Why an upstream's `tls` table cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamTlsError {
    /// A file is missing or holds the wrong thing.
    #[error(transparent)]
    File(#[from] FileError),
    /// Only one of the client certificate and its key.
    #[error("`client_certificate` and `client_key` are given together")]
    HalfClientCertificate,
    /// The key is not the client certificate's, or of a kind rustls cannot sign with.
    #[error("`client_key` is not a usable private key of `client_certificate`")]
    ClientKeyMismatch,
    /// Not a DNS name or an IP address.
    #[error("`server_name` `{0}` is not a domain name or an IP address")]
    BadServerName(String),
}

/// How one upstream's backends are reached over TLS.
#[derive(Clone, Default)]
pub struct UpstreamTls {
    /// Authorities replacing the system's roots.
    ca: Option<Arc<[WrappedX509]>>,
    /// The SNI and verified name, when not each target's host.
    server_name: Option<String>,
    /// Off only with `insecure_skip_verify`.
    skip_verify: bool,
    /// What the gateway presents when a backend asks.
    client_certificate: Option<Arc<CertKey>>,
    /// Pingora pools connections by address, server name, client certificate and verification
    /// flags, not by CA: a connection verified against one upstream's CA would be reused for
    /// another naming the same backend with a different CA. This hash of the CA bundle keeps
    /// their pools apart.
    pool_key: u64,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("private_ca", &self.ca.is_some())
            .field("server_name", &self.server_name)
            .field("skip_verify", &self.skip_verify)
            .field("client_certificate", &self.client_certificate.is_some())
            .finish()
    }
}

impl UpstreamTls {
    /// Read `file` (paths relative to `base`); `name` is the upstream's, for the log.
    pub fn compile(
        file: &UpstreamTlsFile,
        base: &Path,
        name: &str,
    ) -> Result<Self, UpstreamTlsError> {
        let mut pool_key = std::hash::DefaultHasher::new();
        let ca = match &file.ca {
            Some(ca) => {
                let authorities = files::certificates(&base.join(ca.get_ref()))?;
                authorities.hash(&mut pool_key);
                let wrapped: Vec<WrappedX509> = authorities
                    .into_iter()
                    .map(|der| WrappedX509::new(der.to_vec(), parse_x509))
                    .collect();
                Some(Arc::from(wrapped))
            }
            None => None,
        };
        let client_certificate = match (&file.client_certificate, &file.client_key) {
            (Some(certificate), Some(key)) => {
                let chain = files::certificates(&base.join(certificate.get_ref()))?;
                let key = files::private_key(&base.join(key.get_ref()))?;
                let signing = rustls::crypto::ring::sign::any_supported_type(&key)
                    .map_err(|_| UpstreamTlsError::ClientKeyMismatch)?;
                rustls::sign::CertifiedKey::new(chain.clone(), signing)
                    .keys_match()
                    .map_err(|_| UpstreamTlsError::ClientKeyMismatch)?;
                let chain = chain.into_iter().map(|der| der.to_vec()).collect();
                Some(Arc::new(CertKey::new(chain, key.secret_der().to_vec())))
            }
            (None, None) => None,
            _ => return Err(UpstreamTlsError::HalfClientCertificate),
        };
        if let Some(name) = &file.server_name {
            let name = name.get_ref();
            if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
                return Err(UpstreamTlsError::BadServerName(name.clone()));
            }
        }
        if file.insecure_skip_verify {
            log::warn!(
                "upstream `{name}`: insecure_skip_verify is set: its backends' certificates are \
                 not verified"
            );
        }
        Ok(Self {
            ca,
            server_name: file.server_name.as_ref().map(|n| n.get_ref().clone()),
            skip_verify: file.insecure_skip_verify,
            client_certificate,
            pool_key: pool_key.finish(),
        })
    }

    /// The configured server name: sent as SNI, verified, and the `Host` backends see.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// A TLS peer for `peer`'s address, named `host` unless a server name is configured.
    pub fn apply(&self, peer: &mut HttpPeer, host: &str) {
        peer.scheme = pingora::upstreams::peer::Scheme::HTTPS;
        peer.sni = self.server_name.as_deref().unwrap_or(host).to_string();
        peer.options.verify_cert = !self.skip_verify;
        peer.options.verify_hostname = !self.skip_verify;
        peer.options.ca = self.ca.clone();
        peer.client_cert_key = self.client_certificate.clone();
        peer.group_key = self.pool_key;
    }
}
