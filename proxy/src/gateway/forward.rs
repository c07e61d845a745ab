//! The upstream side of http integrations, shared by both ways of reaching a backend:
//! pingora's streaming proxy (most routes) and the gateway's own buffered exchange for routes
//! whose plugins need whole bodies — pingora can re-send a consumed request body only from its
//! 64 KiB retry buffer, so those routes read the body, run their plugins, and then send and
//! receive themselves over pingora's pooled connector.

use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::HeaderName;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use super::context::{RequestCtx, RequestValues};
use super::respond::REQUEST_ID_HEADER;
use super::{caching, errors, respond, responses, trace};
use crate::cache::ResponseCache;
use crate::edge::HOP_BY_HOP;
use crate::gateway_response::ErrorKind;
use crate::integration::HttpIntegration;
use crate::metrics::METRICS;
use crate::plugin::MAX_PLUGIN_BODY;

/// Longest wait for a TCP connection to a backend, whatever the integration timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle backend connection is kept for reuse.
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
static CONNECTOR: LazyLock<Connector> = LazyLock::new(|| Connector::new(None));

/// `X-Forwarded-For`, read by client-address resolution and extended for backends.
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// W3C trace context.
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// How the client reached the gateway. (Static names: a `&str` name is parsed per request.)
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// The headers [`prepare_request`] sets on every request: `Host`, the request id,
/// `traceparent`, `X-Forwarded-For` and `-Proto`, and one to spare (a client certificate).
const ADDED_HEADERS: usize = 6;

/// The peer for backend `addr` of `http`, with the integration's timeouts, over TLS for an
/// `https://` URI and in HTTP/2 when the upstream says so.
pub fn peer(http: &HttpIntegration, addr: SocketAddr) -> HttpPeer {
    let mut peer = HttpPeer::new(addr, false, String::new());
    if http.tls {
        http.pool.tls.apply(&mut peer, http.pool.host(addr));
    }
    if http.pool.http2 {
        peer.options.set_http_version(2, 2);
    }
    let options = &mut peer.options;
    options.connection_timeout = Some(http.timeout.min(MAX_CONNECT_TIMEOUT));
    options.read_timeout = Some(http.timeout);
    options.write_timeout = Some(http.timeout);
    options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);
    peer
}

/// Turn the client's request into the backend's: URI, `Host`, request id, trace context,
/// `X-Forwarded-*`, plugin edits, then the integration's parameter mappings.
pub fn prepare_request(
    request: &RequestHeader,
    upstream: &mut RequestHeader,
    ctx: &RequestCtx,
    http: &HttpIntegration,
) -> Result<()> {
    let values = RequestValues { request, ctx };
    let mut uri = ctx
        .upstream
        .as_ref()
        .map(|p| p.uri.clone())
        .unwrap_or_default();
    if let Some(method) = &http.method {
        upstream.set_method(method.clone());
    }
    // Room for the headers below at once: a cloned request's maps are exactly full.
    upstream.reserve_headers(ADDED_HEADERS);
    upstream.insert_header(http::header::HOST, http.host_header.clone())?;
    upstream.insert_header(&REQUEST_ID_HEADER, &ctx.request_id)?;
    let incoming = request
        .headers
        .get(&TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    upstream.insert_header(&TRACEPARENT, trace::child_traceparent(incoming))?;
    if let Some(ip) = ctx.peer_ip {
        let mut forwarded = String::with_capacity(64);
        let earlier = request
            .headers
            .get(&X_FORWARDED_FOR)
            .and_then(|v| v.to_str().ok());
        if let Some(earlier) = earlier {
            forwarded.push_str(earlier);
            forwarded.push_str(", ");
        }
        push_ip(&mut forwarded, ip);
        upstream.insert_header(&X_FORWARDED_FOR, forwarded)?;
    }
    upstream.insert_header(&X_FORWARDED_PROTO, ctx.scheme())?;
    super::transport::forward_client_cert(request, upstream, ctx)?;
    ctx.edits.apply(upstream)?;
    http.request_mapping.apply(upstream, &mut uri, &values)?;
    let path = uri.split('?').next().unwrap_or_default();
    if let Err(e) = crate::edge::path::check_built(path) {
        // Whatever built it (a template, a mapping, a plugin), from values a caller may
        // control: refused rather than climbing out of the integration's prefix or meaning
        // something else to the backend.
        return Err(Error::explain(
            ErrorType::HTTPStatus(errors::BAD_UPSTREAM_PATH),
            format!("integration path `{}`: {e}", path.escape_debug()),
        ));
    }
    let uri = uri
        .parse::<http::Uri>()
        .map_err(|e| Error::because(ErrorType::InternalError, "invalid upstream URI", e))?;
    upstream.set_uri(uri);
    Ok(())
}

/// Append `ip` as text: IPv4 digit by digit (the common case, where `Display` costs about a
/// thousand instructions a request), IPv6 through `Display`.
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (index, octet) in v4.octets().into_iter().enumerate() {
                if index > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Tell a client that sent `Expect: 100-continue` to go on: the gateway itself is about to
/// read the body (the streaming path leaves that to the backend, which sees the header).
async fn continue_if_expected(session: &mut Session) -> Result<()> {
    let expects = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects {
        session
            .as_downstream_mut()
            .write_continue_response()
            .await?;
    }
    Ok(())
}

/// Read the whole request body, up to `limit` bytes (`Err(RequestTooLarge)` past it).
pub async fn read_request_body(
    session: &mut Session,
    limit: u64,
) -> Result<Result<Bytes, ErrorKind>> {
    let mut body = BytesMut::new();
    let read = each_body_chunk(session, limit, |chunk| body.extend_from_slice(&chunk)).await?;
    Ok(read.map(|()| body.freeze()))
}

/// Read and drop the request body, up to `limit` bytes (`Err(RequestTooLarge)` past it): for
/// integrations that answer without it, so the limit holds there too.
pub async fn skip_request_body(session: &mut Session, limit: u64) -> Result<Result<(), ErrorKind>> {
    each_body_chunk(session, limit, drop).await
}

/// Hand each chunk of the request body to `take`, stopping once more than `limit` bytes came.
/// A failed read (a broken chunk, a client gone) is the client's error.
async fn each_body_chunk(
    session: &mut Session,
    limit: u64,
    mut take: impl FnMut(Bytes),
) -> Result<Result<(), ErrorKind>> {
    continue_if_expected(session).await?;
    let mut seen = 0u64;
    while let Some(chunk) = session
        .read_request_body()
        .await
        .map_err(|e| e.into_down())?
    {
        seen += chunk.len() as u64;
        if seen > limit {
            return Ok(Err(ErrorKind::RequestTooLarge));
        }
        take(chunk);
    }
    Ok(Ok(()))
}

/// Send the buffered request to a backend of `http` and answer the client with its response,
/// running the route's response transformers (with the whole body when one needs it).
pub async fn buffered_exchange(
    session: &mut Session,
    ctx: &mut RequestCtx,
    http: &HttpIntegration,
    body: Bytes,
    cache: &ResponseCache,
) -> Result<()> {
    let mut upstream_request = session.req_header().clone();
    for name in HOP_BY_HOP {
        upstream_request.remove_header(name);
    }
    upstream_request.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    prepare_request(session.req_header(), &mut upstream_request, ctx, http)?;
    ctx.integration_started = Some(Instant::now());

    // The integration timeout bounds the whole call, up to the response head: a backend that
    // trickles its answer a byte at a time cannot stretch it read by read.
    let deadline = tokio::time::Instant::now() + http.timeout;
    let (mut upstream, peer) = match connect(ctx, http).await {
        Ok(connected) => connected,
        Err(kind) => return respond::error(session, ctx, kind).await,
    };
    let exchange = async {
        upstream
            .write_request_header(Box::new(upstream_request))
            .await?;
        upstream.write_request_body(body, true).await?;
        upstream.finish_request_body().await?;
        upstream.read_response_header().await
    };
    let sent = tokio::time::timeout_at(deadline, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(Error::explain(
                ErrorType::ReadTimedout,
                "integration timeout",
            ))
        });
    if let Err(e) = sent {
        let kind = match e.etype() {
            ErrorType::ReadTimedout | ErrorType::WriteTimedout => ErrorKind::IntegrationTimeout,
            _ => ErrorKind::IntegrationFailure,
        };
        log::warn!("{}: backend exchange failed: {e}", ctx.request_id);
        return respond::error(session, ctx, kind).await;
    }
    let mut head = upstream
        .response_header()
        .cloned()
        .ok_or_else(|| Error::explain(ErrorType::InternalError, "response header read"))?;
    responses::integration_head(session.req_header(), &mut head, ctx)?;
    head.insert_header(&REQUEST_ID_HEADER, &ctx.request_id)?;
    super::cors::decorate(&mut head, session.req_header(), ctx)?;
    let needs_body = ctx
        .route
        .as_ref()
        .is_some_and(|r| r.plugins.needs_response_body());
    if needs_body {
        let mut body = BytesMut::new();
        while let Some(chunk) = upstream.read_response_body().await? {
            if body.len() + chunk.len() > MAX_PLUGIN_BODY {
                return respond::error(session, ctx, ErrorKind::IntegrationFailure).await;
            }
            body.extend_from_slice(&chunk);
        }
        let mut body = body.freeze();
        caching::record_body(ctx, Some(&body), true, cache);
        if let Err(kind) = responses::whole_response_phases(&mut head, &mut body, ctx).await {
            return respond::error(session, ctx, kind).await;
        }
        head.remove_header(&http::header::TRANSFER_ENCODING);
        head.insert_header(http::header::CONTENT_LENGTH, body.len())?;
        session.write_response_header(Box::new(head), false).await?;
        session.write_response_body(Some(body), true).await?;
    } else {
        responses::response_phases(&mut head, ctx).await?;
        session.write_response_header(Box::new(head), false).await?;
        while let Some(chunk) = upstream.read_response_body().await? {
            caching::record_body(ctx, Some(&chunk), false, cache);
            session.write_response_body(Some(chunk), false).await?;
        }
        caching::record_body(ctx, None, true, cache);
        session.write_response_body(None, true).await?;
    }
    CONNECTOR
        .release_http_session(upstream, &peer, Some(UPSTREAM_IDLE_TIMEOUT))
        .await;
    Ok(())
}

type Upstream = pingora::protocols::http::client::HttpSession;

/// A connection to the current backend failed: mark it down for its pool's `fail_timeout_ms`
/// when the failure says it is, and let pingora retry while another backend is left.
pub fn connect_failed(ctx: &RequestCtx, mut e: Box<Error>) -> Box<Error> {
    let (Some(http), Some(addr)) = (ctx.http_integration(), ctx.current_backend()) else {
        return e;
    };
    if errors::is_backend_failure(&e) {
        mark_down(http, addr);
        let tried = ctx
            .upstream
            .as_ref()
            .map_or(&[][..], |plan| &plan.tried[..]);
        e.set_retry(http.pool.pick(tried).is_some());
    }
    e
}

/// Skip backend `addr` of `http`'s pool for the pool's `fail_timeout_ms`, and count it.
fn mark_down(http: &HttpIntegration, addr: SocketAddr) {
    http.pool.mark_failed(addr);
    METRICS
        .upstream_failures
        .with_label_values(&[http.pool.name()])
        .inc();
}

/// Connect to the next healthy backend, failing over on connect errors like the streaming path.
async fn connect(
    ctx: &mut RequestCtx,
    http: &HttpIntegration,
) -> Result<(Upstream, HttpPeer), ErrorKind> {
    let plan = ctx.upstream.as_mut().ok_or(ErrorKind::InternalError)?;
    loop {
        let Some(addr) = http.pool.pick(&plan.tried) else {
            return Err(if plan.tried.is_empty() {
                ErrorKind::ServiceUnavailable
            } else {
                ErrorKind::IntegrationFailure
            });
        };
        plan.tried.push(addr);
        let peer = peer(http, addr);
        match CONNECTOR.get_http_session(&peer).await {
            Ok((session, _reused)) => return Ok((session, peer)),
            Err(e) => {
                if errors::is_backend_failure(&e) {
                    mark_down(http, addr);
                }
                if e.etype() == &ErrorType::ConnectTimedout && http.pool.pick(&plan.tried).is_none()
                {
                    return Err(ErrorKind::IntegrationTimeout);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for text in [
            "0.0.0.0",
            "9.10.99.100",
            "255.255.255.255",
            "127.0.0.1",
            "::1",
            "2001:db8::7",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            let mut written = String::new();
            push_ip(&mut written, ip);
            assert_eq!(written, ip.to_string());
        }
    }
}
