//! The process's life: `check` with several mistakes, graceful SIGTERM, SIGINT, the admin endpoints,
//! metrics and the access log.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{check, client, Backend, Gateway};

#[test]
fn check_reports_three_mistakes_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        r#"[server]
listen = ["127.0.0.1:8080"]

[apis.shop]
type = "rest"
colour = "blue"

[apis.shop.stages.prod]

[apis.shop.routes."GET /pets/{id}"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:9/pets/{petId}" }

[apis.shop.routes."FETCH /toys"]
integration = { type = "mock" }
"#,
    )
    .unwrap();
    let (passed, stderr) = check(&path);
    assert!(!passed);
    let file = path.display().to_string();
    for (line, key, words) in [
        (6, "apis.shop", "unknown field `colour`"),
        (
            11,
            "apis.shop.routes.\"GET /pets/{id}\".integration.uri",
            "{petId}",
        ),
        (
            13,
            "apis.shop.routes.\"FETCH /toys\"",
            "unknown method `FETCH`",
        ),
    ] {
        let found = stderr.lines().any(|l| {
            l.starts_with(&format!("{file}:{line}:")) && l.contains(key) && l.contains(words)
        });
        assert!(found, "no error for line {line} ({words}) in:\n{stderr}");
    }
    assert!(stderr.contains("3 error(s)"), "{stderr}");

    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart.toml");
    let (passed, stderr) = check(&quickstart);
    assert!(passed, "{stderr}");
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_then_exits() {
    let backend = Backend::start("slow").await;
    let mut gateway = Gateway::start(&format!(
        r#"
[apis.d]
type = "http"
[apis.d.stages.prod]
[apis.d.routes."GET /slow"]
integration = {{ type = "http_proxy", uri = "http://{}/slow" }}
"#,
        backend.addr
    ))
    .await;
    let url = format!("{}/prod/slow?sleep_ms=1500", gateway.url);
    let in_flight: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { client().get(url).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    while backend.hits() < 4 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let readyz = client()
        .get(format!("{}/readyz", gateway.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 200);
    gateway
        .metrics_containing("wasmgate_requests_in_flight 4")
        .await;
    let signalled = Instant::now();
    gateway.signal("TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let draining = client()
        .get(format!("{}/readyz", gateway.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(draining.status(), 503);
    for request in in_flight {
        assert_eq!(request.await.unwrap().unwrap(), 200);
    }
    let status = tokio::task::spawn_blocking(move || gateway.wait_exit(Duration::from_secs(5)))
        .await
        .unwrap()
        .expect("gateway exited after draining");
    assert!(status.success(), "{status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "took {:?}",
        signalled.elapsed()
    );
}

/// SIGINT stops the gateway at once, on per-thread runtimes (the default) as on the
/// work-stealing one. Regression: on per-thread runtimes a listener's accept loop may run on
/// another thread than the runtime its socket is registered with; pingora's quick shutdown
/// stopped that runtime first, and the loop then spun on "context being shut down" errors
/// (gigabytes of log) and the process never exited. One start in three hung.
#[tokio::test]
async fn sigint_stops_at_once_on_either_runtime() {
    let config = r#"
[apis.s]
type = "http"
[apis.s.stages.prod]
[apis.s.routes."GET /x"]
integration = { type = "mock", body = "x" }
"#;
    for work_stealing in [false, false, false, false, false, false, true, true] {
        let server = format!("work_stealing = {work_stealing}");
        let mut gateway = Gateway::start_with(
            config,
            crate::support::Extra {
                server: &server,
                ..Default::default()
            },
        )
        .await;
        let response = client()
            .get(format!("{}/prod/x", gateway.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        gateway.signal("INT");
        let exited = tokio::task::spawn_blocking(move || gateway.wait_exit(Duration::from_secs(5)))
            .await
            .unwrap();
        assert!(
            exited.is_some(),
            "work_stealing = {work_stealing}: still running 5 s after SIGINT"
        );
    }
}

#[tokio::test]
async fn admin_endpoints_metrics_and_access_log() {
    let gateway = Gateway::start(
        r#"
[apis.obs]
type = "http"
[apis.obs.stages.prod]
[apis.obs.routes."GET /ping"]
integration = { type = "mock", body = "pong" }
"#,
    )
    .await;
    let client = client();
    let response = client
        .get(format!("{}/prod/ping", gateway.url))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(response.text().await.unwrap(), "pong");
    for (path, status) in [("/healthz", 200), ("/readyz", 200), ("/nope", 404)] {
        let response = client
            .get(format!("{}{path}", gateway.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
    }
    let wrong_method = client
        .get(format!("{}/admin/reload", gateway.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    let counter =
        r#"wasmgate_requests_total{api="obs",route="GET /ping",stage="prod",status="200"} 1"#;
    let metrics = gateway.metrics_containing(counter).await;
    assert!(
        metrics.contains("wasmgate_request_duration_seconds_bucket{api=\"obs\""),
        "{metrics}"
    );
    let line = gateway
        .access_log_line(|line| line["requestId"] == request_id.as_str())
        .await;
    assert_eq!(line["status"], 200);
    assert_eq!(line["apiId"], "obs");
    assert_eq!(line["stage"], "prod");
    assert_eq!(line["routeKey"], "GET /ping");
    assert_eq!(line["path"], "/prod/ping");
    assert_eq!(line["responseLength"], 4);
}

#[test]
fn version_and_help() {
    let version = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("wasmgate "));
    for args in [&["--help"][..], &["serve", "--help"], &["check", "--help"]] {
        let help = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
            .args(args)
            .output()
            .unwrap();
        assert!(help.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&help.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}
