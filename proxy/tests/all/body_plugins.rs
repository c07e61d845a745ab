//! Plugins that need whole bodies: the gateway reads the body (size-capped), runs them, and
//! drives the backend exchange itself; other routes keep streaming.

use serde_json::{json, Value};

use crate::support::{client, plugin_path, Backend, Gateway};

fn config(backend: &Backend) -> String {
    format!(
        r#"
[plugins.accounts]
path = "{}"
config = {{ field = "account", allow = ["acme"] }}
memory_mb = 64
timeout_ms = 3000

[plugins.shape]
path = "{}"
config = {{ required = {{ name = "string", age = "integer" }} }}

[plugins.redact]
path = "{}"
config = {{ fields = ["headers", "password", "ssn"] }}

[apis.b]
type = "http"
max_request_body_bytes = 6000000
[apis.b.stages.prod]
[apis.b.routes."POST /upload"]
plugins = ["accounts"]
integration = {{ type = "http_proxy", uri = "http://{b}/upload" }}
[apis.b.routes."POST /people"]
plugins = ["shape"]
integration = {{ type = "http_proxy", uri = "http://{b}/people" }}
[apis.b.routes."GET /echo"]
plugins = ["redact"]
integration = {{ type = "http_proxy", uri = "http://{b}/echo" }}
[apis.b.routes."GET /user"]
plugins = ["redact"]
integration = {{ type = "mock", headers = {{ "content-type" = "application/json" }}, body = '{{"user": "ada", "password": "x", "items": [{{"ssn": "1", "id": 2}}]}}' }}
"#,
        plugin_path("body_authorizer").display(),
        plugin_path("body_validator").display(),
        plugin_path("json_redactor").display(),
        b = backend.addr
    )
}

fn big_json(account: &str, bytes: usize) -> Vec<u8> {
    let padding = "x".repeat(bytes);
    serde_json::to_vec(&json!({ "account": account, "blob": padding })).unwrap()
}

#[tokio::test]
async fn a_body_aware_authorizer_decides_on_a_5mb_json_body() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&config(&backend)).await;
    let client = client();
    let url = format!("{}/prod/upload", gateway.url);

    let body = big_json("acme", 5 << 20);
    let allowed = client.post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(allowed.headers().contains_key("x-request-id"));
    let echo: Value = allowed.json().await.unwrap();
    assert_eq!(
        echo["body_len"],
        body.len(),
        "the backend got the whole body"
    );
    assert_eq!(echo["headers"]["content-length"], body.len().to_string());

    let refused = client
        .post(&url)
        .body(big_json("evil", 5 << 20))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let missing = client
        .post(&url)
        .body(r#"{"other": 1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    let not_json = client.post(&url).body("nope").send().await.unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(
        backend.hits(),
        1,
        "only the allowed request reached the backend"
    );

    let too_big = client
        .post(&url)
        .body(big_json("acme", 6 << 20))
        .send()
        .await;
    match too_big {
        Ok(response) => assert_eq!(response.status(), 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
}

#[tokio::test]
async fn a_body_validator_rejects_with_its_message() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&config(&backend)).await;
    let client = client();
    let url = format!("{}/prod/people", gateway.url);
    let cases = [
        (json!({"name": "ada", "age": 36}), 200, None),
        (
            json!({"nickname": "x"}),
            400,
            Some("Invalid request body: missing [age, name]"),
        ),
        (
            json!({"name": "ada", "age": "old"}),
            400,
            Some("Invalid request body: `age` must be integer"),
        ),
        (
            json!([1, 2]),
            400,
            Some("Invalid request body: expected a JSON object"),
        ),
    ];
    for (body, status, message) in cases {
        let response = client.post(&url).json(&body).send().await.unwrap();
        assert_eq!(response.status(), status, "{body}");
        let reply: Value = response.json().await.unwrap();
        if let Some(message) = message {
            assert_eq!(reply["message"], message, "{body}");
        } else {
            assert_eq!(reply["body"], body.to_string());
        }
    }
}

#[tokio::test]
async fn a_json_redactor_removes_fields_from_backend_and_mock_bodies() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&config(&backend)).await;
    let client = client();

    let echoed = client
        .get(format!("{}/prod/echo?q=1", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.status(), 200);
    let length: usize = echoed.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let text = echoed.text().await.unwrap();
    assert_eq!(text.len(), length);
    let echo: Value = serde_json::from_str(&text).unwrap();
    assert!(echo.get("headers").is_none(), "{echo}");
    assert_eq!(echo["path"], "/echo");
    assert_eq!(echo["query"], "q=1");

    let user: Value = client
        .get(format!("{}/prod/user", gateway.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user, json!({"user": "ada", "items": [{"id": 2}]}));
}
