//! TLS end to end: certificates chosen by SNI (domains, a wildcard, the default), rotation on
//! file change, 421 when SNI and `Host` disagree, mutual TLS per domain (and the ways around it
//! an outside tester found), the HTTPS redirect listener, HTTP/2 over TLS and h2c, and HTTPS backends (private CA, wrong CA, skipped
//! verification, client certificates, HTTP/2).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use rustls::HandshakeKind;
use serde_json::Value;

use crate::support::{free_port, plugin_path, raw_exchange, Backend, Extra, Gateway};
use crate::tls_support::*;

/// The test PKI, written as files into a directory of its own.
pub(crate) struct Pki {
    dir: tempfile::TempDir,
    ca: Authority,
    other_ca: Authority,
    api: Issued,
    other: Issued,
    wild: Issued,
    default: Issued,
    secure: Issued,
    client: Issued,
    expired: Issued,
    revoked: Issued,
    foreign: Issued,
}

impl Pki {
    pub(crate) fn new() -> Self {
        let ca = Authority::new("wasmgate test CA");
        let other_ca = Authority::new("another CA");
        let pki = Pki {
            dir: tempfile::tempdir().expect("cert dir"),
            api: ca.server(&["api.test"], 10),
            other: ca.server(&["other.test"], 11),
            wild: ca.server(&["*.wild.test"], 12),
            default: ca.server(&["localhost", "127.0.0.1"], 13),
            secure: ca.server(&["secure.test"], 14),
            client: ca.client("good client", 20, false),
            expired: ca.client("expired client", 21, true),
            revoked: ca.client("revoked client", 22, false),
            foreign: other_ca.client("foreign client", 23, false),
            ca,
            other_ca,
        };
        let dir = pki.dir.path();
        for (name, issued) in [
            ("api", &pki.api),
            ("other", &pki.other),
            ("wild", &pki.wild),
            ("default", &pki.default),
            ("secure", &pki.secure),
        ] {
            write_pair(dir, name, issued);
        }
        std::fs::write(dir.join("ca.pem"), &pki.ca.pem).expect("CA file");
        std::fs::write(dir.join("other-ca.pem"), &pki.other_ca.pem).expect("CA file");
        std::fs::write(dir.join("crl.pem"), pki.ca.crl(&[22])).expect("CRL file");
        pki
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// What most TLS tests start from: a fresh PKI, a backend, and a [`tls_gateway`] in front of it
/// on free ports.
pub(crate) struct TlsSite {
    pub(crate) pki: Pki,
    pub(crate) backend: Backend,
    pub(crate) port: u16,
    pub(crate) redirect: u16,
    pub(crate) gateway: Gateway,
}

impl TlsSite {
    pub(crate) async fn start() -> Self {
        let pki = Pki::new();
        let backend = Backend::start("b").await;
        let (port, redirect) = (free_port(), free_port());
        let gateway = tls_gateway(&pki, backend.addr, port, redirect).await;
        Self {
            pki,
            backend,
            port,
            redirect,
            gateway,
        }
    }
}

/// A gateway with TLS on `tls_port`, the redirect on `redirect_port`, four domains (one with
/// mutual TLS) and one catch-all route to `backend` through a header transformer that shows
/// the scheme and the client certificate's subject.
async fn tls_gateway(pki: &Pki, backend: SocketAddr, tls_port: u16, redirect_port: u16) -> Gateway {
    let server = format!(
        r#"[server.tls]
listen = ["127.0.0.1:{tls_port}"]
certificate = "{default}.pem"
key = "{default}.key"
redirect_listen = ["127.0.0.1:{redirect_port}"]
"#,
        default = pki.path("default"),
    );
    let config = format!(
        r#"
[domains."api.test"]
certificate = "{api}.pem"
key = "{api}.key"

[domains."other.test"]
certificate = "{other}.pem"
key = "{other}.key"

[domains."*.wild.test"]
certificate = "{wild}.pem"
key = "{wild}.key"

[domains."secure.test"]
certificate = "{secure}.pem"
key = "{secure}.key"
mtls = {{ truststore = "{ca}", crl = "{crl}", forward_header = "x-client-cert" }}

[plugins.headers]
path = "{headers}"
config = {{ request = {{ set = {{ "x-subject" = "$client-cert.subject", "x-scheme" = "$scheme" }} }} }}

[apis.site]
type = "http"
[apis.site.stages."$default"]
[apis.site.routes."ANY /{{proxy+}}"]
plugins = ["headers"]
integration = {{ type = "http_proxy", uri = "http://{backend}/{{proxy}}" }}
"#,
        api = pki.path("api"),
        other = pki.path("other"),
        wild = pki.path("wild"),
        secure = pki.path("secure"),
        ca = pki.path("ca.pem"),
        crl = pki.path("crl.pem"),
        headers = plugin_path("header_transformer").display(),
    );
    Gateway::start_with(
        &config,
        Extra {
            server: &server,
            ..Extra::default()
        },
    )
    .await
}

fn tls_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[tokio::test]
async fn sni_picks_the_certificate_and_the_host_must_match_it() {
    let site = TlsSite::start().await;
    let (pki, port) = (&site.pki, site.port);
    let config = client_config(&pki.ca.pem, None, &[b"http/1.1"]);
    for (name, expected) in [
        ("api.test", &pki.api),
        ("other.test", &pki.other),
        ("deep.wild.test", &pki.wild),
        ("unknown.test", &pki.default),
        ("127.0.0.1", &pki.default),
    ] {
        let stream = connect(tls_addr(port), name, config.clone()).await;
        match stream {
            Ok(stream) => assert!(served_certificate(&stream) == expected.der, "{name}"),
            // The default certificate does not cover `unknown.test`: the client refuses it.
            Err(e) => assert_eq!(name, "unknown.test", "{name}: {e}"),
        }
    }

    let mut stream = connect(tls_addr(port), "api.test", config.clone())
        .await
        .unwrap();
    let (status, body) = get(&mut stream, "api.test", "/hello").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let echoed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echoed["headers"]["x-forwarded-proto"], "https");
    assert_eq!(echoed["headers"]["x-scheme"], "https");
    assert_eq!(echoed["headers"]["x-subject"], "");

    // Domain fronting: a connection for api.test asking for other.test.
    let (status, body) = get(&mut stream, "other.test", "/hello").await.unwrap();
    assert_eq!(status, 421, "{body}");
    let refused: Value = serde_json::from_str(&body).unwrap();
    assert!(
        refused["message"].as_str().unwrap().contains("api.test"),
        "{refused}"
    );
    // `Host` with a port and in capitals is the same host.
    let (status, _) = get(&mut stream, "API.test:443", "/hello").await.unwrap();
    assert_eq!(status, 200);
}

/// Each worker thread accepts on listeners of its own (`[server] threads = 2` here): a client's
/// next connection, accepted by either, resumes its session.
#[tokio::test]
async fn a_client_resumes_its_tls_session_whichever_worker_accepts_it() {
    let site = TlsSite::start().await;
    let (pki, port) = (&site.pki, site.port);
    let config = client_config(&pki.ca.pem, None, &[b"http/1.1"]);
    let mut kinds = Vec::new();
    for _ in 0..12 {
        let mut stream = connect(tls_addr(port), "api.test", config.clone())
            .await
            .unwrap();
        // The response also carries the session tickets the client keeps.
        assert_eq!(get(&mut stream, "api.test", "/a").await.unwrap().0, 200);
        kinds.push(stream.get_ref().1.handshake_kind());
    }
    assert_eq!(kinds[0], Some(HandshakeKind::Full));
    assert!(
        kinds[1..]
            .iter()
            .all(|k| *k == Some(HandshakeKind::Resumed)),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_rotated_certificate_reaches_new_connections_while_open_ones_keep_working() {
    let site = TlsSite::start().await;
    let (pki, port) = (&site.pki, site.port);
    let config = client_config(&pki.ca.pem, None, &[b"http/1.1"]);
    let mut open = connect(tls_addr(port), "api.test", config.clone())
        .await
        .unwrap();
    assert_eq!(get(&mut open, "api.test", "/a").await.unwrap().0, 200);

    let renewed = pki.ca.server(&["api.test"], 99);
    write_pair(pki.dir.path(), "api", &renewed);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let fresh = connect(tls_addr(port), "api.test", config.clone())
            .await
            .unwrap();
        if served_certificate(&fresh) == renewed.der {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(get(&mut open, "api.test", "/b").await.unwrap().0, 200);
}

#[tokio::test]
async fn mutual_tls_admits_verified_clients_and_refuses_the_rest() {
    let site = TlsSite::start().await;
    let (pki, backend, port, gateway) = (&site.pki, &site.backend, site.port, &site.gateway);

    let config = client_config(&pki.ca.pem, Some(&pki.client), &[b"http/1.1"]);
    let mut stream = connect(tls_addr(port), "secure.test", config)
        .await
        .unwrap();
    let (status, body) = get(&mut stream, "secure.test", "/who").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let echoed: Value = serde_json::from_str(&body).unwrap();
    let subject = echoed["headers"]["x-subject"].as_str().unwrap();
    assert!(subject.contains("CN=good client"), "{subject}");
    let forwarded = echoed["headers"]["x-client-cert"].as_str().unwrap();
    assert!(
        forwarded.starts_with("-----BEGIN%20CERTIFICATE-----%0A"),
        "{forwarded}"
    );
    let line = gateway.access_log_line(|line| line["path"] == "/who").await;
    assert!(
        line["clientCertSubjectDN"]
            .as_str()
            .unwrap()
            .contains("good client"),
        "{line}"
    );
    assert_eq!(line["clientCertSerialNumber"], "14");
    assert_eq!(line["scheme"], "https");

    for (who, identity) in [
        ("expired", &pki.expired),
        ("revoked", &pki.revoked),
        ("from another CA", &pki.foreign),
    ] {
        // The handshake proves the key; the domain's truststore and CRL refuse the chain.
        let config = client_config(&pki.ca.pem, Some(identity), &[b"http/1.1"]);
        let mut stream = connect(tls_addr(port), "secure.test", config)
            .await
            .unwrap();
        let answered = get(&mut stream, "secure.test", "/who").await;
        assert_eq!(answered.map(|(status, _)| status), Some(403), "{who}");
    }

    let config = client_config(&pki.ca.pem, None, &[b"http/1.1"]);
    let mut stream = connect(tls_addr(port), "secure.test", config.clone())
        .await
        .unwrap();
    let (status, body) = get(&mut stream, "secure.test", "/who").await.unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("client certificate"), "{body}");

    // Without SNI, `Host: secure.test` does not get around the domain's mutual TLS.
    let mut stream = connect(tls_addr(port), "127.0.0.1", config).await.unwrap();
    assert_eq!(
        get(&mut stream, "secure.test", "/who").await.unwrap().0,
        403
    );
    assert_eq!(
        backend.seen().iter().filter(|s| s.target == "/who").count(),
        1
    );
}

#[tokio::test]
async fn the_redirect_listener_sends_plaintext_to_https() {
    let site = TlsSite::start().await;
    let (backend, port, redirect, gateway) =
        (&site.backend, site.port, site.redirect, &site.gateway);
    let reply = raw_exchange(
        &format!("http://127.0.0.1:{redirect}"),
        b"GET /pets?id=7 HTTP/1.1\r\nhost: api.test\r\nconnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let responses = reply.responses();
    assert!(responses[0].0.contains(" 308 "), "{responses:?}");
    assert!(
        responses[0]
            .0
            .to_ascii_lowercase()
            .contains(&format!("location: https://api.test:{port}/pets?id=7")),
        "{responses:?}"
    );
    // The other plaintext listener still serves.
    let plain = crate::support::client()
        .get(format!("{}/x", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    let echoed: Value = plain.json().await.unwrap();
    assert_eq!(echoed["headers"]["x-forwarded-proto"], "http");
    assert_eq!(backend.hits(), 1);
}

#[tokio::test]
async fn http2_over_tls_and_in_cleartext_serve_like_http1() {
    let pki = Pki::new();
    let backend = Backend::start("b").await;
    let port = free_port();
    let server = format!(
        r#"max_request_body_bytes = 1000
[server.http2]
cleartext = true
max_concurrent_streams = 16
[server.tls]
listen = ["127.0.0.1:{port}"]
certificate = "{default}.pem"
key = "{default}.key"
"#,
        default = pki.path("api"),
    );
    let config = format!(
        r#"
[plugins.headers]
path = "{headers}"
config = {{ response = {{ set = {{ "x-powered-by" = "wasmgate" }} }} }}

[apis.site]
type = "http"
[apis.site.cors]
allow_origins = ["https://app.test"]
[apis.site.stages."$default"]
[apis.site.routes."ANY /pets/{{proxy+}}"]
plugins = ["headers"]
integration = {{ type = "http_proxy", uri = "http://{backend}/{{proxy}}" }}
"#,
        backend = backend.addr,
        headers = plugin_path("header_transformer").display(),
    );
    let gateway = Gateway::start_with(
        &config,
        Extra {
            server: &server,
            ..Extra::default()
        },
    )
    .await;
    let tls = https_client(&pki.ca.pem, &["api.test"], tls_addr(port));
    let cleartext = reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .build()
        .unwrap();
    for (client, base, scheme) in [
        (&tls, format!("https://api.test:{port}"), "https"),
        (&cleartext, gateway.url.clone(), "http"),
    ] {
        let response = client
            .get(format!("{base}/pets/7"))
            .header("origin", "https://app.test")
            .send()
            .await
            .unwrap();
        assert_eq!(response.version(), reqwest::Version::HTTP_2, "{base}");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-powered-by"], "wasmgate", "{base}");
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "https://app.test"
        );
        let echoed: Value = response.json().await.unwrap();
        assert_eq!(echoed["path"], "/7");
        assert_eq!(echoed["headers"]["x-forwarded-proto"], scheme);

        let missing = client.get(format!("{base}/nope")).send().await.unwrap();
        assert_eq!(missing.status(), 404);
        let body: Value = missing.json().await.unwrap();
        assert_eq!(body["message"], "Not Found");

        let large = client
            .post(format!("{base}/pets/big"))
            .body(vec![b'x'; 5000])
            .send()
            .await
            .unwrap();
        assert_eq!(large.status(), 413, "{base}");

        // Over `limits.max_header_bytes` (10 KiB): 431 as over HTTP/1.1, or the stream refused
        // by the advertised header list size; never passed on.
        let huge = client
            .get(format!("{base}/pets/huge"))
            .header("x-huge", "h".repeat(12_000))
            .send()
            .await;
        if let Ok(huge) = huge {
            assert_eq!(huge.status(), 431, "{base}");
        }
    }
    assert!(backend.seen().iter().all(|s| s.target != "/huge"));
    let line = gateway
        .access_log_line(|line| line["path"] == "/pets/7" && line["scheme"] == "https")
        .await;
    assert_eq!(line["protocol"], "HTTP/2.0");
    assert_eq!(line["tlsVersion"], "TLSv1_3");
}

/// A gateway whose routes reach the backends through the upstream (or URI) each names.
async fn backend_gateway(upstreams: &str, routes: &[(&str, String)]) -> Gateway {
    let mut config =
        format!("{upstreams}\n[apis.b]\ntype = \"http\"\n[apis.b.stages.\"$default\"]\n");
    for (path, uri) in routes {
        config.push_str(&format!(
            "[apis.b.routes.\"GET {path}\"]\nintegration = {{ type = \"http_proxy\", uri = \"{uri}\", timeout_ms = 3000 }}\n"
        ));
    }
    Gateway::start(&config).await
}

#[tokio::test]
async fn https_backends_are_verified_and_can_ask_for_the_gateways_certificate() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let server = pki.ca.server(&["backend.test"], 30);
    let plain = Backend::start_tls("tls", backend_config(&server, None)).await;
    let strict = Backend::start_tls("mtls", backend_config(&server, Some(&pki.ca.pem))).await;
    let gateway_identity = pki.ca.client("gateway", 31, false);
    write_pair(dir, "gateway", &gateway_identity);
    let p = |name: &str| pki.path(name);
    let upstreams = format!(
        r#"
[upstreams.verified]
targets = ["{plain}"]
tls = {{ ca = "{ca}", server_name = "backend.test" }}
[upstreams.wrong_ca]
targets = ["{plain}"]
tls = {{ ca = "{other_ca}", server_name = "backend.test" }}
[upstreams.wrong_name]
targets = ["{plain}"]
tls = {{ ca = "{ca}", server_name = "elsewhere.test" }}
[upstreams.insecure]
targets = ["{plain}"]
tls = {{ insecure_skip_verify = true }}
[upstreams.h2]
targets = ["{plain}"]
http2 = true
tls = {{ ca = "{ca}", server_name = "backend.test" }}
[upstreams.with_identity]
targets = ["{strict}"]
tls = {{ ca = "{ca}", server_name = "backend.test", client_certificate = "{gw}.pem", client_key = "{gw}.key" }}
[upstreams.without_identity]
targets = ["{strict}"]
tls = {{ ca = "{ca}", server_name = "backend.test" }}
"#,
        plain = plain.addr,
        strict = strict.addr,
        ca = p("ca.pem"),
        other_ca = p("other-ca.pem"),
        gw = p("gateway"),
    );
    let routes = [
        ("/verified", "https://verified/v".to_string()),
        ("/wrong-ca", "https://wrong_ca/v".to_string()),
        ("/wrong-name", "https://wrong_name/v".to_string()),
        ("/insecure", "https://insecure/v".to_string()),
        ("/h2", "https://h2/v".to_string()),
        ("/system-roots", format!("https://{}/v", plain.addr)),
        ("/with-identity", "https://with_identity/v".to_string()),
        (
            "/without-identity",
            "https://without_identity/v".to_string(),
        ),
    ];
    let gateway = backend_gateway(&upstreams, &routes).await;
    let client = crate::support::client();
    for (path, expected, version) in [
        ("/verified", 200, "HTTP/1.1"),
        ("/wrong-ca", 502, ""),
        ("/wrong-name", 502, ""),
        ("/insecure", 200, "HTTP/1.1"),
        ("/h2", 200, "HTTP/2.0"),
        ("/system-roots", 502, ""),
        ("/with-identity", 200, "HTTP/1.1"),
        ("/without-identity", 502, ""),
    ] {
        let response = client
            .get(format!("{}{path}", gateway.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{path}");
        let body: Value = response.json().await.unwrap();
        if expected == 200 {
            assert_eq!(body["version"], version, "{path}: {body}");
        } else {
            assert!(body["message"].is_string(), "{path}: {body}");
        }
    }
}

#[test]
fn tls_settings_are_checked_at_load() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    write_pair(dir, "mismatch", &pki.api);
    std::fs::write(dir.join("mismatch.key"), &pki.other.key_pem).unwrap();
    std::fs::write(dir.join("garbage.pem"), "not a certificate").unwrap();
    let p = |name: &str| pki.path(name);
    let config = format!(
        r#"[server.tls]
listen = ["127.0.0.1:1"]
certificate = "{mismatch}.pem"
key = "{mismatch}.key"

[domains."api.test"]
certificate = "{other}.pem"
key = "{other}.key"

[domains."half.test"]
certificate = "{api}.pem"

[domains."garbage.test"]
certificate = "{garbage}"
key = "{api}.key"

[domains."not a name"]

[domains."mtls.test"]
mtls = {{ truststore = "{garbage}" }}

[domains."ocsp.test"]
certificate = "{api}.pem"
key = "{api}.key"
ocsp = "{garbage}"

[domains."Twice.test"]
[domains."twice.test"]
[domains."dot.test."]

[domains."fwd.test"]
certificate = "{api}.pem"
key = "{api}.key"
mtls = {{ truststore = "{ca}", forward_header = "content-length" }}

[upstreams.u]
targets = ["127.0.0.1:1"]
tls = {{ client_certificate = "{api}.pem" }}

[upstreams.v]
targets = ["127.0.0.1:1"]
tls = {{ server_name = "bad name!" }}

[upstreams.w]
targets = ["127.0.0.1:1"]
tls = {{ client_certificate = "{api}.pem", client_key = "{other}.key" }}

[apis.mixed]
type = "http"
[apis.mixed.stages.prod]
hosts = ["strict.test", "plain.test"]

[domains."strict.test"]
mtls = {{ truststore = "{ca}" }}
"#,
        mismatch = p("mismatch"),
        other = p("other"),
        api = p("api"),
        garbage = p("garbage.pem"),
        ca = p("ca.pem"),
    );
    let path = write_config(dir, &config);
    let (ok, output) = crate::support::check(&path);
    assert!(!ok, "{output}");
    for expected in [
        "is not the private key of the certificate",
        "does not cover `api.test`",
        "`certificate` and `key` are given together",
        "holds no PEM certificate",
        "is not a domain name",
        "`client_certificate` and `client_key` are given together",
        "`twice.test` is already a domain",
        "is not a successful DER OCSP response",
        "`dot.test.` is not a domain name",
        "`content-length` is not a header name a certificate can be sent in",
        "`server_name` `bad name!` is not a domain name",
        "`client_key` is not a usable private key of `client_certificate`",
        "either all require mutual TLS or none does",
    ] {
        assert!(
            output.contains(expected),
            "missing `{expected}` in:\n{output}"
        );
    }
    assert!(
        output.contains("gateway.toml:3:15: server.tls.certificate"),
        "{output}"
    );
}

fn write_config(dir: &Path, config: &str) -> std::path::PathBuf {
    let path = dir.join("gateway.toml");
    std::fs::write(&path, config).unwrap();
    path
}

#[tokio::test]
async fn plugins_call_https_urls_verified_against_the_system_roots() {
    let pki = Pki::new();
    let server = pki.ca.server(&["127.0.0.1"], 40);
    let backend = Backend::start_tls("tls", backend_config(&server, None)).await;
    let config = format!(
        r#"
[plugins.caller]
path = "{}"
timeout_ms = 2000
allowed_hosts = ["{b}"]

[apis.h]
type = "http"
[apis.h.stages.prod]
[apis.h.routes."GET /guarded"]
plugins = ["caller"]
integration = {{ type = "mock", status = 200 }}
"#,
        plugin_path("hostile").display(),
        b = backend.addr
    );
    let ca = pki.path("ca.pem");
    let trusting = Gateway::start_with_env(&config, &[("SSL_CERT_FILE", ca.as_str())]).await;
    let default_roots = Gateway::start(&config).await;
    let target = format!("https://{}/introspect", backend.addr);
    for (gateway, principal) in [(&trusting, "http-200"), (&default_roots, "failed")] {
        let response = crate::support::client()
            .get(format!("{}/prod/guarded", gateway.url))
            .header("x-attack", "http")
            .header("x-target", &target)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let line = gateway
            .access_log_line(|line| line["path"] == "/prod/guarded")
            .await;
        assert_eq!(line["principalId"], principal, "{line}");
    }
    assert_eq!(backend.hits(), 1);
}

/// The outside tester's ways around mutual TLS, each refused: the stage behind an mTLS domain
/// by its path prefix on another host or in plaintext, the domain's `Host` in plaintext, a
/// forged forwarded-certificate header, another CA's certificate taken as an identity, and a
/// certificate revoked while its connection stays open.
#[tokio::test]
async fn mutual_tls_has_no_way_around_it() {
    let pki = Pki::new();
    let backend = Backend::start("b").await;
    let port = free_port();
    let server = format!(
        r#"[server.tls]
listen = ["127.0.0.1:{port}"]
certificate = "{default}.pem"
key = "{default}.key"
"#,
        default = pki.path("default"),
    );
    let config = format!(
        r#"
[domains."api.test"]
certificate = "{api}.pem"
key = "{api}.key"

[domains."secure.test"]
certificate = "{secure}.pem"
key = "{secure}.key"
mtls = {{ truststore = "{ca}", crl = "{crl}", forward_header = "x-client-cert" }}

[plugins.headers]
path = "{headers}"
config = {{ request = {{ set = {{ "x-subject" = "$client-cert.subject" }} }} }}

[apis.vault]
type = "http"
[apis.vault.stages.prod]
hosts = ["secure.test"]
[apis.vault.routes."GET /secret"]
plugins = ["headers"]
integration = {{ type = "http_proxy", uri = "http://{backend}/secret" }}

[apis.site]
type = "http"
[apis.site.stages.pub]
[apis.site.routes."ANY /{{proxy+}}"]
plugins = ["headers"]
integration = {{ type = "http_proxy", uri = "http://{backend}/{{proxy}}" }}
"#,
        api = pki.path("api"),
        secure = pki.path("secure"),
        ca = pki.path("ca.pem"),
        crl = pki.path("crl.pem"),
        headers = plugin_path("header_transformer").display(),
        backend = backend.addr,
    );
    let gateway = Gateway::start_with(
        &config,
        Extra {
            server: &server,
            ..Extra::default()
        },
    )
    .await;
    let plain = crate::support::client();
    // The vault stage is not served by its path prefix anywhere.
    let by_path = plain
        .get(format!("{}/prod/secret", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(by_path.status(), 404);
    let public = client_config(&pki.ca.pem, None, &[b"http/1.1"]);
    let mut stream = connect(tls_addr(port), "api.test", public.clone())
        .await
        .unwrap();
    assert_eq!(
        get(&mut stream, "api.test", "/prod/secret")
            .await
            .unwrap()
            .0,
        404
    );
    // Its domain's Host in plaintext.
    let in_plaintext = plain
        .get(format!("{}/secret", gateway.url))
        .header("host", "secure.test")
        .send()
        .await
        .unwrap();
    assert_eq!(in_plaintext.status(), 403);
    // A client's own forwarded-certificate header never reaches a backend.
    let forged = plain
        .get(format!("{}/pub/x", gateway.url))
        .header("x-client-cert", "FORGED")
        .send()
        .await
        .unwrap();
    let echoed: Value = forged.json().await.unwrap();
    assert!(echoed["headers"].get("x-client-cert").is_none(), "{echoed}");
    // Another CA's certificate on a public domain: the handshake works, and it is nobody.
    let rogue = client_config(&pki.ca.pem, Some(&pki.foreign), &[b"http/1.1"]);
    let mut stream = connect(tls_addr(port), "api.test", rogue).await.unwrap();
    let (status, body) = get(&mut stream, "api.test", "/pub/who").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let echoed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echoed["headers"]["x-subject"], "", "{echoed}");

    // Revoked while connected: the open connection is refused after the reload.
    let good = client_config(&pki.ca.pem, Some(&pki.client), &[b"http/1.1"]);
    let mut open = connect(tls_addr(port), "secure.test", good.clone())
        .await
        .unwrap();
    let (status, body) = get(&mut open, "secure.test", "/secret").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let echoed: Value = serde_json::from_str(&body).unwrap();
    assert!(echoed["headers"]["x-subject"]
        .as_str()
        .unwrap()
        .contains("good client"));
    std::fs::write(pki.dir.path().join("crl.pem"), pki.ca.crl(&[20, 22])).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut fresh = connect(tls_addr(port), "secure.test", good.clone())
            .await
            .unwrap();
        if get(&mut fresh, "secure.test", "/secret").await.unwrap().0 == 403 {
            break;
        }
        assert!(Instant::now() < deadline, "the new CRL was never applied");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        get(&mut open, "secure.test", "/secret").await.unwrap().0,
        403
    );
}

#[tokio::test]
async fn redirects_carry_only_a_well_formed_host() {
    let site = TlsSite::start().await;
    let (port, redirect) = (site.port, site.redirect);
    for host in [
        "evil.com/x",
        "a b",
        "evil.com?x",
        "evil.com#x",
        "evil.com\\x",
    ] {
        let request = format!("GET /a HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
        let reply = raw_exchange(
            &format!("http://127.0.0.1:{redirect}"),
            request.as_bytes(),
            Duration::from_secs(5),
        )
        .await;
        let responses = reply.responses();
        assert!(
            responses[0].0.starts_with("HTTP/1.1 400"),
            "{host}: {responses:?}"
        );
        assert!(
            !responses[0].0.to_ascii_lowercase().contains("location"),
            "{host}"
        );
    }
    let reply = raw_exchange(
        &format!("http://127.0.0.1:{redirect}"),
        b"GET /a HTTP/1.1\r\nhost: [::1]:80\r\nconnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let head = reply.responses()[0].0.to_ascii_lowercase();
    assert!(
        head.contains(&format!("location: https://[::1]:{port}/a")),
        "{head}"
    );
}

#[tokio::test]
async fn a_reload_cannot_take_the_certificates_from_running_tls_listeners() {
    let site = TlsSite::start().await;
    let (pki, port, gateway) = (&site.pki, site.port, &site.gateway);
    let config = std::fs::read_to_string(&gateway.config_path).unwrap();
    let start = config.find("[server.tls]").unwrap();
    let end = config.find("[admin]").unwrap();
    let without_tls =
        format!("{}{}", &config[..start], &config[end..]).replace("[domains.", "[unused_domains.");
    let domains_removed: String = without_tls
        .split("\n[")
        .filter(|table| !table.starts_with("unused_domains."))
        .collect::<Vec<_>>()
        .join("\n[");
    std::fs::write(&gateway.config_path, &domains_removed).unwrap();
    let (status, body) = gateway.reload().await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string()
            .contains("TLS listeners run until a restart"),
        "{body}"
    );
    let config = client_config(&pki.ca.pem, None, &[b"http/1.1"]);
    let mut stream = connect(tls_addr(port), "api.test", config).await.unwrap();
    assert_eq!(get(&mut stream, "api.test", "/x").await.unwrap().0, 200);
}
