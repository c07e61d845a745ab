//! The admin API's bearer token on every endpoint but health: no token, a wrong token, and the
//! path variants (case, percent-encoding, another first segment, dot segments) that once
//! reached the key endpoints without one.

use std::time::Duration;

use crate::support::{client, raw_exchange, Extra, Gateway};

const TOKEN: &str = "admin-token-for-tests-0123456789";

const CONFIG: &str = r#"
[apis.a]
type = "http"
[apis.a.stages.prod]
[apis.a.routes."GET /x"]
integration = { type = "mock" }
[usage_plans.p]
stages = ["a/prod"]
"#;

/// Every protected endpoint: method, path, JSON body.
const PROTECTED: [(&str, &str, &str); 12] = [
    ("GET", "/metrics", ""),
    ("POST", "/admin/reload", ""),
    ("DELETE", "/admin/cache", ""),
    ("GET", "/admin/keys", ""),
    ("POST", "/admin/keys", r#"{"name":"x","plans":["p"]}"#),
    (
        "POST",
        "/admin/keys/import",
        r#"{"keys":[{"name":"y","plans":["p"]}]}"#,
    ),
    ("GET", "/admin/keys/k1", ""),
    ("PATCH", "/admin/keys/k1", r#"{"enabled":false}"#),
    ("DELETE", "/admin/keys/k1", ""),
    ("POST", "/admin/keys/k1/rotate", ""),
    ("GET", "/admin/usage-plans", ""),
    ("GET", "/admin/usage-plans/p/usage", ""),
];

async fn start(admin: &str) -> Gateway {
    let extra = Extra {
        admin,
        env: &[("WASMGATE_TEST_ADMIN_TOKEN", TOKEN)],
        ..Extra::default()
    };
    Gateway::start_with(CONFIG, extra).await
}

/// Send `method path` with `body` and an optional `Authorization` value over a raw socket (so
/// no client library normalises the path): the status.
async fn status_of(
    gateway: &Gateway,
    method: &str,
    path: &str,
    body: &str,
    auth: Option<&str>,
) -> u16 {
    let auth = auth.map_or(String::new(), |value| format!("Authorization: {value}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: admin\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let reply = raw_exchange(&gateway.admin, request.as_bytes(), Duration::from_secs(5)).await;
    let statuses = reply.statuses();
    assert_eq!(statuses.len(), 1, "{method} {path}: {}", reply.text);
    statuses[0]
}

/// Path variants that must never reach an endpoint: another first segment, case, percent
/// encoding, dot segments, doubled and trailing slashes.
fn variants(path: &str) -> Vec<String> {
    let rest = path.trim_start_matches("/admin");
    let mut variants = vec![
        path.to_uppercase(),
        path.replacen("/admin", "/%61dmin", 1),
        path.replacen('a', "%61", 1),
        format!("/x/..{path}"),
        format!("/{path}"),
        format!("{path}/"),
    ];
    if path.starts_with("/admin/") {
        variants.push(format!("/foo{rest}"));
        variants.push(format!("/ADMIN{rest}"));
        variants.push(format!("/admin/.{rest}"));
        variants.push(format!("/admin/x/..{rest}"));
    }
    variants.retain(|variant| variant != path);
    variants
}

#[tokio::test]
async fn every_admin_endpoint_needs_the_token_whatever_its_path_looks_like() {
    let gateway = start(r#"token_env = "WASMGATE_TEST_ADMIN_TOKEN""#).await;
    let bearer = format!("Bearer {TOKEN}");
    for (method, path, body) in PROTECTED {
        assert_eq!(
            status_of(&gateway, method, path, body, None).await,
            401,
            "{method} {path} without a token"
        );
        for wrong in [
            "Bearer not-the-token",
            "Basic YWRtaW46YWRtaW4=",
            "Bearer",
            "",
        ] {
            assert_eq!(
                status_of(&gateway, method, path, body, Some(wrong)).await,
                401,
                "{method} {path} with `{wrong}`"
            );
        }
        for variant in variants(path) {
            assert_eq!(
                status_of(&gateway, method, &variant, body, None).await,
                401,
                "{method} {variant} without a token"
            );
            assert_eq!(
                status_of(&gateway, method, &variant, body, Some(&bearer)).await,
                404,
                "{method} {variant} with the token is no endpoint"
            );
        }
    }
    let keys = client()
        .get(format!("{}/admin/keys", gateway.admin))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let keys: serde_json::Value = keys.json().await.unwrap();
    assert_eq!(
        keys["items"],
        serde_json::json!([]),
        "no variant created a key"
    );
    assert_eq!(
        status_of(
            &gateway,
            "POST",
            "/admin/keys",
            r#"{"name":"x","plans":["p"]}"#,
            Some(&bearer)
        )
        .await,
        201
    );
    let lower_case = format!("bearer {TOKEN}");
    assert_eq!(
        status_of(&gateway, "GET", "/admin/keys", "", Some(&lower_case)).await,
        200,
        "the auth scheme is case-insensitive (RFC 9110)"
    );
    assert_eq!(
        status_of(&gateway, "PUT", "/admin/keys", "", Some(&bearer)).await,
        405
    );
    assert_eq!(
        status_of(&gateway, "PUT", "/admin/keys", "", None).await,
        401
    );
    for open in ["/healthz", "/readyz"] {
        assert_eq!(
            status_of(&gateway, "GET", open, "", None).await,
            200,
            "{open}"
        );
    }
}

#[tokio::test]
async fn the_cli_sends_the_token_and_metrics_can_be_left_open() {
    let gateway = start("token_env = \"WASMGATE_TEST_ADMIN_TOKEN\"\npublic_metrics = true").await;
    assert_eq!(status_of(&gateway, "GET", "/metrics", "", None).await, 200);
    assert_eq!(
        status_of(&gateway, "GET", "/admin/keys", "", None).await,
        401
    );
    let (ok, _, stderr) = gateway.cli(&["keys", "list"]);
    assert!(!ok && stderr.contains("401"), "{stderr}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .args(["keys", "create", "--name", "n", "--plan", "p", "--json"])
        .args(["--admin", &gateway.admin])
        .env("WASMGATE_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn without_a_token_unknown_paths_are_404_json() {
    let gateway = Gateway::start(CONFIG).await;
    for path in [
        "/ADMIN/keys",
        "/foo/keys",
        "/%61dmin/keys",
        "/admin/keys/k1/x",
    ] {
        let answer = client()
            .get(format!("{}{path}", gateway.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 404, "{path}");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["message"], "Not Found");
    }
}

#[tokio::test]
async fn heads_pingora_refuses_get_a_json_400_not_a_silent_close() {
    let gateway = start("token_env = \"WASMGATE_TEST_ADMIN_TOKEN\"").await;
    let admin = gateway.admin.trim_start_matches("http://");
    let refused = [
        format!("GET http://elsewhere.example/healthz HTTP/1.1\r\nHost: {admin}\r\n\r\n"),
        "GET /healthz HTTP/1.1\r\nHost: a\r\nbad header line\r\n\r\n".to_string(),
        "GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
            .to_string(),
    ];
    for request in refused {
        let reply = raw_exchange(&gateway.admin, request.as_bytes(), Duration::from_secs(5)).await;
        assert_eq!(reply.statuses(), vec![400], "{request:?}: {}", reply.text);
        assert!(
            reply.closed,
            "{request:?}: the connection is closed after a refusal"
        );
        let (_, body) = &reply.responses()[0];
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(
            body["message"].as_str().unwrap().starts_with("Bad Request"),
            "{body}"
        );
    }
    // Absolute-form with the listener's own authority is a request like any other: the token
    // still guards the keys.
    let absolute = format!(
        "GET http://{admin}/admin/keys HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"
    );
    let reply = raw_exchange(&gateway.admin, absolute.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(reply.statuses(), vec![401], "{}", reply.text);
    let health = client()
        .get(format!("{}/healthz", gateway.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn the_admin_listener_keeps_the_edge_rules() {
    let gateway = Gateway::start_with(
        CONFIG,
        Extra {
            server: "limits = { head_timeout_ms = 500, max_uri_bytes = 64 }",
            admin: "token_env = \"WASMGATE_TEST_ADMIN_TOKEN\"",
            env: &[("WASMGATE_TEST_ADMIN_TOKEN", TOKEN)],
            ..Extra::default()
        },
    )
    .await;
    let pipelined =
        "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /readyz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let reply = raw_exchange(&gateway.admin, pipelined.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(reply.statuses(), vec![200, 200], "{}", reply.text);
    let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(100));
    let reply = raw_exchange(&gateway.admin, long.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(reply.statuses(), vec![414], "{}", reply.text);
    let no_host = "GET /healthz HTTP/1.1\r\n\r\n";
    let reply = raw_exchange(&gateway.admin, no_host.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(reply.statuses(), vec![400], "{}", reply.text);
    // Half a head, then silence: closed at the deadline, not kept (a pile of these would take
    // the process's file descriptors).
    let started = std::time::Instant::now();
    let reply = raw_exchange(
        &gateway.admin,
        b"GET /healthz HTTP/1.1\r\nHo",
        Duration::from_secs(5),
    )
    .await;
    assert!(reply.closed && reply.text.is_empty(), "{}", reply.text);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        started.elapsed()
    );
}
