//! A corpus of hostile HTTP/1.1, sent over raw sockets: each case gets its specified answer
//! (a JSON error with a request id for everything refused), the gateway keeps serving, and the
//! backend never sees a smuggled or truncated request.
//!
//! What is specified: ambiguous or broken framing (two different `Content-Length`s, a bad
//! chunk size, `Transfer-Encoding` not ending in chunked) and heads that cannot be parsed (NUL,
//! bare CR, obs-fold, spaces in names, more than 256 fields or over 1 MiB) are `400` (`431` for
//! the size caps) and the connection closes; `Content-Length` with `Transfer-Encoding:
//! chunked` is read as chunked and the connection closed after the answer (RFC 9112 §6.1), so
//! bytes smuggled after the chunked body are never read as a request. A chunked body that
//! turns out broken after its head went upstream reaches the backend cut off, never as a
//! complete request.

use std::time::Duration;

use crate::support::{raw_exchange, Backend, Gateway, RawReply};

fn config(backend: &Backend) -> String {
    let b = backend.addr;
    format!(
        r#"
[apis.h]
type = "http"
[apis.h.stages.dev]
[apis.h.routes."ANY /echo/{{proxy+}}"]
integration = {{ type = "http_proxy", uri = "http://{b}/{{proxy}}" }}
[apis.h.routes."GET /hello"]
integration = {{ type = "mock", status = 200, body = "hello" }}
"#
    )
}

/// How a case must be answered.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// This status, as the gateway's JSON error, and the connection closed.
    Refused(u16),
    /// These statuses, in order.
    Served(&'static [u16]),
}

fn case(reply: &RawReply, expect: Expect, name: &str) {
    match expect {
        Expect::Refused(status) => {
            assert_eq!(reply.statuses(), [status], "{name}: {}", reply.text);
            assert!(
                reply.json()["message"].is_string(),
                "{name}: {}",
                reply.text
            );
            assert!(reply.has_header("x-request-id"), "{name}: {}", reply.text);
            assert!(reply.closed, "{name}: the connection stayed open");
        }
        Expect::Served(statuses) => {
            assert_eq!(reply.statuses(), statuses, "{name}: {}", reply.text);
        }
    }
}

fn with_body(head: &str, body: &str) -> Vec<u8> {
    format!("{head}\r\n{body}").into_bytes()
}

#[tokio::test]
async fn hostile_requests_get_their_answer_and_smuggle_nothing() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&config(&backend)).await;
    let smuggled = "GET /echo/smuggled HTTP/1.1\r\nHost: g\r\n\r\n";
    let huge_line = format!(
        "GET /hello?{} HTTP/1.1\r\nHost: g\r\n\r\n",
        "q".repeat(1 << 20)
    );
    let huge_header = format!(
        "GET /hello HTTP/1.1\r\nHost: g\r\nX-Huge: {}\r\n\r\n",
        "v".repeat(1 << 20)
    );
    let fields: String = (0..300).map(|i| format!("X-F{i}: v\r\n")).collect();
    let many_fields = format!("GET /hello HTTP/1.1\r\nHost: g\r\n{fields}\r\n");
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "CL and TE: chunked wins, smuggled bytes after it are dropped",
            with_body(
                "POST /dev/echo/cl-te HTTP/1.1\r\nHost: g\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                &format!("0\r\n\r\n{smuggled}"),
            ),
            Expect::Served(&[200]),
        ),
        (
            "TE then CL, TE not chunked last",
            with_body(
                "POST /dev/echo/te-gzip HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 3\r\n",
                "abc",
            ),
            Expect::Refused(400),
        ),
        (
            "two different Content-Lengths",
            with_body(
                "POST /dev/echo/dup-cl HTTP/1.1\r\nHost: g\r\nContent-Length: 3\r\nContent-Length: 40\r\n",
                &format!("abc{smuggled}"),
            ),
            Expect::Refused(400),
        ),
        (
            "a transfer coding the gateway does not speak before chunked",
            with_body(
                "POST /dev/echo/gzip-chunked HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: gzip, chunked\r\n",
                "3\r\nabc\r\n0\r\n\r\n",
            ),
            Expect::Refused(400),
        ),
        (
            "a listed Content-Length with equal values, passed on as one",
            with_body(
                "POST /dev/echo/list-same HTTP/1.1\r\nHost: g\r\nContent-Length: 3, 3\r\nConnection: close\r\n",
                "abc",
            ),
            Expect::Served(&[200]),
        ),
        (
            "a listed Content-Length with different values",
            with_body(
                "POST /dev/echo/list-cl HTTP/1.1\r\nHost: g\r\nContent-Length: 3, 40\r\n",
                &format!("abc{smuggled}"),
            ),
            Expect::Refused(400),
        ),
        (
            "a Content-Length that is not a number",
            with_body(
                "POST /dev/echo/nan-cl HTTP/1.1\r\nHost: g\r\nContent-Length: +3\r\n",
                "abc",
            ),
            Expect::Refused(400),
        ),
        (
            "a broken chunk to a mock route",
            with_body(
                "GET /dev/hello HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n",
                "zz\r\n",
            ),
            Expect::Refused(400),
        ),
        (
            "a chunk size that is not hex",
            with_body(
                "POST /dev/echo/bad-chunk HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n",
                &format!("zz\r\nabc\r\n0\r\n\r\n{smuggled}"),
            ),
            Expect::Refused(400),
        ),
        (
            "a chunk size past 64 bits",
            with_body(
                "POST /dev/echo/huge-chunk HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n",
                "fffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
            ),
            Expect::Refused(400),
        ),
        (
            "NUL in a header value",
            b"GET /hello HTTP/1.1\r\nHost: g\r\nX-A: a\0b\r\n\r\n".to_vec(),
            Expect::Refused(400),
        ),
        (
            "a bare CR in a header value",
            b"GET /hello HTTP/1.1\r\nHost: g\r\nX-A: a\rb\r\n\r\n".to_vec(),
            Expect::Refused(400),
        ),
        (
            "an obs-folded header",
            b"GET /hello HTTP/1.1\r\nHost: g\r\nX-A: a\r\n b\r\n\r\n".to_vec(),
            Expect::Refused(400),
        ),
        (
            "a space before the colon",
            b"GET /hello HTTP/1.1\r\nHost: g\r\nX-A : b\r\n\r\n".to_vec(),
            Expect::Refused(400),
        ),
        (
            "absolute-form with its Host",
            b"GET http://g/dev/hello HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n".to_vec(),
            Expect::Served(&[200]),
        ),
        (
            "absolute-form naming another host than Host",
            b"GET http://other/dev/hello HTTP/1.1\r\nHost: g\r\n\r\n".to_vec(),
            Expect::Refused(400),
        ),
        (
            "two Host headers",
            b"GET /dev/hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            Expect::Refused(400),
        ),
        (
            "no Host",
            b"GET /dev/hello HTTP/1.1\r\n\r\n".to_vec(),
            Expect::Refused(400),
        ),
        (
            "a request line over 1 MiB",
            huge_line.into_bytes(),
            Expect::Refused(431),
        ),
        (
            "a header over 1 MiB",
            huge_header.into_bytes(),
            Expect::Refused(431),
        ),
        (
            "300 header fields",
            many_fields.into_bytes(),
            Expect::Refused(431),
        ),
        (
            "a request line that is not HTTP",
            b"GET /hello HTTP/9.9\r\nHost: g\r\n\r\n".to_vec(),
            Expect::Refused(400),
        ),
        (
            "CONNECT, which the gateway never tunnels",
            b"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n".to_vec(),
            Expect::Refused(405),
        ),
        (
            "binary garbage",
            vec![0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, b'\r', b'\n', b'\r', b'\n'],
            Expect::Refused(400),
        ),
    ];
    for (name, request, expect) in cases {
        let reply = raw_exchange(&gateway.url, &request, Duration::from_secs(5)).await;
        case(&reply, expect, name);
        let check = raw_exchange(
            &gateway.url,
            b"GET /dev/hello HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(check.statuses(), [200], "after {name}, the gateway serves");
    }
    // A body that breaks off after its head was streamed on reaches the backend broken off
    // (as when any client hangs up mid-upload); what the backend reads as complete is whole.
    let seen = backend.seen();
    assert!(
        seen.iter().all(|s| s.target != "/smuggled"),
        "smuggled: {seen:?}"
    );
    let complete: Vec<(&str, usize)> = seen
        .iter()
        .filter(|s| s.complete)
        .map(|s| (s.target.as_str(), s.body_len))
        .collect();
    assert_eq!(complete, [("/cl-te", 0), ("/list-same", 3)], "{seen:?}");
    assert!(seen.iter().all(|s| s.method == "POST"), "{seen:?}");
}
