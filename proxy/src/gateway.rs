//! The request pipeline on pingora's [`ProxyHttp`] phases: one front every request passes
//! ([`matching`]), the route's compiled steps ([`pipeline`], `snapshot::Step`), its integration
//! ([`integrate`]), and the response steps both upstream paths share ([`responses`]). Steps
//! return an [`outcome::Outcome`]; every answer the gateway gives itself is written by
//! [`outcome::write`].
//!
//! ```text
//! request_filter ─► front: the edge's checks on the head (limits, Host, path normalised)
//!                   ─► client address (trusted proxies) ─► stage (host, path prefix)
//!                   ─► the API's resource policy ─► CORS preflight (answered here)
//!                   ─► route ─► body limit by Content-Length
//!                ─► the route's steps: throttle ─► API key (x-api-key) ─► read body ─► JWT
//!                   ─► authorizer plugins ─► API key (authorizer) ─► validation
//!                   ─► validator plugins ─► request transformers ─► cache lookup
//!                ─► integration: mock (answered whole) | http: plan the upstream URI, then
//!                   the buffered exchange (body read) or pingora's streaming proxy below
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
mod edits;
mod errors;
mod forward;
mod integrate;
mod keys;
mod logging;
mod matching;
mod outcome;
mod pipeline;
mod respond;
mod responses;
mod trace;
mod transport;
mod views;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use crate::integration::Integration;
use crate::state::State;

use context::{RequestCtx, UpstreamPlan};
use integrate::Integrated;
use matching::Front;
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
}

fn internal(message: &'static str) -> Box<Error> {
    Error::explain(ErrorType::InternalError, message)
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(self.state.snapshot(), self.state.drain.enter())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        if self.state.drain.is_draining() {
            session.set_keepalive(None);
        }
        let stage_path = match matching::match_request(session, ctx).await? {
            Front::Matched(stage_path) => stage_path,
            Front::Answered(answer) => {
                outcome::write(session, ctx, answer).await?;
                return Ok(true);
            }
            Front::Written => return Ok(true),
        };
        let route = ctx.route.clone().ok_or_else(|| internal("route matched"))?;
        let services = pipeline::Services {
            keys: &self.state.keys,
            cache: &self.state.cache,
        };
        if let Some(answer) = pipeline::run(session, ctx, &route, &services).await? {
            outcome::write(session, ctx, answer).await?;
            return Ok(true);
        }
        match integrate::integrate(session, ctx, &route, &stage_path, &self.state.cache).await? {
            Integrated::Answer(answer) => {
                outcome::write(session, ctx, answer).await?;
                Ok(true)
            }
            Integrated::Written => Ok(true),
            Integrated::Stream => Ok(false),
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
        let plan: &mut UpstreamPlan = ctx
            .upstream
            .as_mut()
            .ok_or_else(|| internal("upstream planned"))?;
        // A retry after a connection failure goes to a backend not tried yet; pingora also
        // retries a request whose reused connection the backend had closed, which a new
        // connection to the same backend may well serve.
        let retry_any = || {
            (!plan.tried.is_empty())
                .then(|| http.pool.pick(&[]))
                .flatten()
        };
        let addr = http
            .pool
            .pick(&plan.tried)
            .or_else(retry_any)
            .ok_or_else(|| {
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
        e: Box<Error>,
    ) -> Box<Error> {
        forward::connect_failed(ctx, e)
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
        if ctx.body_bytes > ctx.max_request_body_bytes() {
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
        responses::integration_head(session.req_header(), upstream_response, ctx)?;
        responses::response_phases(upstream_response, ctx).await
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
        upstream_response.insert_header(&REQUEST_ID_HEADER, &ctx.request_id)?;
        cors::decorate(upstream_response, session.req_header(), ctx)
    }

    fn upstream_response_head_deadline(&self, ctx: &RequestCtx) -> Option<Duration> {
        ctx.http_integration().map(|http| http.timeout)
    }

    fn downstream_request_head_deadline(&self) -> Option<Duration> {
        Some(self.state.snapshot().server.limits.head_timeout)
    }

    fn downstream_pipelining(&self) -> bool {
        true
    }

    fn invalid_request_response(&self, error: &Error) -> Option<(ResponseHeader, Bytes)> {
        let kind = errors::refused_head_kind(error);
        let text = error.to_string();
        log::debug!(
            "refused request head: {}",
            &text[..text.floor_char_boundary(300)]
        );
        crate::metrics::METRICS
            .requests
            .with_label_values(&["", "", "", &kind.status().to_string()])
            .inc();
        respond::refused_head(kind).ok()
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, error: &Error) -> bool {
        // A client that hung up or sent a broken body is not the gateway's error (and one line
        // per such request would let any client flood the log); it is in the access log.
        // A plugin's fault was logged, naming the plugin, where it happened.
        error.etype() == &errors::PLUGIN_FAULT
            || errors::classify(error).is_none_or(|kind| kind.status() < 500)
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
        match respond::refuse(session, ctx, &kind.into()).await {
            Ok(status) => give_up(status),
            Err(write_error) => {
                log::debug!("cannot send error response: {write_error}");
                give_up(respond::render_error(session.req_header(), ctx, kind, None).status)
            }
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        if !ctx.filter_streams.is_empty() {
            Box::pin(ctx.filter_streams.end()).await;
        }
        logging::record(session, ctx, &self.state.access_log);
    }
}
