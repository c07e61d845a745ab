//! Plugins' answers are bounded: a plugin that floods headers or header bytes, returns invalid
//! names, values, framing headers, statuses, paths, queries or methods, or oversized bodies,
//! principals, contexts or messages gets its failure mode — quickly, in the gateway's JSON —
//! and nothing of it reaches the backend or the client; the gateway keeps serving.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{client, plugin_path, Backend, Gateway};

/// Every attack of the flood plugin and the status a closed failure answers with.
const ATTACKS: &[(&str, u16)] = &[
    ("authorize-principal", 403),
    ("authorize-crlf-principal", 403),
    ("authorize-context", 403),
    ("authorize-respond-headers", 403),
    ("authorize-respond-status", 403),
    ("authorize-respond-switch", 403),
    ("authorize-respond-body", 403),
    ("validate-message", 500),
    ("request-headers", 500),
    ("request-header-bytes", 500),
    ("request-bad-name", 500),
    ("request-crlf-value", 500),
    ("request-content-length", 500),
    ("request-transfer-encoding", 500),
    ("request-expect", 500),
    ("request-removes", 500),
    ("request-path-crlf", 500),
    ("request-path-long", 500),
    ("request-path-dots", 500),
    ("request-query-crlf", 500),
    ("request-query-long", 500),
    ("request-method-long", 500),
    ("request-method-space", 500),
    ("request-method-connect", 500),
    ("request-body", 500),
    ("request-respond-headers", 500),
    ("request-respond-status", 500),
    ("response-headers", 500),
    ("response-header-bytes", 500),
    ("response-bad-name", 500),
    ("response-crlf-value", 500),
    ("response-content-length", 500),
    ("response-transfer-encoding", 500),
    ("response-removes", 500),
    ("response-status", 500),
    ("response-status-informational", 500),
    ("response-status-no-content", 500),
    ("response-status-not-modified", 500),
    ("response-body", 500),
];

/// One flood plugin entry and one route per attack, failing `mode`, in front of `backend`.
fn config(mode: &str, backend: &Backend) -> String {
    let path = plugin_path("flood");
    let mut config = String::new();
    for (attack, _) in ATTACKS {
        config.push_str(&format!(
            r#"
[plugins.{attack}]
path = "{}"
memory_mb = 256
failure_mode = "{mode}"
config = {{ attack = "{attack}" }}
"#,
            path.display()
        ));
    }
    config.push_str("\n[apis.f]\ntype = \"http\"\n[apis.f.stages.s]\n");
    for (attack, _) in ATTACKS {
        config.push_str(&format!(
            r#"
[apis.f.routes."POST /{attack}"]
plugins = ["{attack}"]
integration = {{ type = "http_proxy", uri = "http://{}/{attack}" }}
"#,
            backend.addr
        ));
    }
    config
}

/// `POST /s/<attack>` with a small body.
async fn attack_route(gateway: &Gateway, attack: &str) -> reqwest::Response {
    client()
        .post(format!("{}/s/{attack}", gateway.url))
        .body("payload")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{attack}: no answer: {e}"))
}

#[tokio::test]
async fn flooding_answers_fail_closed_quickly_and_reach_nobody() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&config("closed", &backend)).await;
    for &(attack, status) in ATTACKS {
        let started = Instant::now();
        let response = attack_route(&gateway, attack).await;
        let elapsed = started.elapsed();
        assert_eq!(response.status(), status, "{attack}");
        assert!(
            response.headers().len() < 20,
            "{attack}: {} headers reached the client",
            response.headers().len()
        );
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{attack}: not JSON: {e}"));
        assert!(body["message"].is_string(), "{attack}: {body}");
        assert!(
            elapsed < Duration::from_secs(3),
            "{attack} took {elapsed:?}"
        );
    }
    let reached: Vec<String> = backend
        .seen()
        .into_iter()
        .map(|seen| seen.target)
        .filter(|target| !target.starts_with("/response-"))
        .collect();
    assert!(reached.is_empty(), "reached the backend: {reached:?}");
    gateway
        .metrics_containing(
            r#"outcome="invalid",phase="request-transformer",plugin="request-headers""#,
        )
        .await;
}

#[tokio::test]
async fn failing_open_ignores_the_flood_and_forwards_the_request_unchanged() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&config("open", &backend)).await;
    for &(attack, _) in ATTACKS {
        let response = attack_route(&gateway, attack).await;
        assert_eq!(response.status(), 200, "{attack}");
        let echo: Value = response.json().await.unwrap();
        assert_eq!(echo["path"], format!("/{attack}"), "{attack}");
        assert_eq!(echo["method"], "POST", "{attack}");
        assert_eq!(echo["body"], "payload", "{attack}");
        let headers = echo["headers"].as_object().unwrap();
        assert!(
            !headers
                .keys()
                .any(|name| name.starts_with("x-flood") || name == "x-huge" || name == "x-split"),
            "{attack}: {headers:?}"
        );
    }
}
