//! The transport against real tools from outside the project: sslyze (PyPI) scans the TLS
//! listener, grpcio (PyPI) calls a gRPC server through the gateway over h2c and over TLS, and
//! curl speaks HTTP/2 to it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::{free_port, test_python, Backend, Extra, Gateway};
use crate::tls::{Pki, TlsSite};

const GRPC_ECHO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/grpc_echo.py");

#[tokio::test]
async fn sslyze_finds_no_old_protocols_weak_suites_or_insecure_renegotiation() {
    let site = TlsSite::start().await;
    let port = site.port;
    let target = format!("127.0.0.1:{port}");
    let scan = tokio::task::spawn_blocking(move || {
        Command::new(test_python())
            .args(["-m", "sslyze", "--json_out=-", "--sni", "api.test"])
            .args([
                "--sslv2",
                "--sslv3",
                "--tlsv1",
                "--tlsv1_1",
                "--tlsv1_2",
                "--tlsv1_3",
            ])
            .args([
                "--reneg",
                "--compression",
                "--heartbleed",
                "--openssl_ccs",
                "--fallback",
            ])
            .arg(target)
            .output()
            .expect("run sslyze")
    })
    .await
    .unwrap();
    let report: Value = serde_json::from_slice(&scan.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&scan.stderr));
    });
    let server = &report["server_scan_results"][0];
    assert_eq!(server["scan_status"], "COMPLETED", "{server}");
    let result = &server["scan_result"];
    let accepted = |protocol: &str| -> Vec<String> {
        let scan = &result[protocol];
        assert_eq!(scan["status"], "COMPLETED", "{protocol}: {scan}");
        scan["result"]["accepted_cipher_suites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|suite| suite["cipher_suite"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    for old in [
        "ssl_2_0_cipher_suites",
        "ssl_3_0_cipher_suites",
        "tls_1_0_cipher_suites",
        "tls_1_1_cipher_suites",
    ] {
        assert!(accepted(old).is_empty(), "{old}: {:?}", accepted(old));
    }
    let tls12 = accepted("tls_1_2_cipher_suites");
    assert!(!tls12.is_empty());
    for suite in &tls12 {
        let forward_secret_aead = suite.contains("_ECDHE_")
            && (suite.contains("_GCM_") || suite.contains("CHACHA20_POLY1305"));
        assert!(forward_secret_aead, "weak TLS 1.2 suite accepted: {suite}");
    }
    assert!(!accepted("tls_1_3_cipher_suites").is_empty());
    let renegotiation = &result["session_renegotiation"]["result"];
    assert_eq!(
        renegotiation["is_vulnerable_to_client_renegotiation_dos"],
        false
    );
    assert_eq!(
        result["tls_compression"]["result"]["supports_compression"],
        false
    );
    assert_eq!(
        result["heartbleed"]["result"]["is_vulnerable_to_heartbleed"],
        false
    );
    assert_eq!(
        result["openssl_ccs_injection"]["result"]["is_vulnerable_to_ccs_injection"],
        false
    );
    assert_eq!(
        result["tls_fallback_scsv"]["result"]["supports_fallback_scsv"],
        true
    );
}

/// A gRPC echo server (grpcio), killed when dropped.
struct GrpcServer(Child);

impl GrpcServer {
    fn start(port: u16) -> Self {
        let mut child = Command::new(test_python())
            .args([GRPC_ECHO, "serve", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the gRPC server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("ready line");
        assert_eq!(line.trim(), "ready");
        Self(child)
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn grpc_call(args: Vec<String>) -> Value {
    let output = Command::new(test_python())
        .arg(GRPC_ECHO)
        .arg("call")
        .args(args)
        .output()
        .expect("run the gRPC client");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("client JSON")
}

#[tokio::test]
async fn grpc_passes_through_over_h2c_and_tls() {
    let pki = Pki::new();
    let grpc_port = free_port();
    let _grpc = tokio::task::spawn_blocking(move || GrpcServer::start(grpc_port))
        .await
        .unwrap();
    let tls_port = free_port();
    let server = format!(
        r#"[server.http2]
cleartext = true
[server.tls]
listen = ["127.0.0.1:{tls_port}"]
certificate = "{api}.pem"
key = "{api}.key"
"#,
        api = pki.path("api"),
    );
    let config = format!(
        r#"
[upstreams.grpc]
targets = ["127.0.0.1:{grpc_port}"]
http2 = true

[apis.g]
type = "http"
[apis.g.stages."$default"]
[apis.g.routes."POST /echo.Echo/{{method}}"]
integration = {{ type = "http_proxy", uri = "http://grpc/echo.Echo/{{method}}", timeout_ms = 5000 }}
"#
    );
    let gateway = Gateway::start_with(
        &config,
        Extra {
            server: &server,
            ..Extra::default()
        },
    )
    .await;
    let cleartext = gateway.url.trim_start_matches("http://").to_string();
    let over_tls = vec![
        format!("127.0.0.1:{tls_port}"),
        pki.path("ca.pem"),
        "api.test".to_string(),
    ];
    for args in [vec![cleartext], over_tls] {
        let result = tokio::task::spawn_blocking(move || grpc_call(args))
            .await
            .unwrap();
        assert_eq!(result["say"], "echo:hello", "{result}");
        assert_eq!(result["trailer"], "kept", "{result}");
        assert_eq!(result["fail"], "NOT_FOUND", "{result}");
        assert_eq!(result["fail_details"], "no such thing", "{result}");
    }
}

#[tokio::test]
async fn curl_speaks_http2_to_both_listeners() {
    let pki = Pki::new();
    let backend = Backend::start("b").await;
    let tls_port = free_port();
    let server = format!(
        r#"[server.http2]
cleartext = true
[server.tls]
listen = ["127.0.0.1:{tls_port}"]
certificate = "{api}.pem"
key = "{api}.key"
"#,
        api = pki.path("api"),
    );
    let config = format!(
        r#"
[apis.c]
type = "http"
[apis.c.stages."$default"]
[apis.c.routes."GET /{{proxy+}}"]
integration = {{ type = "http_proxy", uri = "http://{backend}/{{proxy}}" }}
"#,
        backend = backend.addr
    );
    let gateway = Gateway::start_with(
        &config,
        Extra {
            server: &server,
            ..Extra::default()
        },
    )
    .await;
    let resolve = format!("api.test:{tls_port}:127.0.0.1");
    let https = format!("https://api.test:{tls_port}/x");
    let ca = pki.path("ca.pem");
    let h2c = format!("{}/x", gateway.url);
    let runs = [
        vec!["--http2", "--cacert", &ca, "--resolve", &resolve, &https],
        vec!["--http2-prior-knowledge", &h2c],
    ];
    for args in runs {
        let args: Vec<String> = args.into_iter().map(str::to_string).collect();
        let run = args.clone();
        // The backend runs on this test's runtime: curl must not block it.
        let output = tokio::task::spawn_blocking(move || {
            Command::new("curl")
                .args([
                    "-sS",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_version} %{http_code}",
                ])
                .args(&run)
                .output()
                .expect("run curl (scripts/setup.sh installs it)")
        })
        .await
        .unwrap();
        let written = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            written,
            "2 200",
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(backend.hits(), 2);

    // h2load: 200 requests on 4 connections, 4 streams each, over TLS (ALPN) and h2c.
    for url in [format!("https://127.0.0.1:{tls_port}/x"), h2c] {
        let run = url.clone();
        let output = tokio::task::spawn_blocking(move || {
            Command::new("h2load")
                .args(["-n", "200", "-c", "4", "-m", "4", &run])
                .output()
                .expect("run h2load (scripts/setup.sh installs it)")
        })
        .await
        .unwrap();
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(
            report.contains("Application protocol: h2"),
            "{url}: {report}"
        );
        assert!(report.contains("status codes: 200 2xx"), "{url}: {report}");
    }
    assert_eq!(backend.hits(), 402);
}
