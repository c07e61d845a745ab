//! The three integration types, backend pools with round-robin and passive health, and what the
//! gateway adds to proxied requests.

use serde_json::Value;

use crate::support::{client, free_port, Backend, Gateway};

#[tokio::test]
async fn http_proxy_passes_everything_through_and_adds_tracing_headers() {
    let backend = Backend::start("b").await;
    let b = backend.addr;
    let gateway = Gateway::start(&format!(
        r#"
[apis.p]
type = "rest"
[apis.p.stages.prod]
[apis.p.routes."ANY /{{proxy+}}"]
integration = {{ type = "http_proxy", uri = "http://{b}/{{proxy}}" }}
"#
    ))
    .await;
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = client()
        .put(format!("{}/prod/things/1?a=1&b=two", gateway.url))
        .header("x-custom", "kept")
        .header("x-echo-status", "418")
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 418);
    assert_eq!(response.headers()["x-backend"], "b");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/things/1");
    assert_eq!(echo["query"], "a=1&b=two");
    assert_eq!(echo["body_len"], body.len());
    let headers = &echo["headers"];
    assert_eq!(headers["x-custom"], "kept");
    assert_eq!(headers["host"], b.to_string());
    assert_eq!(headers["x-request-id"], request_id);
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    let traceparent = headers["traceparent"].as_str().unwrap();
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "{traceparent}"
    );
    assert!(
        !traceparent.contains("00f067aa0ba902b7"),
        "the gateway is the new parent span"
    );
}

#[tokio::test]
async fn http_integration_applies_parameter_mappings() {
    let backend = Backend::start("b").await;
    let b = backend.addr;
    let gateway = Gateway::start(&format!(
        r#"
[apis.m]
type = "http"
[apis.m.stages.prod]
variables = {{ tier = "gold" }}
[apis.m.routes."POST /orders/{{id}}".integration]
type = "http"
uri = "http://{b}/v1/orders/{{id}}"
method = "PUT"
request_parameters = {{ "overwrite:header.x-user" = "$request.header.x-api-user", "append:querystring.tier" = "${{stageVariables.tier}}", "remove:querystring.debug" = "", "overwrite:header.x-route" = "$context.routeKey", "remove:header.x-secret" = "" }}
response_parameters = {{ "overwrite:header.x-served-by" = "wasmgate-$context.stage", "remove:header.x-backend" = "", "overwrite:statuscode" = "202" }}
"#
    ))
    .await;
    let response = client()
        .post(format!("{}/prod/orders/9?debug=1&keep=yes", gateway.url))
        .header("x-api-user", "ada")
        .header("x-secret", "s3cr3t")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-served-by"], "wasmgate-prod");
    assert!(!response.headers().contains_key("x-backend"));
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/v1/orders/9");
    assert_eq!(echo["query"], "keep=yes&tier=gold");
    assert_eq!(echo["headers"]["x-user"], "ada");
    assert_eq!(echo["headers"]["x-route"], "POST /orders/{id}");
    assert!(echo["headers"].get("x-secret").is_none());
}

#[tokio::test]
async fn mock_integration_answers_from_config() {
    let gateway = Gateway::start(
        r#"
[apis.m]
type = "http"
[apis.m.stages."$default"]
[apis.m.routes."GET /status"]
integration = { type = "mock", status = 418, headers = { "content-type" = "text/plain", "x-mock" = "yes" }, body = "short and stout" }
"#,
    )
    .await;
    let response = client()
        .get(format!("{}/status", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 418);
    assert_eq!(response.headers()["x-mock"], "yes");
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(response.text().await.unwrap(), "short and stout");
}

#[tokio::test]
async fn pools_round_robin_and_skip_a_dead_backend_without_failing_requests() {
    let one = Backend::start("one").await;
    let two = Backend::start("two").await;
    let dead = free_port();
    let gateway = Gateway::start(&format!(
        r#"
[upstreams.both]
targets = ["{}", "{}"]
[upstreams.half]
targets = ["127.0.0.1:{dead}", "{}"]
[apis.lb]
type = "http"
[apis.lb.stages.prod]
[apis.lb.routes."GET /both"]
integration = {{ type = "http_proxy", uri = "http://both/x" }}
[apis.lb.routes."GET /half"]
integration = {{ type = "http_proxy", uri = "http://half/x" }}
"#,
        one.addr, two.addr, one.addr
    ))
    .await;
    let client = client();
    for _ in 0..10 {
        let response = client
            .get(format!("{}/prod/both", gateway.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!((one.hits(), two.hits()), (5, 5));
    for i in 0..10 {
        let response = client
            .get(format!("{}/prod/half", gateway.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "request {i}");
    }
    assert_eq!(one.hits(), 15);
}
