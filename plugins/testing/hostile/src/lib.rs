//! A deliberately hostile authorizer for the gateway's sandbox tests: depending on the request's
//! `x-attack` header it loops forever, grows memory without bound, traps, returns an oversized
//! response (12 MiB, over the gateway's 10 MiB limit for plugin output), or tries to open a file or
//! a socket, or calls the URL in `x-target` through the `http` import (its principal then says
//! what happened; `http-flood` sends 40,000 headers, `http-host` its own `host` header;
//! `wasi-http` calls `x-target`'s `host:port` through the standard `wasi:http` instead), or reports the request headers it can see (`snoop`: it declares only
//! `x-attack` and `x-target`), or reads a response head that no request phase is lent
//! (`response-head`). Without the header it allows the request.

use wasmgate_plugin_sdk::host;
use wasmgate_plugin_sdk::prelude::*;

struct Hostile;

impl Plugin for Hostile {
    fn manifest() -> Result<Manifest, String> {
        Ok(Manifest::new(Phases::AUTHORIZER).with_request_headers(["x-attack", "x-target"]))
    }

    fn authorize(request: &RequestHead, _body: Option<&[u8]>, _ctx: &RequestContext) -> Decision {
        match request.header("x-attack").as_deref() {
            Some("loop") => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("memory") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some("trap") => panic!("hostile plugin traps on purpose"),
            Some("oversized") => Decision::Respond(Response {
                status: 200,
                headers: Vec::new(),
                body: vec![b'x'; 12 << 20],
            }),
            Some("file") => match std::fs::read_to_string("/etc/passwd") {
                Ok(_) => Decision::allow("file-read", [("leak", "passwd")]),
                Err(e) => Decision::allow("sandboxed", [("file", e.to_string())]),
            },
            Some(attack @ ("http" | "http-flood" | "http-host")) => {
                let url = request.header("x-target").unwrap_or_default();
                let headers = match attack {
                    "http-flood" => (0..40_000)
                        .map(|i| Header {
                            name: format!("x-flood-{i}"),
                            value: "v".into(),
                        })
                        .collect(),
                    "http-host" => vec![Header {
                        name: "host".into(),
                        value: "internal.example".into(),
                    }],
                    _ => Vec::new(),
                };
                let outgoing = host::OutgoingRequest {
                    method: "GET".into(),
                    url,
                    headers,
                    body: Vec::new(),
                    timeout_ms: Some(1000),
                };
                match host::send(&outgoing) {
                    Ok(response) => {
                        Decision::allow(format!("http-{}", response.status), [("via", "http")])
                    }
                    Err(host::HttpError::Denied(_)) => Decision::allow("denied", [("via", "http")]),
                    Err(_) => Decision::allow("failed", [("via", "http")]),
                }
            }
            Some("wasi-http") => {
                let authority = request.header("x-target").unwrap_or_default();
                Decision::allow(wasi_http_get(&authority), [("via", "wasi-http")])
            }
            Some("snoop") => {
                let headers = request.headers();
                let names: Vec<&str> = headers.iter().map(|h| h.name.as_str()).collect();
                Decision::allow(format!("sees-{}", names.join("+")), [("via", "snoop")])
            }
            Some("response-head") => {
                let status =
                    wasmgate_plugin_sdk::bindings::wasmgate::plugin::response_head::status();
                Decision::allow(format!("status-{status}"), [("leak", "response-head")])
            }
            Some("socket") => match std::net::TcpStream::connect("127.0.0.1:9") {
                Ok(_) => Decision::allow("socket-opened", [("leak", "socket")]),
                Err(e) => Decision::allow("sandboxed", [("socket", e.to_string())]),
            },
            _ => Decision::allow("anyone", [("hostile", "idle")]),
        }
    }
}

/// `GET http://<authority>/introspect` through the standard `wasi:http/outgoing-handler`:
/// `denied` when the host refuses it, else what happened.
fn wasi_http_get(authority: &str) -> String {
    use wasip2::http::types::{ErrorCode, Fields, OutgoingRequest, Scheme};
    let request = OutgoingRequest::new(Fields::new());
    let built = request.set_scheme(Some(&Scheme::Http)).is_ok()
        && request.set_authority(Some(authority)).is_ok()
        && request.set_path_with_query(Some("/introspect")).is_ok();
    if !built {
        return "unbuilt".into();
    }
    let outcome = wasip2::http::outgoing_handler::handle(request, None).and_then(|future| {
        future.subscribe().block();
        match future.get() {
            Some(Ok(response)) => response,
            _ => Err(ErrorCode::InternalError(None)),
        }
    });
    match outcome {
        Ok(response) => format!("http-{}", response.status()),
        Err(ErrorCode::HttpRequestDenied) => "denied".into(),
        Err(_) => "failed".into(),
    }
}

wasmgate_plugin_sdk::export!(Hostile);
