//! TLS with rustls (pingora's `rustls` feature, ring provider): the downstream side compiled
//! from `[server.tls]` and `[domains]` into a [`Transport`] each snapshot carries (certificates
//! by server name, mutual TLS per domain), the listener hooks that read the serving snapshot's
//! transport at every handshake (`listener`), what a connection tells its requests
//! (`connection`), and HTTPS to backends (`upstream`).

mod certs;
mod connection;
mod files;
mod listener;
mod upstream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use http::HeaderName;
use rustls::pki_types::ServerName;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use toml::Spanned;

use crate::config::{ConfigFile, Diagnostics, DomainFile, MtlsFile, Named, TlsFile};

pub use certs::CertificateError;
pub use connection::{ClientCert, ConnectionTls};
pub use files::FileError;
pub use listener::{listener_settings, TransportSource};
pub use upstream::{UpstreamTls, UpstreamTlsError};

/// The downstream TLS of one snapshot: what certificate each server name gets, and which
/// domains require client certificates.
#[derive(Default)]
pub struct Transport {
    default_certificate: Option<Arc<CertifiedKey>>,
    /// By lower-case name: exact names and `*.suffix` wildcards.
    domains: HashMap<String, Arc<Domain>>,
    /// Verifies client certificates against every domain's truststore at the handshake, when
    /// some domain has mutual TLS; each request then checks its own domain's.
    any_client_auth: Option<Arc<dyn ClientCertVerifier>>,
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
    /// Whether there are no custom domains.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
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

    /// Whether `host` needs a client certificate and `tls` lacks one its domain verified.
    pub fn lacks_client_cert(&self, host: Option<&str>, tls: Option<&ConnectionTls>) -> bool {
        let Some(domain) = host.and_then(|host| self.domain(host)) else {
            return false;
        };
        domain.mtls.is_some()
            && tls.and_then(|t| t.verified_for.as_deref()) != Some(domain.name.as_str())
    }
}

/// Compile `[server.tls]` and `[domains]`, reading every file they name (relative to `base`).
pub fn compile(
    tls: Option<&TlsFile>,
    domains: &[Named<DomainFile>],
    base: &Path,
    diags: &mut Diagnostics,
) -> Transport {
    let mut transport = Transport::default();
    if let Some(tls) = tls {
        transport.default_certificate = served_certificate(
            &tls.certificate,
            &tls.key,
            &tls.ocsp,
            None,
            "server.tls",
            base,
            diags,
        );
        transport.https_port = tls
            .listen
            .first()
            .and_then(|address| address.get_ref().parse::<SocketAddr>().ok())
            .map(|address| address.port());
        transport.redirect_listen = tls
            .redirect_listen
            .iter()
            .filter_map(|address| address.get_ref().parse().ok())
            .collect();
    } else if !domains.is_empty() {
        diags.error(
            domains.first().map(|d| d.name.span()),
            "domains",
            "custom domains are served over TLS: add `[server.tls]` with its `listen` addresses",
        );
    }
    let mut roots = RootCertStore::empty();
    let mut revoked = Vec::new();
    for domain in domains {
        let name = domain.name.get_ref().to_ascii_lowercase();
        if !is_domain_name(&name) {
            diags.error(
                Some(domain.name.span()),
                &domain.path,
                format!("`{name}` is not a domain name (`api.example.com` or `*.example.com`)"),
            );
            continue;
        }
        let file = &domain.value;
        let certificate = served_certificate(
            &file.certificate,
            &file.key,
            &file.ocsp,
            Some(&name),
            &domain.path,
            base,
            diags,
        );
        let mtls = file.mtls.as_ref().and_then(|mtls| {
            let key = format!("{}.mtls", domain.path);
            compile_mtls(mtls, &key, base, &mut roots, &mut revoked, diags)
        });
        let compiled = Domain {
            name: name.clone(),
            certificate,
            mtls,
        };
        transport.domains.insert(name, Arc::new(compiled));
    }
    if !roots.is_empty() {
        transport.any_client_auth = verifier(roots, revoked, true)
            .map_err(|e| diags.error(None, "domains", e))
            .ok();
    }
    transport
}

/// Every certificate, key, truststore, CRL and OCSP file the config names, relative to `base`:
/// watched, so that a rotated certificate is served without a reload by hand.
pub fn files_named(file: &ConfigFile, base: &Path) -> Vec<std::path::PathBuf> {
    let server = file
        .server
        .tls
        .iter()
        .flat_map(|tls| [&tls.certificate, &tls.key, &tls.ocsp]);
    let domains = file.domains.iter().flat_map(|domain| {
        let d = &domain.value;
        let mtls = d.mtls.as_ref();
        [
            d.certificate.clone(),
            d.key.clone(),
            d.ocsp.clone(),
            mtls.map(|m| m.truststore.clone()),
            mtls.and_then(|m| m.crl.clone()),
        ]
    });
    let upstreams = file
        .upstreams
        .iter()
        .filter_map(|u| u.value.tls.as_ref())
        .flat_map(|t| {
            [
                t.ca.clone(),
                t.client_certificate.clone(),
                t.client_key.clone(),
            ]
        });
    server
        .cloned()
        .chain(domains)
        .chain(upstreams)
        .flatten()
        .map(|path| base.join(path.get_ref()))
        .collect()
}

fn is_domain_name(name: &str) -> bool {
    let host = name.strip_prefix("*.").unwrap_or(name);
    !host.contains('*') && matches!(ServerName::try_from(host), Ok(ServerName::DnsName(_)))
}

/// A certificate and key given together (or neither), read and checked.
fn served_certificate(
    certificate: &Option<Spanned<String>>,
    key: &Option<Spanned<String>>,
    ocsp: &Option<Spanned<String>>,
    name: Option<&str>,
    path: &str,
    base: &Path,
    diags: &mut Diagnostics,
) -> Option<Arc<CertifiedKey>> {
    let (certificate, key) = match (certificate, key) {
        (Some(certificate), Some(key)) => (certificate, key),
        (None, None) => return None,
        (Some(given), None) | (None, Some(given)) => {
            diags.error(
                Some(given.span()),
                path,
                "`certificate` and `key` are given together",
            );
            return None;
        }
    };
    let certificate_path = base.join(certificate.get_ref());
    let ocsp_path = ocsp.as_ref().map(|o| base.join(o.get_ref()));
    let loaded = certs::certified_key(
        &certificate_path,
        &base.join(key.get_ref()),
        ocsp_path.as_deref(),
    )
    .and_then(|loaded| match (name, loaded.cert.first()) {
        (Some(name), Some(leaf)) if !certs::covers(leaf, name) => {
            Err(CertificateError::NotCovering {
                certificate: certificate_path.display().to_string(),
                name: name.to_string(),
            })
        }
        _ => Ok(loaded),
    });
    loaded
        .map_err(|e| diags.error(Some(certificate.span()), &format!("{path}.certificate"), e))
        .ok()
}

/// A domain's `mtls`: its verifier, with its CAs and CRLs also added to the listener's.
fn compile_mtls(
    mtls: &MtlsFile,
    key: &str,
    base: &Path,
    all_roots: &mut RootCertStore,
    all_revoked: &mut Vec<rustls::pki_types::CertificateRevocationListDer<'static>>,
    diags: &mut Diagnostics,
) -> Option<Mtls> {
    let truststore = base.join(mtls.truststore.get_ref());
    let authorities = files::certificates(&truststore)
        .map_err(|e| {
            diags.error(
                Some(mtls.truststore.span()),
                &format!("{key}.truststore"),
                e,
            )
        })
        .ok()?;
    let mut roots = RootCertStore::empty();
    for authority in &authorities {
        if let Err(e) = roots.add(authority.clone()) {
            let message = format!(
                "`{}`: not a usable CA certificate: {e}",
                truststore.display()
            );
            diags.error(
                Some(mtls.truststore.span()),
                &format!("{key}.truststore"),
                message,
            );
            return None;
        }
        let _ = all_roots.add(authority.clone());
    }
    let revoked = match &mtls.crl {
        Some(crl) => files::revocation_lists(&base.join(crl.get_ref()))
            .map_err(|e| diags.error(Some(crl.span()), &format!("{key}.crl"), e))
            .ok()?,
        None => Vec::new(),
    };
    all_revoked.extend(revoked.iter().cloned());
    let verifier = verifier(roots, revoked, false)
        .map_err(|e| {
            let message = format!("client certificate verifier: {e}");
            diags.error(Some(mtls.truststore.span()), key, message)
        })
        .ok()?;
    let forward_header = match &mtls.forward_header {
        Some(header) => Some(
            HeaderName::from_bytes(header.get_ref().as_bytes())
                .map_err(|_| {
                    let message = format!("`{}` is not a header name", header.get_ref());
                    diags.error(
                        Some(header.span()),
                        &format!("{key}.forward_header"),
                        message,
                    )
                })
                .ok()?,
        ),
        None => None,
    };
    Some(Mtls {
        verifier,
        forward_header,
    })
}

/// A client certificate verifier over `roots` checking the leaf against `revoked`.
fn verifier(
    roots: RootCertStore,
    revoked: Vec<rustls::pki_types::CertificateRevocationListDer<'static>>,
    allow_none: bool,
) -> Result<Arc<dyn ClientCertVerifier>, rustls::server::VerifierBuilderError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .with_crls(revoked)
        .only_check_end_entity_revocation()
        .allow_unknown_revocation_status();
    if allow_none {
        builder = builder.allow_unauthenticated();
    }
    builder.build()
}
