//! Request validation through the real gateway: required parameters with AWS's message, bodies
//! against JSON Schema models chosen by content type, details in the access log (and in the
//! answer when the API asks), and model mistakes as config errors.

use serde_json::{json, Value};

use crate::support::{client, Backend, Gateway};

fn config(backend: &Backend, details: bool) -> String {
    format!(
        r#"
[apis.v]
type = "rest"
validation_details = {details}
[apis.v.models.Pet]
schema = {{ type = "object", required = ["name"], properties = {{ name = {{ type = "string" }}, age = {{ type = "integer", minimum = 0 }} }} }}
[apis.v.stages.prod]
[apis.v.routes."POST /pets"]
request_models = {{ "application/json" = "Pet" }}
required_parameters = ["querystring.store", "header.x-tenant"]
integration = {{ type = "http_proxy", uri = "http://{}/pets" }}
"#,
        backend.addr
    )
}

#[tokio::test]
async fn parameters_and_bodies_are_validated_with_aws_messages() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&config(&backend, false)).await;
    let url = format!("{}/prod/pets", gateway.url);
    let send = |query: &str, tenant: Option<&str>, content_type: &str, body: &str| {
        let mut request = client()
            .post(format!("{url}{query}"))
            .header("content-type", content_type)
            .body(body.to_string());
        if let Some(tenant) = tenant {
            request = request.header("x-tenant", tenant);
        }
        request.send()
    };

    let ok = send(
        "?store=1",
        Some("t"),
        "application/json",
        r#"{"name": "Rex", "age": 3}"#,
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.unwrap()["body_len"], 25);

    for (query, tenant, message) in [
        (
            "",
            None,
            "Missing required request parameters: [store, x-tenant]",
        ),
        (
            "?store=1",
            None,
            "Missing required request parameters: [x-tenant]",
        ),
        (
            "?other=1",
            Some("t"),
            "Missing required request parameters: [store]",
        ),
    ] {
        let refused = send(query, tenant, "application/json", "{}").await.unwrap();
        assert_eq!(refused.status(), 400, "{query} {tenant:?}");
        assert_eq!(
            refused.json::<Value>().await.unwrap(),
            json!({ "message": message })
        );
    }

    for body in [
        r#"{"age": 3}"#,
        r#"{"name": "Rex", "age": -1}"#,
        "not json",
        "",
    ] {
        let refused = send(
            "?store=1",
            Some("t"),
            "application/json; charset=utf-8",
            body,
        )
        .await
        .unwrap();
        assert_eq!(refused.status(), 400, "{body}");
        assert_eq!(
            refused.json::<Value>().await.unwrap(),
            json!({ "message": "Invalid request body" }),
            "{body}"
        );
    }
    let line = gateway
        .access_log_line(|line| {
            line["validationError"]
                .as_str()
                .is_some_and(|e| e.contains("/age") && e.contains("minimum"))
        })
        .await;
    assert_eq!(line["errorType"], "BAD_REQUEST_BODY");

    // No model for this content type (and no `$default` model): only the parameters count.
    let plain = send("?store=1", Some("t"), "text/plain", "anything")
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(
        backend.hits(),
        2,
        "refused requests never reach the backend"
    );
}

#[tokio::test]
async fn details_go_into_the_answer_when_the_api_asks() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&config(&backend, true)).await;
    let refused = client()
        .post(format!("{}/prod/pets?store=1", gateway.url))
        .header("x-tenant", "t")
        .header("content-type", "application/json")
        .body(r#"{"name": 7}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let message = refused.json::<Value>().await.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("Invalid request body: /name: ") && message.contains("string"),
        "{message}"
    );
}

#[test]
fn model_mistakes_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("models.toml");
    std::fs::write(
        &path,
        r#"[apis.v]
type = "http"
[apis.v.models.Broken]
schema = { type = 5 }
[apis.v.stages.prod]
[apis.v.routes."POST /x"]
request_models = { "application/json" = "Nobody" }
required_parameters = ["cookie.session"]
integration = { type = "mock" }
"#,
    )
    .unwrap();
    let (passed, stderr) = crate::support::check(&path);
    assert!(!passed);
    for (line, words) in [
        (3, "not a valid JSON Schema"),
        (7, "no model named `Nobody`"),
        (8, "`querystring.<name>` or `header.<name>`"),
    ] {
        let found = stderr
            .lines()
            .any(|l| l.contains(&format!("models.toml:{line}:")) && l.contains(words));
        assert!(found, "no error for line {line} ({words}) in:\n{stderr}");
    }
}
