//! The request pipeline on pingora's [`ProxyHttp`] phases.
//!
//! ```text
//! request_filter ─► the edge's checks on the head (limits, Host, path normalised; `edge`)
//!                   ─► client address (trusted proxies) ─► resolve stage (host, path prefix)
//!                   ─► the API's resource policy ─► CORS preflight (answered here)
//!                   ─► match route ─► body limit
//!                   ─► throttles ─► API key (x-api-key) and usage plan
//!                   ─► plugins: authorizers (─► API key from an authorizer) ─► validators
//!                   ─► request transformers
//!                   ─► cache policy (http integrations): a hit is answered from the cache
//!                   ├─ mock integration: response transformers, write the response, done
//!                   └─ http / http_proxy: plan the upstream URI
//! upstream_peer ─► next healthy backend of the pool (connect failure: mark it down, retry another)
//! upstream_request_filter ─► URI, Host, x-request-id, traceparent, X-Forwarded-*, request mappings
//! request_body_filter ─► count bytes, 413 past the limit
//! upstream_response_filter ─► integration latency, response mappings, cache recording,
//!                            response transformers
//! response_body_filter ─► cache recording (stored at the end of a complete response)
//! response_filter ─► x-request-id, CORS headers (also on every response the gateway writes)
//! fail_to_proxy ─► timeout 504, refused 502, no healthy backend 503, JSON body
//! invalid_request_response ─► a head pingora refused itself: 400 / 431, JSON body
//! logging ─► metrics, access log
//! ```

mod caching;
mod context;
mod cors;
mod errors;
mod forward;
mod keys;
mod plugins;
mod respond;
mod trace;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use crate::access_log::AccessRecord;
use crate::gateway_response::ErrorKind;
use crate::integration::Integration;
use crate::snapshot::Route;
use crate::state::State;
use crate::throttle;

use context::{RequestCtx, RequestValues, UpstreamPlan};
use respond::REQUEST_ID_HEADER;

/// The gateway's proxy logic.
pub struct Gateway {
    state: Arc<State>,
}

impl Gateway {
    /// The proxy over the shared state.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }

    /// Match the request to a stage whose API's resource policy lets the caller in; the path
    /// after the stage, or `Err` when the gateway must answer itself.
    fn resolve_stage(&self, session: &Session, ctx: &mut RequestCtx) -> Result<String, Refused> {
        let request = session.req_header();
        let host = host_name(request);
        let path = request.uri.path();
        let stage_match = ctx
            .snapshot
            .resolve(host, path)
            .ok_or((ErrorKind::ResourceNotFound, None))?;
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
                return Err((ErrorKind::AccessDenied, Some(message)));
            }
        }
        Ok(stage_path)
    }

    /// Match the request to a route of its stage; `Err` when the gateway must answer itself.
    fn route(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
        stage_path: &str,
    ) -> Result<(), Refused> {
        let request = session.req_header();
        let stage = ctx
            .stage
            .clone()
            .ok_or((ErrorKind::ResourceNotFound, None))?;
        let found = match stage.router.find(&request.method, stage_path) {
            Some(found) => Some((found.value.clone(), found.params)),
            None => stage.default_route.clone().map(|route| (route, Vec::new())),
        };
        let (route, params) = found.ok_or(match stage.api.kind {
            crate::config::ApiKind::Rest => (ErrorKind::MissingAuthenticationToken, None),
            crate::config::ApiKind::Http => (ErrorKind::ResourceNotFound, None),
        })?;
        ctx.route = Some(route);
        ctx.params = params;
        let too_large =
            content_length(request).is_some_and(|length| length > stage.api.max_request_body_bytes);
        if too_large {
            return Err((ErrorKind::RequestTooLarge, None));
        }
        Ok(())
    }
}

/// An error the gateway answers itself, with its message when not the kind's own.
type Refused = (ErrorKind, Option<String>);

/// Answer a request the gateway refuses before it has a route (no stage, no route, a policy
/// denial, a body over the limit). It still takes a token from the account's bucket, so a
/// flood of unknown paths is throttled like any other traffic.
async fn refuse_unrouted(
    session: &mut Session,
    ctx: &mut RequestCtx,
    refused: Refused,
) -> Result<bool> {
    let (kind, message) = refused;
    if ctx.route.is_none() {
        if let Err(wait) = ctx.snapshot.account_throttle.admit() {
            let (api, stage) = ctx
                .stage
                .as_ref()
                .map_or(("", ""), |s| (s.api.name.as_str(), s.name.as_str()));
            crate::metrics::METRICS
                .throttled
                .with_label_values(&[api, stage, "", throttle::Level::Account.label()])
                .inc();
            respond::throttled(session, ctx, throttle::retry_after_seconds(wait)).await?;
            return Ok(true);
        }
    }
    respond::error_with_message(session, ctx, kind, message.as_deref()).await?;
    Ok(true)
}

/// The client's address: the peer, or who a trusted proxy says it forwards for.
fn client_ip(session: &Session, ctx: &RequestCtx) -> Option<std::net::IpAddr> {
    let peer = ctx.peer_ip?;
    let forwarded_for = session
        .req_header()
        .headers
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok());
    Some(ctx.snapshot.trusted_proxies.client_ip(peer, forwarded_for))
}

/// Take a token from each of the route's buckets, most specific first; the wait until the first
/// refusing bucket admits again.
fn throttle_wait(route: &Route, ctx: &RequestCtx) -> Option<Duration> {
    let (bucket, wait) = route
        .throttles
        .iter()
        .find_map(|bucket| bucket.admit().err().map(|wait| (bucket, wait)))?;
    let (api, stage) = ctx
        .stage
        .as_ref()
        .map_or(("", ""), |s| (s.api.name.as_str(), s.name.as_str()));
    crate::metrics::METRICS
        .throttled
        .with_label_values(&[api, stage, route.key.as_str(), bucket.level.label()])
        .inc();
    Some(wait)
}

/// The request's host name without port: the URI authority (HTTP/2) or the `Host` header.
fn host_name(request: &RequestHeader) -> Option<&str> {
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

fn internal(message: &'static str) -> Box<Error> {
    Error::explain(ErrorType::InternalError, message)
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            snapshot: self.state.snapshot(),
            request_id: trace::request_id(),
            started: Instant::now(),
            arrived: SystemTime::now(),
            source_ip: None,
            peer_ip: None,
            stage: None,
            route: None,
            params: Vec::new(),
            principal: None,
            authorizer_context: Vec::new(),
            edits: plugins::RequestEdits::default(),
            upstream: None,
            body_bytes: 0,
            error: None,
            integration_started: None,
            integration_latency: None,
            cache_fill: None,
            validation_error: None,
            api_key_id: None,
            plugin_context: None,
            _in_flight: self.state.drain.enter(),
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        crate::edge::connection::head_arrived();
        if self.state.drain.is_draining() {
            session.set_keepalive(None);
        }
        let limits = &ctx.snapshot.server.limits;
        if let Err(refusal) = crate::edge::check_head(session.req_header_mut(), limits) {
            session.set_keepalive(None);
            respond::error_with_message(session, ctx, refusal.kind, Some(&refusal.message)).await?;
            return Ok(true);
        }
        ctx.peer_ip = session
            .client_addr()
            .and_then(|addr| addr.as_inet())
            .map(|addr| addr.ip());
        ctx.source_ip = client_ip(session, ctx);
        let stage_path = match self.resolve_stage(session, ctx) {
            Ok(stage_path) => stage_path,
            Err(refused) => return refuse_unrouted(session, ctx, refused).await,
        };
        if cors::answer_preflight(session, ctx).await? {
            return Ok(true);
        }
        if let Err(refused) = self.route(session, ctx, &stage_path) {
            return refuse_unrouted(session, ctx, refused).await;
        }
        let route = ctx.route.clone().ok_or_else(|| internal("route matched"))?;
        if let Some(wait) = throttle_wait(&route, ctx) {
            respond::throttled(session, ctx, throttle::retry_after_seconds(wait)).await?;
            return Ok(true);
        }
        if keys::checked_from_header(&route, ctx) {
            let presented = session
                .req_header()
                .headers
                .get(keys::API_KEY_HEADER)
                .and_then(|value| value.to_str().ok());
            if let Err(refusal) = keys::admit(&self.state.keys, ctx, presented) {
                keys::refuse(session, ctx, refusal).await?;
                return Ok(true);
            }
        }
        let mut body = None;
        if route.reads_whole_body() {
            let limit = ctx
                .stage
                .as_ref()
                .map_or(u64::MAX, |s| s.api.max_request_body_bytes);
            match forward::read_request_body(session, limit).await? {
                Ok(read) => body = Some(read),
                Err(kind) => {
                    session.set_keepalive(None);
                    respond::error(session, ctx, kind).await?;
                    return Ok(true);
                }
            }
        }
        if plugins::request_phases(session, ctx, &mut body, &self.state.keys).await? {
            return Ok(true);
        }
        match &route.integration {
            Integration::Mock(mock) => {
                if body.is_none() {
                    let limit = ctx
                        .stage
                        .as_ref()
                        .map_or(u64::MAX, |s| s.api.max_request_body_bytes);
                    if let Err(kind) = forward::skip_request_body(session, limit).await? {
                        session.set_keepalive(None);
                        respond::error(session, ctx, kind).await?;
                        return Ok(true);
                    }
                }
                let mut head = ResponseHeader::build(mock.status, Some(mock.headers.len()))?;
                for (name, value) in &mock.headers {
                    head.append_header(name.clone(), value.clone())?;
                }
                plugins::write_whole_response(session, ctx, head, mock.body.clone()).await?;
                Ok(true)
            }
            Integration::Http(http) => {
                if caching::consult(session, ctx, &self.state.cache).await? {
                    return Ok(true);
                }
                let request = session.req_header();
                let values = RequestValues { request, ctx };
                let stage_path = ctx.edits.path.as_deref().unwrap_or(&stage_path);
                let query = match ctx.edits.query.as_deref() {
                    Some("") => None,
                    Some(query) => Some(query),
                    None => request.uri.query(),
                };
                let uri = http.upstream_uri(&values, stage_path, query);
                ctx.upstream = Some(UpstreamPlan {
                    uri,
                    tried: Vec::new(),
                });
                match body {
                    Some(body) => {
                        forward::buffered_exchange(session, ctx, http, body, &self.state.cache)
                            .await?;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let route = ctx.route.clone().ok_or_else(|| internal("route matched"))?;
        let Integration::Http(http) = &route.integration else {
            return Err(internal("mock routes never reach a backend"));
        };
        let plan = ctx
            .upstream
            .as_mut()
            .ok_or_else(|| internal("upstream planned"))?;
        let addr = http.pool.pick(&plan.tried).ok_or_else(|| {
            Error::explain(
                ErrorType::HTTPStatus(errors::NO_HEALTHY_BACKEND),
                format!("upstream `{}` has no healthy backend", http.pool.name()),
            )
        })?;
        plan.tried.push(addr);
        Ok(Box::new(forward::peer(http, addr)))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let (Some(http), Some(addr)) = (ctx.http_integration(), ctx.current_backend()) else {
            return e;
        };
        if errors::is_backend_failure(&e) {
            http.pool.mark_failed(addr);
            crate::metrics::METRICS
                .upstream_failures
                .with_label_values(&[http.pool.name()])
                .inc();
            let tried = ctx
                .upstream
                .as_ref()
                .map_or(&[][..], |plan| &plan.tried[..]);
            e.set_retry(http.pool.pick(tried).is_some());
        }
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let http = ctx
            .http_integration()
            .ok_or_else(|| internal("http route"))?;
        forward::prepare_request(session.req_header(), upstream_request, ctx, http)?;
        ctx.integration_started = Some(Instant::now());
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.body_bytes += body.as_ref().map_or(0, |b| b.len() as u64);
        let limit = ctx
            .stage
            .as_ref()
            .map_or(u64::MAX, |s| s.api.max_request_body_bytes);
        if ctx.body_bytes > limit {
            return Err(Error::explain(
                ErrorType::HTTPStatus(errors::BODY_TOO_LARGE),
                "request body over the limit",
            ));
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.integration_latency = ctx.integration_started.map(|started| started.elapsed());
        if let Some(http) = ctx.http_integration() {
            let values = RequestValues {
                request: session.req_header(),
                ctx,
            };
            http.response_mapping.apply(upstream_response, &values)?;
        }
        caching::record_head(ctx, upstream_response)?;
        plugins::response_phases(upstream_response, ctx).await
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        caching::record_body(ctx, body.as_deref(), end_of_stream, &self.state.cache);
        Ok(None)
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        upstream_response.insert_header(REQUEST_ID_HEADER, &ctx.request_id)?;
        cors::decorate(upstream_response, session.req_header(), ctx)
    }

    fn upstream_response_head_deadline(&self, ctx: &RequestCtx) -> Option<Duration> {
        ctx.http_integration().map(|http| http.timeout)
    }

    fn invalid_request_response(&self, error: &Error) -> Option<(ResponseHeader, Bytes)> {
        let kind = errors::refused_head_kind(error);
        log::debug!("refused request head: {error}");
        crate::metrics::METRICS
            .requests
            .with_label_values(&["", "", "", &kind.status().to_string()])
            .inc();
        respond::refused_head(kind).ok()
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, error: &Error) -> bool {
        // A client that hung up is not the gateway's error; it is still in the access log.
        errors::classify(error).is_none()
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let give_up = |error_code| FailToProxy {
            error_code,
            can_reuse_downstream: false,
        };
        let Some(kind) = errors::classify(e) else {
            return give_up(0);
        };
        let final_head_sent = session
            .response_written()
            .is_some_and(|head| !head.status.is_informational());
        if final_head_sent {
            // Headers already went out: all that is left is to close the connection.
            return give_up(0);
        }
        // The request body may be unread: this connection cannot carry another request.
        session.set_keepalive(None);
        match respond::error_with_message(session, ctx, kind, None).await {
            Ok(status) => give_up(status),
            Err(write_error) => {
                log::debug!("cannot send error response: {write_error}");
                give_up(respond::render_error(session.req_header(), ctx, kind, None).status)
            }
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session
            .response_written()
            .map_or(0, |header| header.status.as_u16());
        let api = ctx.stage.as_ref().map_or("", |s| s.api.name.as_str());
        let stage = ctx.stage.as_ref().map_or("", |s| s.name.as_str());
        let route = ctx.route.as_ref().map_or("", |r| r.key.as_str());
        let latency = ctx.started.elapsed();
        crate::metrics::METRICS
            .requests
            .with_label_values(&[api, stage, route, &status.to_string()])
            .inc();
        if let Some(route) = &ctx.route {
            route.metrics.latency.observe(latency.as_secs_f64());
            if let Some(integration) = ctx.integration_latency {
                route
                    .metrics
                    .integration_latency
                    .observe(integration.as_secs_f64());
            }
        }
        if !self.state.access_log.is_enabled() {
            return;
        }
        let request = session.req_header();
        let millis = |d: Duration| d.as_secs_f64() * 1000.0;
        self.state.access_log.write(&AccessRecord {
            request_id: &ctx.request_id,
            request_time_epoch: ctx
                .arrived
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            source_ip: ctx.source_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            api_id: api,
            stage,
            route_key: route,
            http_method: request.method.as_str(),
            path: request.uri.path(),
            protocol: if session.is_http2() {
                "HTTP/2.0"
            } else {
                "HTTP/1.1"
            },
            status,
            response_length: session.body_bytes_sent(),
            response_latency: millis(latency),
            integration_latency: ctx.integration_latency.map(millis),
            error_type: ctx.error.map(|kind| kind.response_type()),
            principal_id: ctx.principal.as_deref(),
            validation_error: ctx.validation_error.as_deref(),
            api_key_id: ctx.api_key_id.as_deref(),
        });
    }
}
