//! The hardened edge, through raw sockets (a client library would normalise what is sent):
//! paths normalised before routing so no backend is asked for `..`, pipelined requests all
//! answered in order, body limits on every route and every framing, limits on the request head
//! answered in the gateway's JSON, and a deadline for the head.

use std::time::{Duration, Instant};

use crate::support::{raw_exchange, raw_get, Backend, Extra, Gateway, RawReply};

fn config(backend: &Backend) -> String {
    let b = backend.addr;
    format!(
        r#"
[apis.e]
type = "rest"
max_request_body_bytes = 1000
[apis.e.stages.dev]
[apis.e.routes."GET /echo/{{proxy+}}"]
integration = {{ type = "http_proxy", uri = "http://{b}/public/{{proxy}}" }}
[apis.e.routes."ANY /passthru/{{proxy+}}"]
integration = {{ type = "http_proxy", uri = "http://{b}" }}
[apis.e.routes."GET /mapped"]
integration = {{ type = "http", uri = "http://{b}/public/x", request_parameters = {{ "overwrite:path" = "$request.querystring.p" }} }}
[apis.e.routes."POST /upload"]
integration = {{ type = "http_proxy", uri = "http://{b}/upload" }}
[apis.e.routes."POST /mock"]
integration = {{ type = "mock", status = 200, body = "ok" }}
[apis.e.routes."GET /hello"]
integration = {{ type = "mock", status = 200, body = "hello" }}
"#
    )
}

async fn start(backend: &Backend, server: &str) -> Gateway {
    Gateway::start_with(
        &config(backend),
        Extra {
            server,
            ..Extra::default()
        },
    )
    .await
}

/// The backend paths of every request it saw.
fn backend_targets(backend: &Backend) -> Vec<String> {
    backend.seen().into_iter().map(|seen| seen.target).collect()
}

fn assert_json_error(reply: &RawReply, status: u16, words: &str) {
    assert_eq!(reply.statuses().first(), Some(&status), "{}", reply.text);
    let message = reply.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains(words), "`{message}` lacks `{words}`");
    assert!(reply.has_header("x-request-id"), "{}", reply.text);
    assert!(reply.has_header("x-amzn-errortype"), "{}", reply.text);
}

#[tokio::test]
async fn dot_segments_never_reach_a_backend_and_climb_out_of_no_prefix() {
    let backend = Backend::start("b").await;
    let gateway = start(&backend, "").await;
    for target in [
        "/dev/echo/../admin",
        "/dev/echo/%2e%2e/admin",
        "/dev/echo/.%2E/admin",
        "/dev/echo/a/../../admin",
        "/dev/passthru/../../x",
        "/dev/passthru/%2E%2E/%2e%2e/x",
    ] {
        let reply = raw_get(&gateway.url, target, "").await;
        assert_ne!(
            reply.statuses().first(),
            Some(&200),
            "{target}: {}",
            reply.text
        );
    }
    let reply = raw_get(&gateway.url, "/dev/echo/a/./b/../c?x=..", "").await;
    assert_eq!(reply.statuses(), [200], "{}", reply.text);
    assert_eq!(reply.json()["path"], "/public/a/c");
    let reply = raw_get(&gateway.url, "/dev/%65cho/%7Euser", "").await;
    assert_eq!(reply.json()["path"], "/public/~user");
    for target in [
        "/dev/echo/a%2F..%2F..%2Fetc",
        "/dev/echo/a%5C..%5Cb",
        "/dev/echo/a\\..\\b",
        "/dev/echo/a%00",
        "/dev/echo/a%zz",
    ] {
        assert_json_error(&raw_get(&gateway.url, target, "").await, 400, "Bad Request");
    }
    // Mapped paths are built from the caller's values: each of these once reached the backend
    // as something else (an encoded slash, a query, a cut path, raw bytes, an authority) or
    // failed as a 500 (found by an outside tester).
    for p in [
        "/public/../secret",
        "/public/%252e%252e%252fx",
        "/a%252F..%252F..%252Fb",
        "/a%3Fb",
        "/a%23b",
        "/%C3%A9/x",
        "//evil.com/x",
        "http://evil.com/x",
        "",
        "ok/path",
        "/a%09b",
        "/a%20b",
        "/a%0d%0aX-Inj:%201",
        "/a%00b",
    ] {
        let reply = raw_get(&gateway.url, &format!("/dev/mapped?p={p}"), "").await;
        assert_json_error(&reply, 400, "Bad Request");
    }
    for target in ["/dev/echo/..;/..;/etc", "/dev/echo/a/.;x/b"] {
        assert_json_error(&raw_get(&gateway.url, target, "").await, 400, "Bad Request");
    }
    let reply = raw_get(&gateway.url, "/dev/mapped?p=/public/ok", "").await;
    assert_eq!(reply.json()["path"], "/public/ok");
    let targets = backend_targets(&backend);
    assert_eq!(targets.len(), 3, "{targets:?}");
    for target in targets {
        let path = target
            .split('?')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(!path.contains("..") && !path.contains("%2e"), "{target}");
    }
}

#[tokio::test]
async fn every_pipelined_request_is_answered_in_order() {
    let backend = Backend::start("b").await;
    let gateway = start(&backend, "").await;
    let two = "GET /dev/echo/first HTTP/1.1\r\nHost: g\r\n\r\nGET /dev/echo/second HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n";
    let reply = raw_exchange(&gateway.url, two.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(reply.statuses(), [200, 200], "{}", reply.text);
    assert!(reply.text.find("/public/first") < reply.text.find("/public/second"));

    let mut hundred = String::new();
    for i in 0..100 {
        let last = if i == 99 { "Connection: close\r\n" } else { "" };
        hundred.push_str(&format!(
            "GET /dev/echo/{i} HTTP/1.1\r\nHost: g\r\n{last}\r\n"
        ));
    }
    hundred.push_str("POST /dev/mock HTTP/1.1\r\nHost: g\r\nContent-Length: 3\r\n\r\nabc");
    let reply = raw_exchange(&gateway.url, hundred.as_bytes(), Duration::from_secs(10)).await;
    assert_eq!(reply.statuses(), vec![200; 100], "{}", reply.text);
    assert!(reply.closed);
    let targets = backend_targets(&backend);
    let expected: Vec<String> = ["first", "second"]
        .into_iter()
        .map(String::from)
        .chain((0..100).map(|i| i.to_string()))
        .map(|path| format!("/public/{path}"))
        .collect();
    assert_eq!(targets, expected);

    let mixed = "POST /dev/mock HTTP/1.1\r\nHost: g\r\nContent-Length: 5\r\n\r\nhelloGET /dev/echo/after-body HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n";
    let reply = raw_exchange(&gateway.url, mixed.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(reply.statuses(), [200, 200], "{}", reply.text);
    assert!(reply.text.contains("/public/after-body"));
}

/// A chunked body of `size` bytes in chunks of 500.
fn chunked(size: usize) -> String {
    let mut body = String::new();
    let mut left = size;
    while left > 0 {
        let n = left.min(500);
        body.push_str(&format!("{n:x}\r\n{}\r\n", "x".repeat(n)));
        left -= n;
    }
    body.push_str("0\r\n\r\n");
    body
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_on_every_route_and_framing() {
    let backend = Backend::start("b").await;
    let gateway = start(&backend, "").await;
    for path in ["/dev/upload", "/dev/mock"] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n{}",
            chunked(5000)
        );
        let reply = raw_exchange(&gateway.url, request.as_bytes(), Duration::from_secs(5)).await;
        let finals: Vec<u16> = reply.statuses().into_iter().filter(|s| *s >= 200).collect();
        assert_eq!(finals, [413], "{path}: {}", reply.text);
        assert!(reply.text.contains("Request Too Long"), "{}", reply.text);

        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: g\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"
        );
        let reply = raw_exchange(&gateway.url, request.as_bytes(), Duration::from_secs(5)).await;
        assert_json_error(&reply, 413, "Request Too Long");
        assert!(!reply.text.contains("100 Continue"), "{}", reply.text);
    }
    let request = format!(
        "POST /dev/upload HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{}",
        chunked(900)
    );
    let reply = raw_exchange(&gateway.url, request.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(reply.statuses(), [200], "{}", reply.text);
    assert_eq!(reply.json()["body_len"], 900);
    for seen in backend.seen() {
        assert!(
            seen.body_len <= 1000 && (seen.complete || seen.body_len < 1000),
            "a backend got a cut body as complete: {seen:?}"
        );
        assert!(!seen.complete || seen.body_len == 900, "{seen:?}");
    }
}

#[tokio::test]
async fn request_heads_over_the_limits_are_answered_in_json() {
    let backend = Backend::start("b").await;
    let gateway = start(&backend, "").await;
    let big = format!("X-Big: {}\r\n", "v".repeat(11 * 1024));
    assert_json_error(
        &raw_get(&gateway.url, "/dev/echo/a", &big).await,
        431,
        "Too Large",
    );
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_json_error(
        &raw_get(&gateway.url, "/dev/echo/a", &many).await,
        431,
        "Too Large",
    );
    for length in [9000, 100_000] {
        let long = format!("/dev/echo/{}", "a".repeat(length));
        assert_json_error(&raw_get(&gateway.url, &long, "").await, 414, "Too Long");
    }
    let no_host = "GET /dev/echo/a HTTP/1.1\r\nConnection: close\r\n\r\n";
    let reply = raw_exchange(&gateway.url, no_host.as_bytes(), Duration::from_secs(5)).await;
    assert_json_error(&reply, 400, "Host");
    let http10 = "GET /dev/echo/a HTTP/1.0\r\n\r\n";
    let reply = raw_exchange(&gateway.url, http10.as_bytes(), Duration::from_secs(5)).await;
    assert!(
        reply.text.starts_with("HTTP/1.1 200") || reply.text.starts_with("HTTP/1.0 200"),
        "{}",
        reply.text
    );
    assert_eq!(
        backend.hits(),
        1,
        "only the HTTP/1.0 request reached the backend"
    );

    let roomy = start(
        &backend,
        "limits = { max_header_bytes = 65536, max_headers = 200 }",
    )
    .await;
    assert_eq!(
        raw_get(&roomy.url, "/dev/hello", &big).await.statuses(),
        [200]
    );
    assert_eq!(
        raw_get(&roomy.url, "/dev/hello", &many).await.statuses(),
        [200]
    );
}

#[tokio::test]
async fn a_request_head_must_arrive_within_its_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let backend = Backend::start("b").await;
    let gateway = start(&backend, "limits = { head_timeout_ms = 500 }").await;
    let addr = gateway.url.trim_start_matches("http://").to_string();

    let started = Instant::now();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut closed_after = None;
    for byte in "GET /dev/echo/slow HTTP/1.1\r\nHost: g\r\nX-Drip: 0123456789\r\n\r\n".bytes() {
        if slow.write_all(&[byte]).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(100), slow.read(&mut buf)).await
        {
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let closed_after = closed_after.expect("a client dripping its head was never disconnected");
    assert!(
        closed_after < Duration::from_millis(1500),
        "{closed_after:?}"
    );

    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(3), idle.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "an idle connection was kept: {read:?}"
    );

    let reply = raw_get(&gateway.url, "/dev/echo/fine", "").await;
    assert_eq!(reply.statuses(), [200], "the gateway still serves");
    assert!(backend_targets(&backend)
        .iter()
        .all(|t| t != "/public/slow"));
}
