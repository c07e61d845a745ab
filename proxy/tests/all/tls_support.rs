//! TLS test helpers: certificates made at test time (a CA and another, servers for two domains
//! and a wildcard, clients valid, expired, revoked and from the other CA, a CRL), written as PEM
//! files beside a config; a raw TLS client that shows which certificate it was served; and
//! HTTPS clients (HTTP/1.1 and HTTP/2) trusting the test CA.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertificateRevocationListParams,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevocationReason, RevokedCertParams, SerialNumber,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// A certificate authority that signs.
pub struct Authority {
    certificate: rcgen::Certificate,
    key: KeyPair,
    /// Its certificate in PEM.
    pub pem: String,
}

/// A certificate and its key, in PEM and DER.
#[derive(Clone)]
pub struct Issued {
    /// The certificate in PEM.
    pub pem: String,
    /// Its key in PEM.
    pub key_pem: String,
    /// The certificate in DER.
    pub der: Vec<u8>,
}

impl Authority {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::new()).expect("CA params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, "wasmgate tests");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let certificate = params.self_signed(&key).expect("CA certificate");
        Self {
            pem: certificate.pem(),
            certificate,
            key,
        }
    }

    fn issue(
        &self,
        names: &[&str],
        common_name: &str,
        usage: ExtendedKeyUsagePurpose,
        serial: u64,
        expired: bool,
    ) -> Issued {
        let key = KeyPair::generate().expect("leaf key");
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "wasmgate tests");
        params.distinguished_name = dn;
        params.extended_key_usages = vec![usage];
        params.serial_number = Some(SerialNumber::from(serial));
        if expired {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        } else {
            params.not_before = date_time_ymd(2024, 1, 1);
            params.not_after = date_time_ymd(2099, 1, 1);
        }
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .expect("leaf");
        Issued {
            pem: certificate.pem(),
            key_pem: key.serialize_pem(),
            der: certificate.der().to_vec(),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str], serial: u64) -> Issued {
        let usage = ExtendedKeyUsagePurpose::ServerAuth;
        self.issue(names, names[0], usage, serial, false)
    }

    /// A client certificate with common name `name`.
    pub fn client(&self, name: &str, serial: u64, expired: bool) -> Issued {
        let usage = ExtendedKeyUsagePurpose::ClientAuth;
        self.issue(&[], name, usage, serial, expired)
    }

    /// A CRL revoking `serials`, in PEM.
    pub fn crl(&self, serials: &[u64]) -> String {
        let params = CertificateRevocationListParams {
            this_update: date_time_ymd(2025, 1, 1),
            next_update: date_time_ymd(2099, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from(*serial),
                    revocation_time: date_time_ymd(2025, 6, 1),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params
            .signed_by(&self.certificate, &self.key)
            .expect("CRL")
            .pem()
            .expect("CRL PEM")
    }
}

/// Write `issued`'s certificate and key as `<name>.pem` and `<name>.key` in `dir`.
pub fn write_pair(dir: &Path, name: &str, issued: &Issued) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert, &issued.pem).expect("write certificate");
    std::fs::write(&key, &issued.key_pem).expect("write key");
    (cert, key)
}

/// A client trusting `ca_pem`, presenting `identity` when asked, offering `alpn`.
pub fn client_config(ca_pem: &str, identity: Option<&Issued>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(der.expect("CA PEM")).expect("CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(issued) => {
            let chain = vec![CertificateDer::from(issued.der.clone())];
            let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Connect to `addr` over TLS asking for `server_name` (an IP address sends no SNI).
pub async fn connect(
    addr: SocketAddr,
    server_name: &str,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(server_name.to_string()).expect("server name");
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut stream = connector.connect(name, tcp).await?;
    // TLS 1.3 servers refuse a client certificate after the client's handshake is done: a
    // round trip shows it.
    stream.flush().await?;
    Ok(stream)
}

/// The DER of the certificate the server presented.
pub fn served_certificate(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    let (_, session) = stream.get_ref();
    session.peer_certificates().expect("server certificate")[0].to_vec()
}

/// Send `GET path` with `Host: host` on `stream` (kept alive) and read the response:
/// (status, body); `None` if the connection ended or failed first.
pub async fn get(
    stream: &mut TlsStream<TcpStream>,
    host: &str,
    path: &str,
) -> Option<(u16, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_string();
            let status = head.split(' ').nth(1)?.parse().ok()?;
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).to_string();
                return Some((status, body));
            }
        }
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .ok()?;
        match read {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An HTTPS client (HTTP/2 by ALPN) trusting `ca_pem`, resolving each of `names` to `addr`.
pub fn https_client(ca_pem: &str, names: &[&str], addr: SocketAddr) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA"));
    for name in names {
        builder = builder.resolve(name, addr);
    }
    builder.build().expect("https client")
}

/// A TLS server config for a backend serving `issued`, asking for a client certificate from
/// `client_ca` when given, offering HTTP/2 and HTTP/1.1.
pub fn backend_config(issued: &Issued, client_ca: Option<&str>) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for der in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(der.expect("CA PEM")).expect("CA");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).expect("key");
    let mut config = builder
        .with_single_cert(vec![CertificateDer::from(issued.der.clone())], key)
        .expect("backend certificate");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}
