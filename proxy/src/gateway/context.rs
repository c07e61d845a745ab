//! Per-request state carried through pingora's phases, and the template [`Lookup`] over it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use pingora::http::RequestHeader;

use bytes::Bytes;

use super::edits::RequestEdits;
use crate::cache::Fill;
use crate::drain::InFlight;
use crate::gateway_response::ErrorKind;
use crate::integration::{HttpIntegration, Integration};
use crate::snapshot::{Route, Snapshot, Stage};
use crate::template::{CertField, ContextVar, Lookup};

/// Everything one request needs between phases (pingora's `CTX`).
pub struct RequestCtx {
    /// The snapshot the request started on; reloads do not affect it.
    pub snapshot: Arc<Snapshot>,
    /// Unique id, returned as `x-request-id` and sent to the backend.
    pub request_id: String,
    /// When the request arrived.
    pub started: Instant,
    /// Wall-clock arrival time, for the access log.
    pub arrived: SystemTime,
    /// The client's address (the peer, or who a trusted proxy forwards for).
    pub source_ip: Option<IpAddr>,
    /// The connection's peer, appended to `X-Forwarded-For` upstream.
    pub peer_ip: Option<IpAddr>,
    /// The connection's TLS digest, when it is a TLS connection (`ctx.connection_tls()`).
    pub tls: Option<Arc<pingora::protocols::tls::SslDigest>>,
    /// The client certificate the request's domain verified (mutual TLS), once the transport
    /// checked it: what plugins, templates and the access log see.
    pub client_cert: Option<Arc<crate::tls::ClientCert>>,
    /// The stage, once the host and path prefix matched one.
    pub stage: Option<Arc<Stage>>,
    /// The route, once matched.
    pub route: Option<Arc<Route>>,
    /// The route's path parameters, raw.
    pub params: Vec<(Arc<str>, String)>,
    /// The principal an authorizer plugin allowed.
    pub principal: Option<String>,
    /// The context that authorizer returned.
    pub authorizer_context: Vec<(String, String)>,
    /// Changes request transformers made, applied upstream.
    pub edits: RequestEdits,
    /// The whole request body, on routes that read it before the integration.
    pub body: Option<Bytes>,
    /// The request head as the route's plugins see it (request transformers change it).
    pub view: Option<Arc<crate::plugin::RequestView>>,
    /// Where the request goes upstream (http integrations).
    pub upstream: Option<UpstreamPlan>,
    /// Request body bytes seen so far.
    pub body_bytes: u64,
    /// The error the gateway answered with, if any.
    pub error: Option<ErrorKind>,
    /// When the request was sent to the backend.
    pub integration_started: Option<Instant>,
    /// Time until the backend's response header.
    pub integration_latency: Option<std::time::Duration>,
    /// The response being recorded for the cache (a cache miss or refresh).
    pub cache_fill: Option<Fill>,
    /// Why request validation refused the request, for the access log.
    pub validation_error: Option<String>,
    /// The API key that admitted the request.
    pub api_key_id: Option<Arc<str>>,
    /// What plugins were told about the request once its request phases ended (principal and
    /// context included), lent to its cache policy and response transformers.
    pub plugin_context: Option<std::sync::Arc<crate::plugin::RequestContext>>,
    /// The streams of the route's proxy-wasm filters, from their request side to the end of
    /// the request.
    pub filter_streams: crate::plugin::FilterStreams,
    /// Keeps the request counted for graceful shutdown.
    pub _in_flight: InFlight,
}

/// The upstream side of an http integration.
pub struct UpstreamPlan {
    /// Path and query to send.
    pub uri: String,
    /// Backends already tried (connect failures retry on another).
    pub tried: Vec<SocketAddr>,
}

impl RequestCtx {
    /// A new request's state on `snapshot`, counted in flight while it lives.
    pub fn new(snapshot: Arc<Snapshot>, in_flight: InFlight) -> Self {
        RequestCtx {
            snapshot,
            request_id: super::trace::request_id(),
            started: Instant::now(),
            arrived: SystemTime::now(),
            source_ip: None,
            peer_ip: None,
            tls: None,
            client_cert: None,
            stage: None,
            route: None,
            params: Vec::new(),
            principal: None,
            authorizer_context: Vec::new(),
            edits: RequestEdits::default(),
            body: None,
            view: None,
            upstream: None,
            body_bytes: 0,
            error: None,
            integration_started: None,
            integration_latency: None,
            cache_fill: None,
            validation_error: None,
            api_key_id: None,
            plugin_context: None,
            filter_streams: Default::default(),
            _in_flight: in_flight,
        }
    }

    /// The matched route's http integration, if it has one.
    pub fn http_integration(&self) -> Option<&HttpIntegration> {
        match &self.route.as_ref()?.integration {
            Integration::Http(http) => Some(http),
            Integration::Mock(_) => None,
        }
    }

    /// A value of the context the authorizer returned.
    pub fn authorizer_value(&self, key: &str) -> Option<&str> {
        self.authorizer_context
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// The API's and the stage's names, empty before a stage matched (metric labels).
    pub fn api_and_stage_names(&self) -> (&str, &str) {
        self.stage
            .as_ref()
            .map_or(("", ""), |s| (s.api.name.as_str(), s.name.as_str()))
    }

    /// The largest request body the matched API accepts.
    pub fn max_request_body_bytes(&self) -> u64 {
        self.stage
            .as_ref()
            .map_or(u64::MAX, |s| s.api.max_request_body_bytes)
    }

    /// The matched stage's variables.
    pub fn stage_variables(&self) -> &[(String, String)] {
        self.stage.as_ref().map_or(&[][..], |s| &s.variables[..])
    }

    /// The backend currently tried.
    pub fn current_backend(&self) -> Option<SocketAddr> {
        self.upstream.as_ref()?.tried.last().copied()
    }
}

/// Template values for one request: its header, path parameters and context.
pub struct RequestValues<'a> {
    /// The request as received.
    pub request: &'a RequestHeader,
    /// The request's state.
    pub ctx: &'a RequestCtx,
}

impl Lookup for RequestValues<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.request.headers.get(name)?.to_str().ok()
    }

    fn query(&self, name: &str) -> Option<String> {
        crate::query::param(self.request.uri.query(), name)
    }

    fn path_param(&self, name: &str) -> Option<&str> {
        self.ctx
            .params
            .iter()
            .find(|(key, _)| &**key == name)
            .map(|(_, value)| value.as_str())
    }

    fn context(&self, var: ContextVar) -> Option<String> {
        let ctx = self.ctx;
        Some(match var {
            ContextVar::RequestId => ctx.request_id.clone(),
            ContextVar::ApiId => ctx.stage.as_ref()?.api.name.clone(),
            ContextVar::Stage => ctx.stage.as_ref()?.name.clone(),
            ContextVar::RouteKey => ctx.route.as_ref()?.key.to_string(),
            ContextVar::HttpMethod => self.request.method.to_string(),
            ContextVar::Path => self.request.uri.path().to_string(),
            ContextVar::SourceIp => self.ctx.source_ip?.to_string(),
            ContextVar::Protocol => protocol(self.request).to_string(),
            ContextVar::DomainName => super::matching::host_name(self.request)?.to_string(),
            ContextVar::ClientCert(field) => {
                let cert = ctx.client_cert.as_ref()?;
                match field {
                    CertField::Pem => cert.pem.clone(),
                    CertField::SubjectDn => cert.subject_dn.clone(),
                    CertField::IssuerDn => cert.issuer_dn.clone(),
                    CertField::SerialNumber => cert.serial_number.clone(),
                    CertField::NotBefore => cert.not_before.clone(),
                    CertField::NotAfter => cert.not_after.clone(),
                }
            }
            ContextVar::ErrorMessage
            | ContextVar::ErrorMessageString
            | ContextVar::ErrorResponseType => return None,
        })
    }

    fn authorizer(&self, key: Option<&str>) -> Option<String> {
        match key {
            None => self.ctx.principal.clone(),
            Some(key) => self.ctx.authorizer_value(key).map(str::to_string),
        }
    }
}

/// `HTTP/1.1`, `HTTP/2.0` or `HTTP/1.0`, as AWS writes `$context.protocol`.
pub fn protocol(request: &RequestHeader) -> &'static str {
    match request.version {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}
