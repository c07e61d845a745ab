//! Compiling `[server.tls]` and `[domains]` into a [`Transport`]: every file read and checked
//! at load, each mistake located.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::HeaderName;
use rustls::pki_types::ServerName;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use toml::Spanned;

use super::certs::{self, CertificateError};
use super::files;
use super::{Domain, Mtls, Transport, TRANSPORTS};
use crate::config::{ConfigFile, Diagnostics, DomainFile, MtlsFile, Named, TlsFile};

/// Compile `[server.tls]` and `[domains]`, reading every file they name (relative to `base`).
pub fn compile(
    tls: Option<&TlsFile>,
    domains: &[Named<DomainFile>],
    base: &Path,
    diags: &mut Diagnostics,
) -> Transport {
    let mut transport = Transport {
        id: TRANSPORTS.fetch_add(1, Ordering::Relaxed),
        ..Transport::default()
    };
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
        if transport.domains.contains_key(&name) {
            let message = format!("`{name}` is already a domain (names are not case-sensitive)");
            diags.error(Some(domain.name.span()), &domain.path, message);
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
            compile_mtls(mtls, &key, base, diags)
        });
        if let Some(header) = mtls.as_ref().and_then(|m| m.forward_header.clone()) {
            transport.forward_headers.push(header);
        }
        transport.asks_client_certs |= mtls.is_some();
        let compiled = Domain {
            name: name.clone(),
            certificate,
            mtls,
        };
        transport.domains.insert(name, Arc::new(compiled));
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
    !host.contains('*')
        && !host.ends_with('.')
        && matches!(ServerName::try_from(host), Ok(ServerName::DnsName(_)))
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
        .map_err(|e| {
            let (span, field) = match e {
                CertificateError::Key { .. } | CertificateError::KeyFile(_) => (key.span(), "key"),
                _ => (certificate.span(), "certificate"),
            };
            diags.error(Some(span), &format!("{path}.{field}"), e)
        })
        .ok()
}

/// A domain's `mtls`: its verifier over its truststore and CRL.
fn compile_mtls(mtls: &MtlsFile, key: &str, base: &Path, diags: &mut Diagnostics) -> Option<Mtls> {
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
    }
    let revoked = match &mtls.crl {
        Some(crl) => files::revocation_lists(&base.join(crl.get_ref()))
            .map_err(|e| diags.error(Some(crl.span()), &format!("{key}.crl"), e))
            .ok()?,
        None => Vec::new(),
    };
    let verifier = verifier(roots, revoked)
        .map_err(|e| {
            let message = format!("client certificate verifier: {e}");
            diags.error(Some(mtls.truststore.span()), key, message)
        })
        .ok()?;
    let forward_header = match &mtls.forward_header {
        Some(header) => {
            let name = HeaderName::from_bytes(header.get_ref().as_bytes()).ok();
            let framing = |name: &HeaderName| {
                crate::edge::HOP_BY_HOP.contains(&name.as_str())
                    || [http::header::HOST, http::header::CONTENT_LENGTH].contains(name)
            };
            match name {
                Some(name) if !framing(&name) => Some(name),
                _ => {
                    let message = format!(
                        "`{}` is not a header name a certificate can be sent in (not `host`, \
                         framing or hop-by-hop headers)",
                        header.get_ref()
                    );
                    diags.error(
                        Some(header.span()),
                        &format!("{key}.forward_header"),
                        message,
                    );
                    return None;
                }
            }
        }
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
) -> Result<Arc<dyn ClientCertVerifier>, rustls::server::VerifierBuilderError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .with_crls(revoked)
        .only_check_end_entity_revocation()
        .allow_unknown_revocation_status()
        .build()
}
