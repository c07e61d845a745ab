//! Gateway-generated errors: unknown routes, payload limits, timeouts, refused and unhealthy
//! backends, and customised gateway responses.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{client, free_port, Backend, Gateway};

async fn json_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.expect("JSON error body");
    (
        status,
        body["message"].as_str().expect("message").to_string(),
    )
}

#[tokio::test]
async fn unknown_routes_answer_like_aws() {
    let gateway = Gateway::start(
        r#"
[apis.rest]
type = "rest"
base_path = "/r"
[apis.rest.stages.prod]
[apis.rest.routes."GET /known"]
integration = { type = "mock" }
[apis.http]
type = "http"
base_path = "/h"
[apis.http.stages.prod]
[apis.http.routes."GET /known"]
integration = { type = "mock" }
"#,
    )
    .await;
    let client = client();
    let cases = [
        (
            "GET",
            "/r/prod/unknown",
            403,
            "Missing Authentication Token",
        ),
        ("POST", "/r/prod/known", 403, "Missing Authentication Token"),
        ("GET", "/h/prod/unknown", 404, "Not Found"),
        ("GET", "/nowhere", 404, "Not Found"),
    ];
    for (method, path, status, message) in cases {
        let response = client
            .request(method.parse().unwrap(), format!("{}{path}", gateway.url))
            .send()
            .await
            .unwrap();
        assert_eq!(
            json_error(response).await,
            (status, message.to_string()),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_with_or_without_content_length() {
    let backend = Backend::start("b").await;
    let b = backend.addr;
    let gateway = Gateway::start(&format!(
        r#"
[apis.up]
type = "http"
max_request_body_bytes = 1024
[apis.up.stages.prod]
[apis.up.routes."POST /upload"]
integration = {{ type = "http_proxy", uri = "http://{b}/upload" }}
"#
    ))
    .await;
    let client = client();
    let url = format!("{}/prod/upload", gateway.url);
    let ok = client
        .post(&url)
        .body(vec![b'a'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let declared = client
        .post(&url)
        .body(vec![b'a'; 1025])
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(declared).await,
        (413, "Request Too Long".to_string())
    );
    // Chunked: no Content-Length, the limit is enforced while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b'x'; 512])).collect();
    let streamed = client
        .post(&url)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await;
    match streamed {
        Ok(response) => assert_eq!(response.status(), 413),
        // The gateway may close the connection before the client finished sending.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
}

#[tokio::test]
async fn slow_backend_times_out_with_504_at_the_configured_timeout() {
    let backend = Backend::start("slow").await;
    let b = backend.addr;
    let gateway = Gateway::start(&format!(
        r#"
[apis.t]
type = "http"
[apis.t.stages.prod]
[apis.t.routes."GET /slow"]
integration = {{ type = "http_proxy", uri = "http://{b}/slow", timeout_ms = 400 }}
"#
    ))
    .await;
    let started = Instant::now();
    let response = client()
        .get(format!("{}/prod/slow?sleep_ms=5000", gateway.url))
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        json_error(response).await,
        (504, "Endpoint request timed out".to_string())
    );
    assert!(
        elapsed >= Duration::from_millis(400),
        "answered after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(2500),
        "answered after {elapsed:?}"
    );
    let fast = client()
        .get(format!("{}/prod/slow?sleep_ms=10", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(fast.status(), 200);
}

#[tokio::test]
async fn refused_connection_is_502_and_a_pool_with_no_healthy_backend_is_503() {
    let dead = free_port();
    let (dead_a, dead_b) = (free_port(), free_port());
    let gateway = Gateway::start(&format!(
        r#"
[upstreams.gone]
targets = ["127.0.0.1:{dead_a}", "127.0.0.1:{dead_b}"]
fail_timeout_ms = 60000
[apis.t]
type = "http"
[apis.t.stages.prod]
[apis.t.routes."GET /refused"]
integration = {{ type = "http_proxy", uri = "http://127.0.0.1:{dead}" }}
[apis.t.routes."GET /pool"]
integration = {{ type = "http_proxy", uri = "http://gone" }}
"#
    ))
    .await;
    let client = client();
    let refused = client
        .get(format!("{}/prod/refused", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(refused).await, (502, "Bad Gateway".to_string()));
    // Both pool members refuse: the first request tries each, then answers 502 ...
    let first = client
        .get(format!("{}/prod/pool", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(first).await, (502, "Bad Gateway".to_string()));
    // ... after which both are marked down and the gateway answers 503 without trying.
    let second = client
        .get(format!("{}/prod/pool", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(second).await,
        (503, "Service Unavailable".to_string())
    );
}

#[tokio::test]
async fn gateway_responses_customise_status_headers_and_body() {
    let dead = free_port();
    let gateway = Gateway::start(&format!(
        r#"
[apis.c]
type = "rest"
[apis.c.stages.prod]
[apis.c.routes."GET /down"]
integration = {{ type = "http_proxy", uri = "http://127.0.0.1:{dead}" }}
[apis.c.gateway_responses.MISSING_AUTHENTICATION_TOKEN]
status = 404
headers = {{ "x-reason" = "no-route" }}
body = '{{"error": $context.error.messageString, "type": "$context.error.responseType", "id": "$context.requestId", "api": "$context.apiId", "stage": "$context.stage", "method": "$context.httpMethod", "path": "$context.path"}}'
[apis.c.gateway_responses.DEFAULT_5XX]
headers = {{ "retry-after" = "5" }}
"#
    ))
    .await;
    let client = client();
    let response = client
        .get(format!("{}/prod/nope", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-reason"], "no-route");
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "Missing Authentication Token");
    assert_eq!(body["type"], "MISSING_AUTHENTICATION_TOKEN");
    assert_eq!(body["id"], request_id);
    assert_eq!(body["api"], "c");
    assert_eq!(body["stage"], "prod");
    assert_eq!(body["method"], "GET");
    assert_eq!(body["path"], "/prod/nope");
    let down = client
        .get(format!("{}/prod/down", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(down.headers()["retry-after"], "5");
    assert_eq!(json_error(down).await, (502, "Bad Gateway".to_string()));
}

#[tokio::test]
async fn every_error_names_its_aws_error_type() {
    let gateway = Gateway::start(
        r#"
[apis.rest]
type = "rest"
[apis.rest.stages.prod]
[apis.rest.routes."GET /known"]
integration = { type = "mock" }
[apis.rest.routes."POST /known"]
required_parameters = ["header.x-tenant"]
integration = { type = "mock" }
"#,
    )
    .await;
    let cases = [
        (
            "GET",
            "/prod/unknown",
            403,
            "MissingAuthenticationTokenException",
        ),
        ("GET", "/nowhere", 404, "NotFoundException"),
        ("POST", "/prod/known", 400, "BadRequestException"),
    ];
    for (method, path, status, error_type) in cases {
        let response = client()
            .request(method.parse().unwrap(), format!("{}{path}", gateway.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            error_type,
            "{method} {path}"
        );
    }
}

#[test]
fn integration_timeouts_outside_aws_bounds_are_config_errors() {
    crate::support::assert_config_errors(
        "timeouts.toml",
        r#"[apis.r]
type = "rest"
[apis.r.stages.prod]
[apis.r.routes."GET /a"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:1", timeout_ms = 29001 }
[apis.r.routes."GET /b"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:1", timeout_ms = 49 }
[apis.h]
type = "http"
base_path = "/h"
[apis.h.stages.prod]
[apis.h.routes."GET /c"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:1", timeout_ms = 30001 }
[apis.h.routes."GET /d"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:1", timeout_ms = 30000 }
"#,
        &[
            (5, "from 50 to 29000 ms on a rest API (got 29001)"),
            (7, "from 50 to 29000 ms on a rest API (got 49)"),
            (13, "from 50 to 30000 ms on a http API (got 30001)"),
        ],
    );
}

/// A backend on loopback that reads (the start of) each request, then answers with `answer`.
async fn raw_backend<F, A>(answer: F) -> std::net::SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> A + Send + Copy + 'static,
    A: std::future::Future<Output = ()> + Send + 'static,
{
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                answer(stream).await;
            });
        }
    });
    addr
}

/// A backend that sends its response head a byte every 100 ms.
async fn trickling_backend() -> std::net::SocketAddr {
    raw_backend(|mut stream| async move {
        use tokio::io::AsyncWriteExt;
        let head = "HTTP/1.1 200 OK\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nContent-Length: 2\r\n\r\nok";
        for byte in head.bytes() {
            if stream.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

#[tokio::test]
async fn the_integration_timeout_bounds_the_whole_wait_for_the_response_head() {
    let slow = trickling_backend().await;
    let gateway = Gateway::start(&format!(
        r#"
[apis.t]
type = "rest"
[apis.t.models.Any]
schema = {{ type = "object" }}
[apis.t.stages.prod]
[apis.t.routes."GET /streamed"]
integration = {{ type = "http_proxy", uri = "http://{slow}/", timeout_ms = 500 }}
[apis.t.routes."POST /buffered"]
request_models = {{ "$default" = "Any" }}
integration = {{ type = "http_proxy", uri = "http://{slow}/", timeout_ms = 500 }}
"#
    ))
    .await;
    for (method, path) in [("GET", "/prod/streamed"), ("POST", "/prod/buffered")] {
        let started = Instant::now();
        let response = client()
            .request(method.parse().unwrap(), format!("{}{path}", gateway.url))
            .body("{}")
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(
            json_error(response).await,
            (504, "Endpoint request timed out".to_string()),
            "{path}"
        );
        assert!(
            took < Duration::from_millis(1500),
            "{path}: {took:?} for a 500 ms timeout while each byte came within it"
        );
    }
}

/// A backend that answers every request with `101 Switching Protocols` and then `tick0` to
/// `tick5`, one every 200 ms.
async fn switching_backend() -> std::net::SocketAddr {
    raw_backend(|mut stream| async move {
        use tokio::io::AsyncWriteExt;
        let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    Connection: upgrade\r\n\r\n";
        let _ = stream.write_all(head.as_bytes()).await;
        for tick in 0..6 {
            let _ = stream.write_all(format!("tick{tick}\n").as_bytes()).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
}

#[tokio::test]
async fn a_backend_cannot_switch_protocols_the_client_did_not_ask_for() {
    let backend = switching_backend().await;
    let gateway = Gateway::start(&format!(
        r#"
[apis.s]
type = "http"
[apis.s.stages."$default"]
[apis.s.routes."GET /plain"]
integration = {{ type = "http_proxy", uri = "http://{backend}/" }}
"#
    ))
    .await;
    let reply = crate::support::raw_get(&gateway.url, "/plain", "").await;
    assert_eq!(reply.statuses(), vec![502], "{}", reply.text);
    assert!(
        !reply.text.contains("tick"),
        "the backend's bytes reached the client: {}",
        reply.text
    );
    let (_, body) = &reply.responses()[0];
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["message"], "Bad Gateway");
}

#[tokio::test]
async fn an_upgraded_connection_outlives_the_response_head_deadline() {
    let backend = switching_backend().await;
    let gateway = Gateway::start(&format!(
        r#"
[apis.s]
type = "http"
[apis.s.stages."$default"]
[apis.s.routes."GET /ws"]
integration = {{ type = "http_proxy", uri = "http://{backend}/", timeout_ms = 500 }}
"#
    ))
    .await;
    let request =
        "GET /ws HTTP/1.1\r\nHost: g\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let reply =
        crate::support::raw_exchange(&gateway.url, request.as_bytes(), Duration::from_secs(2))
            .await;
    assert!(reply.text.starts_with("HTTP/1.1 101"), "{}", reply.text);
    assert!(
        reply.text.contains("tick5"),
        "the tunnel was cut at the head deadline: {}",
        reply.text
    );
    assert!(!reply.text.contains("message"), "{}", reply.text);
}

/// A backend that answers the first request of each connection and closes the connection at
/// the next one without answering: pingora retries such a request on a new connection, which
/// must reach the same backend again (an outside tester's finding: the retry found every
/// backend of the pool already tried and answered 503 "no healthy backend").
#[tokio::test]
async fn a_request_on_a_connection_the_backend_closed_is_retried_on_a_new_one() {
    let once = raw_backend(|mut stream| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await;
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf).await;
    })
    .await;
    let gateway = Gateway::start(&format!(
        r#"
[apis.c]
type = "http"
[apis.c.stages.prod]
[apis.c.routes."GET /once"]
integration = {{ type = "http_proxy", uri = "http://{once}/", timeout_ms = 2000 }}
"#
    ))
    .await;
    for attempt in 0..4 {
        let response = client()
            .get(format!("{}/prod/once", gateway.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "request {attempt}");
    }
}

/// A backend that reads a request and closes without answering, on every connection, is a 502
/// (the retry on a new connection fails too), not a pool without a healthy backend.
#[tokio::test]
async fn a_backend_closing_without_an_answer_is_502() {
    let closing = raw_backend(|stream| async move { drop(stream) }).await;
    let gateway = Gateway::start(&format!(
        r#"
[apis.c]
type = "http"
[apis.c.stages.prod]
[apis.c.routes."GET /gone"]
integration = {{ type = "http_proxy", uri = "http://{closing}/", timeout_ms = 2000 }}
"#
    ))
    .await;
    for _ in 0..3 {
        let response = client()
            .get(format!("{}/prod/gone", gateway.url))
            .send()
            .await
            .unwrap();
        assert_eq!(json_error(response).await, (502, "Bad Gateway".to_string()));
    }
}
