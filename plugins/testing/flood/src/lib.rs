//! A deliberately hostile plugin for the gateway's output-bound tests: it serves the
//! authorizer, validator and both transformer phases, and in the phase its `attack` names it
//! returns an answer no gateway should apply as it is — floods of headers or header bytes,
//! invalid names and values, framing headers, out-of-range statuses, oversized bodies, broken
//! paths, queries and methods, oversized principals, contexts and rejection messages. Every
//! other phase, and every call without an attack, passes the request on unchanged.
//!
//! ```toml
//! config = { attack = "request-headers" }
//! ```

use serde::Deserialize;
use wasmgate_plugin_sdk::prelude::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    attack: String,
}

static CONFIG: ConfigCell<Config> = ConfigCell::new();

fn attack() -> &'static str {
    CONFIG.get().map_or("", |config| config.attack.as_str())
}

/// `count` distinct headers.
fn many_headers(count: usize) -> Vec<Header> {
    (0..count)
        .map(|i| header(&format!("x-flood-{i}"), "v"))
        .collect()
}

/// 40,000 header names to remove.
fn many_removals() -> Vec<String> {
    (0..40_000).map(|i| format!("x-gone-{i}")).collect()
}

fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.into(),
        value: value.into(),
    }
}

fn response(status: u16, headers: Vec<Header>, body: Vec<u8>) -> Response {
    Response {
        status,
        headers,
        body,
    }
}

/// The headers an attack named `<phase>-<what>` sets, if it is a header attack.
fn header_attack(what: &str) -> Option<Vec<Header>> {
    Some(match what {
        "headers" => many_headers(40_000),
        "header-bytes" => vec![header("x-huge", &"v".repeat(50 << 20))],
        "bad-name" => vec![header("bad name", "v")],
        "crlf-value" => vec![header("x-split", "a\r\nx-injected: 1")],
        "content-length" => vec![header("content-length", "0")],
        "transfer-encoding" => vec![header("transfer-encoding", "chunked")],
        "expect" => vec![header("expect", "100-continue")],
        _ => return None,
    })
}

struct Flood;

impl Plugin for Flood {
    fn manifest() -> Result<Manifest, String> {
        wasmgate_plugin_sdk::config::<Config>()?;
        Ok(Manifest::new(
            Phases::AUTHORIZER
                | Phases::VALIDATOR
                | Phases::REQUEST_TRANSFORMER
                | Phases::RESPONSE_TRANSFORMER,
        )
        .with_request_body())
    }

    fn authorize(_request: &RequestHead, _body: Option<&[u8]>, _ctx: &RequestContext) -> Decision {
        match attack() {
            "authorize-principal" => Decision::allow("p".repeat(1 << 20), [("k", "v")]),
            "authorize-crlf-principal" => Decision::allow("ada\r\nx-injected: 1", [("k", "v")]),
            "authorize-context" => Decision::allow(
                "ada",
                (0..100_000).map(|i| (format!("k{i}"), "v".to_string())),
            ),
            "authorize-respond-headers" => {
                Decision::Respond(response(200, many_headers(40_000), Vec::new()))
            }
            "authorize-respond-status" => Decision::Respond(response(1000, Vec::new(), Vec::new())),
            "authorize-respond-switch" => Decision::Respond(response(101, Vec::new(), Vec::new())),
            "authorize-respond-body" => {
                Decision::Respond(response(200, Vec::new(), vec![b'x'; 12 << 20]))
            }
            _ => Decision::allow("anyone", [("flood", "none")]),
        }
    }

    fn validate(_request: &RequestHead, _body: Option<&[u8]>, _ctx: &RequestContext) -> Verdict {
        match attack() {
            "validate-message" => Verdict::Reject("m".repeat(10 << 20)),
            _ => Verdict::Accept,
        }
    }

    fn transform_request(
        _request: &RequestHead,
        _body: Option<&[u8]>,
        _ctx: &RequestContext,
    ) -> RequestAction {
        let mut changes = RequestChanges::none();
        let Some(what) = attack().strip_prefix("request-") else {
            return RequestAction::Continue(changes);
        };
        if let Some(headers) = header_attack(what) {
            changes.set_headers = headers;
            return RequestAction::Continue(changes);
        }
        match what {
            "removes" => changes.remove_headers = many_removals(),
            "path-crlf" => changes.path = Some("/a HTTP/1.1\r\nx-injected: 1\r\n\r\n".into()),
            "path-long" => changes.path = Some(format!("/{}", "a".repeat(1 << 20))),
            "path-dots" => changes.path = Some("/a/%2e%2e/%2e%2e/admin".into()),
            "query-crlf" => changes.query = Some("a=1 HTTP/1.1\r\nx-injected: 1".into()),
            "query-long" => changes.query = Some("q".repeat(1 << 20)),
            "method-long" => changes.method = Some("M".repeat(1 << 20)),
            "method-space" => changes.method = Some("GET /x".into()),
            "method-connect" => changes.method = Some("CONNECT".into()),
            "body" => changes.body = Some(vec![b'x'; 12 << 20]),
            "respond-headers" => {
                return RequestAction::Respond(response(200, many_headers(40_000), Vec::new()))
            }
            "respond-status" => return RequestAction::Respond(response(0, Vec::new(), Vec::new())),
            _ => {}
        }
        RequestAction::Continue(changes)
    }

    fn transform_response(
        _response: &ResponseHead,
        _body: Option<&[u8]>,
        _ctx: &RequestContext,
    ) -> ResponseChanges {
        let mut changes = ResponseChanges::none();
        let Some(what) = attack().strip_prefix("response-") else {
            return changes;
        };
        if let Some(headers) = header_attack(what) {
            changes.set_headers = headers;
            return changes;
        }
        match what {
            "removes" => changes.remove_headers = many_removals(),
            "status" => changes.status = Some(1000),
            "status-informational" => changes.status = Some(100),
            "status-no-content" => changes.status = Some(204),
            "status-not-modified" => changes.status = Some(304),
            "body" => changes.body = Some(vec![b'x'; 12 << 20]),
            _ => {}
        }
        changes
    }
}

wasmgate_plugin_sdk::export!(Flood);
