//! What a plugin may hand back. Every answer is checked against these bounds, in one pass over
//! what was returned, before the gateway applies any of it: a third-party component must not
//! be able to make the gateway panic, stall a worker or send a malformed or smuggled request
//! upstream. An answer out of bounds is the plugin's fault (counted as `invalid`), answered by
//! its failure mode like a trap.

use super::bindings::authorizer::Decision;
use super::bindings::cache_policy::{CacheDecision, CacheRule};
use super::bindings::request_transformer::{RequestAction, RequestChanges};
use super::bindings::response_transformer::ResponseChanges;
use super::bindings::types::{Entry, Header, Response};
use super::bindings::validator::Verdict;
use super::invoke::Fault;
use crate::edge::HOP_BY_HOP;

/// Most headers one answer may set and remove together (a response: carry).
pub const MAX_HEADERS: usize = 100;
/// Most bytes of header names and values one answer may carry.
pub const MAX_HEADER_BYTES: usize = 64 << 10;
/// Most headers the route's transformers may set on a request together, and most headers a
/// response may have after its response transformers.
pub const MAX_TOTAL_HEADERS: usize = 512;
/// Most bytes of header names and values the route's request transformers may set together.
pub const MAX_TOTAL_HEADER_BYTES: usize = 256 << 10;
/// Largest body a plugin may hand back (a response or a replacement body).
pub const MAX_BODY: usize = 10 << 20;
/// Longest path, and longest query, a request transformer may set.
pub const MAX_TARGET_BYTES: usize = 8192;
/// Longest method a request transformer may set.
pub const MAX_METHOD_BYTES: usize = 32;
/// Longest message of a validator's rejection, and longest principal of an authorizer.
pub const MAX_TEXT_BYTES: usize = 1024;
/// Most entries of an authorizer's context.
pub const MAX_CONTEXT_ENTRIES: usize = 64;
/// Most bytes of keys and values in an authorizer's context.
pub const MAX_CONTEXT_BYTES: usize = 8 << 10;
/// Longest cache key a cache policy may choose.
pub const MAX_CACHE_KEY: usize = 1024;

/// Headers the gateway alone writes besides the hop-by-hop ones (`edge::HOP_BY_HOP`):
/// together they frame the message or the connection (or, `expect`, change the exchange), so a
/// plugin setting or removing one could desynchronise the client or the backend (request
/// smuggling).
const FRAMING: [&str; 2] = ["content-length", "expect"];

/// Whether only the gateway may set or remove header `name`.
pub fn gateway_owned(name: &str) -> bool {
    HOP_BY_HOP
        .iter()
        .chain(&FRAMING)
        .any(|owned| owned.eq_ignore_ascii_case(name))
}

fn invalid(what: impl Into<String>) -> Fault {
    Fault::Invalid(what.into())
}

/// A shortened, escaped copy of text a plugin returned, for an error message.
fn shown(text: &str) -> String {
    let end = text.floor_char_boundary(64);
    let more = if end < text.len() { "…" } else { "" };
    format!("`{}{more}`", text[..end].escape_debug())
}

/// An HTTP token (RFC 9110 §5.6.2): a header name or a method.
pub fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `text` may be a header value as it is: no control characters but tab.
pub fn is_field_value(text: &str) -> bool {
    text.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Headers one answer sets (`set`) and removes (`removed`): within the count and byte bounds,
/// names valid and not the gateway's own, values valid.
pub fn check_headers(set: &[Header], removed: &[String]) -> Result<(), Fault> {
    let count = set.len() + removed.len();
    if count > MAX_HEADERS {
        return Err(invalid(format!("{count} headers (at most {MAX_HEADERS})")));
    }
    let mut bytes = 0;
    for name in removed.iter().chain(set.iter().map(|h| &h.name)) {
        check_name(name)?;
        bytes += name.len();
    }
    for Header { name, value } in set {
        if !is_field_value(value) {
            return Err(invalid(format!(
                "a control character in the value of header {}",
                shown(name)
            )));
        }
        bytes += value.len();
    }
    if bytes > MAX_HEADER_BYTES {
        return Err(invalid(format!(
            "{bytes} bytes of headers (at most {MAX_HEADER_BYTES})"
        )));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), Fault> {
    if !is_token(name) {
        return Err(invalid(format!("header name {}", shown(name))));
    }
    if gateway_owned(name) {
        return Err(invalid(format!(
            "header `{}`, which only the gateway may set",
            name.to_ascii_lowercase()
        )));
    }
    Ok(())
}

/// A final status: 200 to 599 (an informational or switching status would break the exchange).
fn check_status(status: u16) -> Result<(), Fault> {
    if (200..=599).contains(&status) {
        Ok(())
    } else {
        Err(invalid(format!("status {status} (from 200 to 599)")))
    }
}

/// A body within [`MAX_BODY`].
pub fn check_body(body: &[u8]) -> Result<(), Fault> {
    if body.len() > MAX_BODY {
        return Err(invalid(format!(
            "a body of {} bytes (at most {MAX_BODY})",
            body.len()
        )));
    }
    Ok(())
}

/// A whole response a plugin answers with.
pub fn check_response(response: &Response) -> Result<(), Fault> {
    check_status(response.status)?;
    if matches!(response.status, 204 | 304) && !response.body.is_empty() {
        return Err(invalid(format!(
            "a body with status {}, which has none",
            response.status
        )));
    }
    check_headers(&response.headers, &[])?;
    check_body(&response.body)
}

/// An authorizer's decision: a principal and context that fit in headers and logs.
pub fn check_decision(decision: &Decision) -> Result<(), Fault> {
    match decision {
        Decision::Allow(allow) => {
            check_text("principal", &allow.principal)?;
            check_context(&allow.context)
        }
        Decision::Respond(response) => check_response(response),
        Decision::Unauthorized | Decision::Forbidden => Ok(()),
    }
}

fn check_text(what: &str, text: &str) -> Result<(), Fault> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(invalid(format!(
            "a {what} of {} bytes (at most {MAX_TEXT_BYTES})",
            text.len()
        )));
    }
    if !is_field_value(text) {
        return Err(invalid(format!("a control character in the {what}")));
    }
    Ok(())
}

fn check_context(context: &[Entry]) -> Result<(), Fault> {
    if context.len() > MAX_CONTEXT_ENTRIES {
        return Err(invalid(format!(
            "{} context entries (at most {MAX_CONTEXT_ENTRIES})",
            context.len()
        )));
    }
    let bytes: usize = context.iter().map(|e| e.key.len() + e.value.len()).sum();
    if bytes > MAX_CONTEXT_BYTES {
        return Err(invalid(format!(
            "{bytes} bytes of context (at most {MAX_CONTEXT_BYTES})"
        )));
    }
    match context
        .iter()
        .find(|e| !is_token(&e.key) || !is_field_value(&e.value))
    {
        Some(entry) => Err(invalid(format!(
            "context entry {}: keys are tokens, values have no control characters",
            shown(&entry.key)
        ))),
        None => Ok(()),
    }
}

/// A validator's verdict: a rejection message that fits in an error body.
pub fn check_verdict(verdict: &Verdict) -> Result<(), Fault> {
    match verdict {
        Verdict::Reject(message) => check_text("rejection message", message),
        Verdict::Accept => Ok(()),
    }
}

/// A request transformer's action.
pub fn check_request_action(action: &RequestAction) -> Result<(), Fault> {
    match action {
        RequestAction::Respond(response) => check_response(response),
        RequestAction::Continue(changes) => check_request_changes(changes),
    }
}

fn check_request_changes(changes: &RequestChanges) -> Result<(), Fault> {
    if let Some(method) = &changes.method {
        // CONNECT would turn the backend connection into a tunnel the gateway does not run.
        if method.len() > MAX_METHOD_BYTES || !is_token(method) || method == "CONNECT" {
            return Err(invalid(format!("method {}", shown(method))));
        }
    }
    if let Some(path) = &changes.path {
        check_path(path)?;
    }
    if let Some(query) = &changes.query {
        check_query(query)?;
    }
    check_headers(&changes.set_headers, &changes.remove_headers)?;
    changes.body.as_deref().map_or(Ok(()), check_body)
}

/// A path a plugin builds: absolute, within [`MAX_TARGET_BYTES`], only path characters, no
/// dot segments.
pub fn check_path(path: &str) -> Result<(), Fault> {
    if path.len() > MAX_TARGET_BYTES {
        return Err(invalid(format!(
            "a path of {} bytes (at most {MAX_TARGET_BYTES})",
            path.len()
        )));
    }
    crate::edge::path::check_built(path).map_err(|e| invalid(format!("path {}: {e}", shown(path))))
}

/// A raw query a plugin builds: within [`MAX_TARGET_BYTES`], visible ASCII without `#`.
fn check_query(query: &str) -> Result<(), Fault> {
    if query.len() > MAX_TARGET_BYTES {
        return Err(invalid(format!(
            "a query of {} bytes (at most {MAX_TARGET_BYTES})",
            query.len()
        )));
    }
    if !query.bytes().all(|b| b.is_ascii_graphic() && b != b'#') {
        return Err(invalid(format!(
            "query {}: only visible ASCII without `#` (percent-encode the rest)",
            shown(query)
        )));
    }
    Ok(())
}

/// A response transformer's changes.
pub fn check_response_changes(changes: &ResponseChanges) -> Result<(), Fault> {
    if let Some(status) = changes.status {
        check_status(status)?;
    }
    check_headers(&changes.set_headers, &changes.remove_headers)?;
    changes.body.as_deref().map_or(Ok(()), check_body)
}

/// A cache policy's decision: a bounded key and TTL.
pub fn check_cache_decision(decision: &CacheDecision) -> Result<(), Fault> {
    let (CacheDecision::Cache(rule) | CacheDecision::Refresh(rule)) = decision else {
        return Ok(());
    };
    let CacheRule { key, ttl_seconds } = rule;
    if key.len() > MAX_CACHE_KEY {
        return Err(invalid(format!(
            "a cache key of {} bytes (at most {MAX_CACHE_KEY})",
            key.len()
        )));
    }
    if u64::from(*ttl_seconds) > crate::cache::MAX_TTL.as_secs() {
        return Err(invalid(format!(
            "a TTL of {ttl_seconds} s (at most {})",
            crate::cache::MAX_TTL.as_secs()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: &str) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn headers_are_bounded_in_count_and_bytes() {
        let many: Vec<Header> = (0..=MAX_HEADERS)
            .map(|i| header(&format!("x-{i}"), "v"))
            .collect();
        assert!(check_headers(&many[..MAX_HEADERS], &[]).is_ok());
        assert!(check_headers(&many, &[]).is_err());
        let removed: Vec<String> = (0..MAX_HEADERS).map(|i| format!("x-{i}")).collect();
        assert!(check_headers(&many[..1], &removed).is_err());
        let big = header("x-big", &"v".repeat(MAX_HEADER_BYTES));
        assert!(check_headers(&[big], &[]).is_err());
    }

    #[test]
    fn header_names_and_values_must_be_valid_and_not_the_gateways() {
        for (name, value) in [
            ("bad name", "v"),
            ("", "v"),
            ("x-ok", "line\r\nx-injected: 1"),
            ("x-ok", "nul\0"),
            ("Content-Length", "0"),
            ("transfer-encoding", "chunked"),
            ("connection", "close"),
        ] {
            assert!(
                check_headers(&[header(name, value)], &[]).is_err(),
                "{name}: {value:?}"
            );
        }
        assert!(check_headers(&[], &["Transfer-Encoding".into()]).is_err());
        assert!(check_headers(&[header("X-Ok", "tab\tand ünïcode")], &[]).is_ok());
    }

    #[test]
    fn statuses_are_final_and_bodiless_ones_have_no_body() {
        let response = |status, body: &[u8]| Response {
            status,
            headers: Vec::new(),
            body: body.to_vec(),
        };
        for status in [0, 99, 100, 101, 600, 1000] {
            assert!(check_response(&response(status, b"")).is_err(), "{status}");
        }
        assert!(check_response(&response(204, b"x")).is_err());
        assert!(check_response(&response(204, b"")).is_ok());
        assert!(check_response(&response(599, b"x")).is_ok());
    }

    #[test]
    fn targets_are_checked() {
        assert!(check_path("/ok/path").is_ok());
        for path in [
            "no-slash",
            "/a b",
            "/a\r\nb",
            "/../etc",
            &format!("/{}", "a".repeat(MAX_TARGET_BYTES)),
        ] {
            assert!(check_path(path).is_err(), "{path}");
        }
        assert!(check_query("a=1&b=%20").is_ok());
        for query in ["a b", "a\r\n", "a#b", "ü"] {
            assert!(check_query(query).is_err(), "{query}");
        }
    }

    #[test]
    fn authorizer_context_is_bounded() {
        let entry = |key: &str, value: &str| Entry {
            key: key.into(),
            value: value.into(),
        };
        assert!(check_context(&[entry("tier", "gold")]).is_ok());
        assert!(check_context(&[entry("bad key", "v")]).is_err());
        assert!(check_context(&[entry("k", "a\nb")]).is_err());
        let many: Vec<Entry> = (0..=MAX_CONTEXT_ENTRIES)
            .map(|i| entry(&format!("k{i}"), "v"))
            .collect();
        assert!(check_context(&many).is_err());
        assert!(check_context(&[entry("k", &"v".repeat(MAX_CONTEXT_BYTES))]).is_err());
    }
}
