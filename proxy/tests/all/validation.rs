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
integration = {{ type = "http_proxy", uri = "http://{b}/pets" }}
[apis.v.routes."GET /issuers/{{issuer}}/items"]
required_parameters = ["querystring.qs1", "path.issuer", "header.x-header-param"]
integration = {{ type = "http_proxy", uri = "http://{b}/items" }}
"#,
        b = backend.addr
    )
}

#[tokio::test]
async fn missing_parameters_are_listed_headers_then_path_then_query_as_aws_does() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&config(&backend, false)).await;
    let url = format!("{}/prod/issuers/acme/items", gateway.url);
    let (status, body) = crate::support::get_json(&url, &[]).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "Missing required request parameters: [x-header-param, qs1]"
    );
    let found = format!("{url}?qs1=1");
    let (status, _) = crate::support::get_json(&found, &[("x-header-param", "v")]).await;
    assert_eq!(status, 200);
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
            "Missing required request parameters: [x-tenant, store]",
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
    crate::support::assert_config_errors(
        "models.toml",
        r#"[apis.v]
type = "http"
[apis.v.models.Broken]
schema = { type = 5 }
[apis.v.stages.prod]
[apis.v.routes."POST /x"]
request_models = { "application/json" = "Nobody" }
required_parameters = ["cookie.session"]
integration = { type = "mock" }
[apis.v.routes."GET /y/{id}"]
required_parameters = ["path.id", "path.nope"]
integration = { type = "mock" }
"#,
        &[
            (3, "not a valid JSON Schema"),
            (7, "no model named `Nobody`"),
            (8, "`header.<name>`, `path.<name>` or `querystring.<name>`"),
            (11, "`nope` is not a path parameter of `GET /y/{id}`"),
        ],
    );
}

/// Every draft-04 case of the JSON-Schema-Test-Suite (from the `jsonschema` sdist on PyPI)
/// through a route's body model: valid data passes, invalid data gets 400. Remote references
/// (`refRemote.json`, which needs a server on port 1234) and the `optional` cases are left out.
#[tokio::test]
async fn the_draft4_test_suite_passes_through_route_models() {
    let output = std::process::Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/json-schema-suite.sh"
        ))
        .output()
        .expect("run scripts/json-schema-suite.sh");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let suite = std::path::PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
    let models = tempfile::tempdir().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&suite)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .filter(|path| !path.ends_with("refRemote.json"))
        .collect();
    files.sort();
    let mut config = String::from("[apis.s]\ntype = \"http\"\n[apis.s.stages.prod]\n");
    let mut cases = Vec::new();
    for file in &files {
        let groups: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for group in groups {
            let i = cases.len();
            let model = models.path().join(format!("m{i}.json"));
            std::fs::write(&model, group["schema"].to_string()).unwrap();
            config.push_str(&format!(
                "[apis.s.models.M{i}]\nfile = {:?}\n[apis.s.routes.\"POST /s{i}\"]\nrequest_models = {{ \"application/json\" = \"M{i}\" }}\nintegration = {{ type = \"mock\" }}\n",
                model.display().to_string()
            ));
            let name = format!(
                "{}: {}",
                file.file_name().unwrap().to_string_lossy(),
                group["description"].as_str().unwrap()
            );
            cases.push((name, group["tests"].as_array().unwrap().clone()));
        }
    }
    let gateway = Gateway::start(&config).await;
    let client = client();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (i, (name, tests)) in cases.iter().enumerate() {
        for test in tests {
            let status = client
                .post(format!("{}/prod/s{i}", gateway.url))
                .header("content-type", "application/json")
                .body(test["data"].to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            let expected = if test["valid"] == true { 200 } else { 400 };
            if status != expected {
                wrong.push(format!("{name} / {}: {status}", test["description"]));
            }
            checked += 1;
        }
    }
    assert!(checked > 500, "only {checked} cases ran");
    assert!(
        wrong.is_empty(),
        "{} of {checked} cases disagree:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn changing_a_model_file_reloads_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("name.json");
    std::fs::write(&model, r#"{"type": "object", "required": ["name"]}"#).unwrap();
    let gateway = Gateway::start(&format!(
        r#"
[apis.v]
type = "http"
[apis.v.models.Named]
file = {:?}
[apis.v.stages.prod]
[apis.v.routes."POST /x"]
request_models = {{ "$default" = "Named" }}
integration = {{ type = "mock", body = "in" }}
"#,
        model.display().to_string()
    ))
    .await;
    let post = || {
        client()
            .post(format!("{}/prod/x", gateway.url))
            .body("{}")
            .send()
    };
    assert_eq!(post().await.unwrap().status(), 400);
    std::fs::write(&model, r#"{"type": "object"}"#).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while post().await.unwrap().status() != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the new model was not picked up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
