//! The `http` import: requests from plugins to allow-listed `host:port`s only, over pingora's
//! connector (pooled connections; `https://` verified against the system's roots), with a deadline, the bounds of [`output`] on what is sent,
//! and a cap on the response size.

use std::net::ToSocketAddrs;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;

use super::bindings::wasmgate::plugin::http::{HttpError, IncomingResponse, OutgoingRequest};
use super::bindings::wasmgate::plugin::types::Header;
use super::invoke::Fault;
use super::output;
use crate::tls::UpstreamTls;

/// Deadline when the plugin gives none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest response body handed to a plugin.
const MAX_RESPONSE_BYTES: usize = 4 << 20;

static CONNECTOR: LazyLock<Connector> = LazyLock::new(|| Connector::new(None));

/// Send `request` if its host is in `allowed`, giving up at its own timeout or at the calling
/// plugin's `deadline`, whichever comes first.
pub async fn send(
    allowed: &[String],
    request: OutgoingRequest,
    deadline: Instant,
) -> Result<IncomingResponse, HttpError> {
    let timeout = request
        .timeout_ms
        .map_or(DEFAULT_TIMEOUT, |ms| Duration::from_millis(ms.into()))
        .min(deadline.saturating_duration_since(Instant::now()));
    if timeout.is_zero() {
        return Err(HttpError::Timeout);
    }
    match tokio::time::timeout(timeout, exchange(allowed, request, timeout)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::Timeout),
    }
}

/// What a plugin sends is bounded like what it answers: method, target, headers (not `host`,
/// which the URL decides, nor the framing headers) and body.
fn check_request(request: &OutgoingRequest, path: &str) -> Result<(), Fault> {
    if request.method.len() > output::MAX_METHOD_BYTES || !output::is_token(&request.method) {
        return Err(Fault::Invalid("an invalid method".into()));
    }
    if path.len() > output::MAX_TARGET_BYTES || !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Fault::Invalid(
            "a URL path over 8 KiB or with spaces, control or non-ASCII characters".into(),
        ));
    }
    if request
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("host"))
    {
        return Err(Fault::Invalid(
            "a `host` header (the URL's authority is the host)".into(),
        ));
    }
    output::check_headers(&request.headers, &[])?;
    output::check_body(&request.body)
}

async fn exchange(
    allowed: &[String],
    request: OutgoingRequest,
    timeout: Duration,
) -> Result<IncomingResponse, HttpError> {
    let (tls, rest) = match (
        request.url.strip_prefix("http://"),
        request.url.strip_prefix("https://"),
    ) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => {
            return Err(HttpError::Denied(
                "only http:// and https:// URLs are supported".into(),
            ))
        }
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    };
    if !allowed
        .iter()
        .any(|host| host.eq_ignore_ascii_case(&authority))
    {
        return Err(HttpError::Denied(format!(
            "{authority} is not in allowed_hosts"
        )));
    }
    let failed = |e: &dyn std::fmt::Display| HttpError::Failed(e.to_string());
    check_request(&request, path).map_err(|e| failed(&e))?;
    let addr = tokio::task::spawn_blocking({
        let authority = authority.clone();
        move || authority.to_socket_addrs().ok().and_then(|mut a| a.next())
    })
    .await
    .map_err(|e| failed(&e))?
    .ok_or_else(|| HttpError::Failed(format!("cannot resolve {authority}")))?;
    let mut peer = HttpPeer::new(addr, false, String::new());
    if tls {
        // Verified against the system's roots (or `SSL_CERT_FILE`), by the URL's host.
        let host = authority
            .rsplit_once(':')
            .map_or(authority.as_str(), |(host, _)| host);
        UpstreamTls::default().apply(&mut peer, host.trim_matches(['[', ']']));
    }
    peer.options.connection_timeout = Some(timeout);
    peer.options.read_timeout = Some(timeout);
    peer.options.write_timeout = Some(timeout);

    let mut header = RequestHeader::build(request.method.as_str(), path.as_bytes(), None)
        .map_err(|e| failed(&e))?;
    header
        .insert_header("host", authority.as_str())
        .map_err(|e| failed(&e))?;
    for Header { name, value } in &request.headers {
        header
            .append_header(name.clone(), value.as_str())
            .map_err(|e| failed(&e))?;
    }
    header
        .insert_header("content-length", request.body.len())
        .map_err(|e| failed(&e))?;

    let (mut session, _reused) = CONNECTOR
        .get_http_session(&peer)
        .await
        .map_err(|e| failed(&e))?;
    session
        .write_request_header(Box::new(header))
        .await
        .map_err(|e| failed(&e))?;
    session
        .write_request_body(Bytes::from(request.body), true)
        .await
        .map_err(|e| failed(&e))?;
    session
        .finish_request_body()
        .await
        .map_err(|e| failed(&e))?;
    session
        .read_response_header()
        .await
        .map_err(|e| failed(&e))?;
    let (status, headers) = {
        let head = session
            .response_header()
            .ok_or_else(|| HttpError::Failed("no response header".into()))?;
        let headers = head
            .headers
            .iter()
            .map(|(name, value)| Header {
                name: name.as_str().to_string(),
                value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            })
            .collect();
        (head.status.as_u16(), headers)
    };
    let mut body = Vec::new();
    while let Some(chunk) = session.read_response_body().await.map_err(|e| failed(&e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(HttpError::Failed("response body over 4 MiB".into()));
        }
        body.extend_from_slice(&chunk);
    }
    CONNECTOR.release_http_session(session, &peer, None).await;
    Ok(IncomingResponse {
        status,
        headers,
        body,
    })
}
