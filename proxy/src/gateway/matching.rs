//! The front of the pipeline, the same for every request: the edge's checks on the head, the
//! client's address, the transport's (redirect, SNI and `Host`, mutual TLS), the stage (host and path prefix), the API's resource policy, CORS
//! preflights, the route, and the body limit a `Content-Length` already breaks. What it
//! refuses it refuses before any route's steps, still taking a token from the account's bucket
//! so floods of unknown paths are throttled.

use std::net::IpAddr;

use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::context::RequestCtx;
use super::cors;
use super::forward::X_FORWARDED_FOR;
use super::outcome::{Answer, Refusal};
use super::transport::{self, Verdict};
use crate::config::ApiKind;
use crate::gateway_response::ErrorKind;

/// What the front decided: the path after the stage for a matched route, or the answer.
pub enum Front {
    /// A route matched; the request path after the stage prefix.
    Matched(String),
    /// The request is answered here.
    Answered(Answer),
    /// The answer was written already (a CORS preflight).
    Written,
}

/// Run the front of the pipeline on the request.
pub async fn match_request(session: &mut Session, ctx: &mut RequestCtx) -> Result<Front> {
    let limits = &ctx.snapshot.server.limits;
    if let Err(refused) = crate::edge::check_head(session.req_header_mut(), limits) {
        session.set_keepalive(None);
        let refusal = Refusal::with_message(refused.kind, refused.message);
        return Ok(Front::Answered(Answer::Refused(refusal)));
    }
    ctx.peer_ip = session
        .client_addr()
        .and_then(|addr| addr.as_inet())
        .map(|addr| addr.ip());
    ctx.source_ip = client_ip(session.req_header(), ctx);
    ctx.tls = session.digest().and_then(|d| d.ssl_digest.clone());
    if ctx.tls.is_some() || ctx.snapshot.transport.checks_plaintext() {
        let host = host_name(session.req_header()).map(str::to_string);
        match transport::check(session, ctx, host.as_deref()).await? {
            Verdict::Pass => {}
            Verdict::Refused(refusal) => return Ok(Front::Answered(unrouted(ctx, refusal))),
            Verdict::Written => return Ok(Front::Written),
        }
    }
    let stage_path = match resolve_stage(session.req_header(), ctx) {
        Ok(stage_path) => stage_path,
        Err(refusal) => return Ok(Front::Answered(unrouted(ctx, refusal))),
    };
    if cors::answer_preflight(session, ctx).await? {
        return Ok(Front::Written);
    }
    if let Err(refusal) = match_route(session.req_header(), ctx, &stage_path) {
        return Ok(Front::Answered(unrouted(ctx, refusal)));
    }
    Ok(Front::Matched(stage_path))
}

/// A refusal before any route's steps ran: unless a route matched, the request still takes a
/// token from the account's bucket (a 429 then instead).
fn unrouted(ctx: &RequestCtx, refusal: Refusal) -> Answer {
    if ctx.route.is_none() {
        if let Err(wait) = ctx.snapshot.account_throttle.admit() {
            let (api, stage) = ctx.api_and_stage_names();
            crate::metrics::METRICS
                .throttled
                .with_label_values(&[api, stage, "", crate::throttle::Level::Account.label()])
                .inc();
            return Answer::Refused(Refusal::throttled(wait));
        }
    }
    Answer::Refused(refusal)
}

/// The client's address: the peer, or who a trusted proxy says it forwards for.
fn client_ip(request: &RequestHeader, ctx: &RequestCtx) -> Option<IpAddr> {
    let peer = ctx.peer_ip?;
    let forwarded_for = || {
        request
            .headers
            .get(&X_FORWARDED_FOR)
            .and_then(|value| value.to_str().ok())
    };
    Some(ctx.snapshot.trusted_proxies.client_ip(peer, forwarded_for))
}

/// Match the request to a stage whose API's resource policy lets the caller in: the path after
/// the stage.
fn resolve_stage(request: &RequestHeader, ctx: &mut RequestCtx) -> Result<String, Refusal> {
    let path = request.uri.path();
    let host = if ctx.snapshot.maps_hosts() {
        host_name(request)
    } else {
        None
    };
    let stage_match = ctx
        .snapshot
        .resolve(host, path)
        .ok_or(Refusal::new(ErrorKind::ResourceNotFound))?;
    let stage = stage_match.stage.clone();
    let stage_path = stage_match.path.to_string();
    ctx.stage = Some(stage.clone());
    if let Some(policy) = &stage.api.resource_policy {
        if !policy.permits(ctx.source_ip) {
            let message = crate::policy::denied_message(
                &stage.api.name,
                &stage.name,
                request.method.as_str(),
                &stage_path,
            );
            return Err(Refusal::with_message(ErrorKind::AccessDenied, message));
        }
    }
    Ok(stage_path)
}

/// Match the request to a route of its stage, and refuse a body its `Content-Length` already
/// puts over the limit (before any `100 Continue`).
fn match_route(
    request: &RequestHeader,
    ctx: &mut RequestCtx,
    stage_path: &str,
) -> Result<(), Refusal> {
    let stage = ctx
        .stage
        .clone()
        .ok_or(Refusal::new(ErrorKind::ResourceNotFound))?;
    let found = match stage.router.find(&request.method, stage_path) {
        Some(found) => Some((found.value.clone(), found.params)),
        None => stage.default_route.clone().map(|route| (route, Vec::new())),
    };
    let (route, params) = found.ok_or(Refusal::new(match stage.api.kind {
        ApiKind::Rest => ErrorKind::MissingAuthenticationToken,
        ApiKind::Http => ErrorKind::ResourceNotFound,
    }))?;
    ctx.route = Some(route);
    ctx.params = params;
    if content_length(request).is_some_and(|length| length > stage.api.max_request_body_bytes) {
        return Err(Refusal::new(ErrorKind::RequestTooLarge));
    }
    Ok(())
}

/// The request's host name without port: the URI authority (HTTP/2) or the `Host` header.
pub fn host_name(request: &RequestHeader) -> Option<&str> {
    let host = match request.uri.host() {
        Some(host) => host,
        None => request.headers.get(http::header::HOST)?.to_str().ok()?,
    };
    if let Some(bracketed) = host.strip_prefix('[') {
        return bracketed.split(']').next();
    }
    Some(host.split(':').next().unwrap_or(host))
}

fn content_length(request: &RequestHeader) -> Option<u64> {
    request
        .headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
