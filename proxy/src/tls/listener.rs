//! The hooks a TLS listener is built with. Pingora builds a listener's rustls config once, at
//! start; each hook here reads the serving snapshot's [`Transport`] when it runs, so a reload
//! (new certificates, a changed truststore) is seen by the next handshake while connections
//! already open keep theirs.

use std::sync::Arc;

use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{TlsAccept, ALPN};
use pingora::protocols::tls::TlsRef;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{
    ClientHello, ResolvesServerCert, ServerSessionMemoryCache, StoresServerSessions,
};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::connection::{ClientCert, ConnectionTls};
use super::Transport;

/// Where the hooks find the serving transport.
pub type TransportSource = Arc<dyn Fn() -> Arc<Transport> + Send + Sync>;

/// TLS sessions a client may resume, shared by every TLS listener of the gateway: each worker
/// thread has listeners of its own on the same addresses (`server`), and the next connection
/// of a client may be accepted by any of them.
pub type SessionCache = Arc<dyn StoresServerSessions + Send + Sync>;

/// A session cache of rustls's default size (256 sessions).
pub fn session_cache() -> SessionCache {
    ServerSessionMemoryCache::new(256)
}

/// The settings of a TLS listener serving `source`'s certificates, resuming the sessions in
/// `sessions`, offering HTTP/2 by ALPN when `http2`.
pub fn listener_settings(
    source: TransportSource,
    sessions: SessionCache,
    http2: bool,
) -> TlsSettings {
    let mut settings = TlsSettings::with_callbacks(Box::new(Handshake(source.clone())))
        .expect("TLS settings with callbacks are infallible");
    settings.set_cert_resolver(Arc::new(Certificates(source.clone())));
    settings.set_client_cert_verifier(Arc::new(ClientAuth(source)));
    settings.set_alpn(if http2 { ALPN::H2H1 } else { ALPN::H1 });
    settings.set_server_config_hook(move |config| config.session_storage = sessions);
    settings
}

/// Picks the certificate by server name.
struct Certificates(TransportSource);

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Certificates")
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase);
        let certificate = (self.0)().certificate_for(name.as_deref());
        if certificate.is_none() {
            log::debug!("TLS handshake for {name:?}: no certificate covers it and no default");
        }
        certificate
    }
}

/// Asks for a client certificate when some domain has mutual TLS, checking at the handshake
/// only that the client holds its key: which domain's truststore (and CRL) it satisfies is
/// decided at the end of the handshake for the SNI domain, and per request after a reload
/// (`Transport::client_cert`). A certificate no domain trusts is then a 403 on mTLS domains
/// and ignored on the others, where it must not break the handshake.
struct ClientAuth(TransportSource);

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientAuth")
    }
}

fn algorithms() -> rustls::crypto::WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

impl ClientCertVerifier for ClientAuth {
    fn offer_client_auth(&self) -> bool {
        (self.0)().asks_client_certs
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        algorithms().supported_schemes()
    }
}

/// Records what requests need to know about the connection once the handshake is done.
struct Handshake(TransportSource);

#[async_trait]
impl TlsAccept for Handshake {
    async fn handshake_complete_callback(
        &self,
        tls: &TlsRef,
    ) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        let server_name = tls.server_name().map(str::to_ascii_lowercase);
        let chain = tls.peer_cert_chain_der().unwrap_or_default();
        let mut connection = ConnectionTls {
            version: tls.version().unwrap_or_default(),
            cipher: tls.current_cipher_name().unwrap_or_default(),
            server_name,
            ..ConnectionTls::default()
        };
        if let Some((leaf, intermediates)) = chain.split_first() {
            connection.client_cert = ClientCert::parse(leaf).map(Arc::new);
            let transport = (self.0)();
            connection.verified_with = transport.id().into();
            let domain = connection
                .server_name
                .as_deref()
                .and_then(|name| transport.domain(name));
            if let Some(domain) = domain {
                let verified = domain.mtls.as_ref().is_some_and(|mtls| {
                    mtls.verifier
                        .verify_client_cert(leaf, intermediates, UnixTime::now())
                        .is_ok()
                });
                if verified {
                    connection.verified_for = Some(domain.name.clone());
                }
            }
            connection.chain = chain.to_vec();
        }
        Some(Arc::new(connection))
    }
}
