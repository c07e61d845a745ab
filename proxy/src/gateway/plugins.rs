//! Running a route's plugin chain: its JWT authorizer, then authorizer plugins (then the API key
//! they returned, on APIs that take keys from authorizers), then validators, then request
//! transformers before the integration; response transformers on its response. A plugin fault
//! is answered by the plugin's failure mode: `closed` refuses (403 for authorizers, 500
//! otherwise), `open` skips the plugin.

use std::sync::Arc;

use bytes::Bytes;
use http::header::InvalidHeaderName;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use super::context::RequestCtx;
use super::respond;
use crate::apikeys::{KeyService, Refusal};
use crate::gateway_response::ErrorKind;
use crate::jwt::JwtRefusal;
use crate::plugin::{
    Decision, Fault, Header, Headers, Plugin, RequestAction, RequestChanges, RequestContext,
    RequestView, Response, ResponseChanges, ResponseView, Verdict,
};
use crate::snapshot::{HeaderNeeds, Route};
use crate::validation::Invalid;

/// Request changes collected from request transformers, applied when the request goes upstream.
#[derive(Debug, Default)]
pub struct RequestEdits {
    /// New method.
    pub method: Option<Method>,
    /// New path after the stage.
    pub path: Option<String>,
    /// New raw query (`Some("")` removes it).
    pub query: Option<String>,
    /// Headers to set, in order.
    pub set_headers: Vec<(HeaderName, HeaderValue)>,
    /// Headers to remove.
    pub remove_headers: Vec<HeaderName>,
}

/// A header a plugin returned, its name parsed by `parse_name`; the value keeps the text's
/// buffer instead of copying it.
fn header_pair(
    header: Header,
    parse_name: impl Fn(&str) -> Result<HeaderName, InvalidHeaderName>,
) -> Result<(HeaderName, HeaderValue), Fault> {
    let name = parse_name(&header.name)
        .map_err(|_| Fault::Invalid(format!("header name `{}`", header.name)))?;
    let value = HeaderValue::try_from(header.value)
        .map_err(|_| Fault::Invalid(format!("value of header `{name}`")))?;
    Ok((name, value))
}

impl RequestEdits {
    /// Take in the changes of transformer `plugin`, applying them to `head` for the plugins after
    /// it.
    fn merge(
        &mut self,
        plugin: &Plugin,
        changes: RequestChanges,
        head: &mut RequestView,
    ) -> Result<(), Fault> {
        if let Some(method) = changes.method {
            let method = Method::from_bytes(method.as_bytes())
                .map_err(|_| Fault::Invalid(format!("method `{method}`")))?;
            head.method = method.clone();
            self.method = Some(method);
        }
        if let Some(path) = changes.path {
            if !path.starts_with('/') {
                return Err(Fault::Invalid(format!(
                    "path `{path}` does not start with `/`"
                )));
            }
            head.path = path.clone();
            self.path = Some(path);
        }
        if let Some(query) = changes.query {
            head.query = (!query.is_empty()).then(|| query.clone());
            self.query = Some(query);
        }
        for name in changes.remove_headers {
            let parsed = plugin
                .header_name(&name)
                .map_err(|_| Fault::Invalid(format!("header name `{name}`")))?;
            head.headers.retain(|(n, _)| *n != parsed);
            self.set_headers.retain(|(n, _)| *n != parsed);
            self.remove_headers.push(parsed);
        }
        for header in changes.set_headers {
            let pair = header_pair(header, |name| plugin.header_name(name))?;
            head.headers.retain(|(n, _)| *n != pair.0);
            head.headers.push(pair.clone());
            self.set_headers.retain(|(n, _)| *n != pair.0);
            self.set_headers.push(pair);
        }
        Ok(())
    }

    /// Apply the header and method changes to the upstream request.
    pub fn apply(&self, upstream: &mut RequestHeader) -> Result<()> {
        if let Some(method) = &self.method {
            upstream.set_method(method.clone());
        }
        for name in &self.remove_headers {
            upstream.remove_header(name);
        }
        for (name, value) in &self.set_headers {
            upstream.insert_header(name.clone(), value.clone())?;
        }
        Ok(())
    }
}

/// The request as the route's plugins see it: only the headers some plugin reads are kept.
pub fn request_view(request: &RequestHeader, needs: &HeaderNeeds) -> Arc<RequestView> {
    Arc::new(RequestView {
        method: request.method.clone(),
        path: request.uri.path().to_string(),
        query: request.uri.query().map(str::to_string),
        headers: headers_of(&request.headers, needs),
    })
}

fn headers_of(headers: &HeaderMap, needs: &HeaderNeeds) -> Headers {
    if needs.all {
        return headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
    }
    needs
        .names
        .iter()
        .flat_map(|name| {
            headers
                .get_all(name)
                .iter()
                .map(|value| (name.clone(), value.clone()))
        })
        .collect()
}

/// What the gateway tells plugins about the request: the one the request phases ended with, or
/// a new one on routes without request phases.
pub fn plugin_context(ctx: &RequestCtx) -> Arc<RequestContext> {
    match &ctx.plugin_context {
        Some(built) => built.clone(),
        None => Arc::new(new_plugin_context(ctx)),
    }
}

fn new_plugin_context(ctx: &RequestCtx) -> RequestContext {
    RequestContext {
        stage: ctx.stage.clone(),
        route: ctx.route.clone(),
        path_parameters: ctx.params.clone(),
        source_ip: ctx.source_ip,
        request_id: ctx.request_id.clone(),
        principal: ctx.principal.clone(),
        authorizer_context: ctx.authorizer_context.clone(),
    }
}

/// What to do after a plugin fault: `None` to go on (fail open), or the error to answer.
fn on_fault(plugin: &Plugin, closed: ErrorKind) -> Option<ErrorKind> {
    (!plugin.settings.failure_mode.is_open()).then_some(closed)
}

/// How the request phases ended.
enum Stop {
    /// Answer with a gateway error, optionally with a specific message.
    Error(ErrorKind, Option<String>),
    /// The API key an authorizer returned was refused.
    Key(Refusal),
    /// Answer with a plugin's response.
    Respond(Response),
}

/// Run the request phases; `body` is the whole request body on routes that buffer it, and
/// request transformers may replace it. `Ok(true)` when a response was written.
pub async fn request_phases(
    session: &mut Session,
    ctx: &mut RequestCtx,
    body: &mut Option<Bytes>,
    keys: &KeyService,
) -> Result<bool> {
    let Some(route) = ctx.route.clone() else {
        return Ok(false);
    };
    if !route.plugins.has_request_phases() && route.validation.is_empty() && route.jwt.is_none() {
        return Ok(false);
    }
    let stop = run_request_phases(&route, session.req_header(), ctx, body, keys).await;
    match stop {
        None => Ok(false),
        Some(Stop::Key(refusal)) => {
            super::keys::refuse(session, ctx, refusal).await?;
            Ok(true)
        }
        Some(Stop::Error(kind, message)) => {
            respond::error_with_message(session, ctx, kind, message.as_deref()).await?;
            Ok(true)
        }
        Some(Stop::Respond(response)) => {
            match write_plugin_response(session, ctx, response).await {
                Ok(()) => Ok(true),
                Err(e) => Err(e),
            }
        }
    }
}

async fn run_request_phases(
    route: &Route,
    request: &RequestHeader,
    ctx: &mut RequestCtx,
    body: &mut Option<Bytes>,
    keys: &KeyService,
) -> Option<Stop> {
    let chain = &route.plugins;
    if let Some(jwt) = &route.jwt {
        match jwt.authorizer.authorize(request, &jwt.scopes).await {
            Ok(verified) => {
                ctx.principal = Some(verified.principal);
                ctx.authorizer_context = verified.context;
            }
            Err(JwtRefusal::Unauthorized(reason)) => {
                log::debug!("JWT authorizer `{}`: {reason}", jwt.authorizer.name);
                return Some(Stop::Error(ErrorKind::Unauthorized, None));
            }
            Err(JwtRefusal::Forbidden) => return Some(Stop::Error(ErrorKind::AccessDenied, None)),
        }
    }
    let mut head = request_view(request, &chain.request_headers);
    let mut plugin_ctx = Arc::new(new_plugin_context(ctx));
    for plugin in &chain.authorizers {
        let identity = match &plugin.identity {
            Some(rule) => {
                let variables = ctx.stage.as_ref().map_or(&[][..], |s| &s.variables[..]);
                match rule.identity(request, variables) {
                    Some(identity) => Some((rule, identity)),
                    None => return Some(Stop::Error(ErrorKind::Unauthorized, None)),
                }
            }
            None => None,
        };
        let cached = identity
            .as_ref()
            .and_then(|(rule, identity)| rule.cached(identity));
        let decision = match cached {
            Some(decision) => Ok(decision),
            None => {
                let decision = plugin.authorize(&head, body.as_deref(), &plugin_ctx).await;
                if let (Ok(decision), Some((rule, identity))) = (&decision, identity) {
                    rule.remember(identity, decision);
                }
                decision
            }
        };
        match decision {
            Ok(Decision::Allow(allow)) => {
                ctx.principal = Some(allow.principal.clone());
                ctx.authorizer_context = allow
                    .context
                    .into_iter()
                    .map(|e| (e.key, e.value))
                    .collect();
                let lent = Arc::make_mut(&mut plugin_ctx);
                lent.principal = Some(allow.principal);
                lent.authorizer_context = ctx.authorizer_context.clone();
            }
            Ok(Decision::Unauthorized) => return Some(Stop::Error(ErrorKind::Unauthorized, None)),
            Ok(Decision::Forbidden) => return Some(Stop::Error(ErrorKind::AccessDenied, None)),
            Ok(Decision::Respond(response)) => return Some(Stop::Respond(response)),
            Err(_) => {
                if let Some(kind) = on_fault(plugin, ErrorKind::AccessDenied) {
                    return Some(Stop::Error(kind, None));
                }
            }
        }
    }
    if super::keys::checked_from_authorizer(route, ctx) {
        let presented = super::keys::from_authorizer(ctx);
        if let Err(refusal) = super::keys::admit(keys, ctx, presented.as_deref()) {
            return Some(Stop::Key(refusal));
        }
    }
    if let Err(invalid) = route
        .validation
        .check(request, &ctx.params, body.as_deref())
    {
        return Some(validation_stop(ctx, invalid));
    }
    for plugin in &chain.validators {
        match plugin.validate(&head, body.as_deref(), &plugin_ctx).await {
            Ok(Verdict::Accept) => {}
            Ok(Verdict::Reject(message)) => {
                return Some(Stop::Error(ErrorKind::BadRequestBody, Some(message)))
            }
            Err(_) => {
                if let Some(kind) = on_fault(plugin, ErrorKind::InternalError) {
                    return Some(Stop::Error(kind, None));
                }
            }
        }
    }
    for plugin in &chain.request_transformers {
        let result = match plugin
            .transform_request(&head, body.as_deref(), &plugin_ctx)
            .await
        {
            Ok(RequestAction::Continue(mut changes)) => match changes.body.take() {
                Some(_) if body.is_none() => Err(Fault::Invalid(
                    "a body change without needs-request-body".into(),
                )),
                new_body => {
                    if let Some(new_body) = new_body {
                        *body = Some(new_body.into());
                    }
                    ctx.edits.merge(plugin, changes, Arc::make_mut(&mut head))
                }
            },
            Ok(RequestAction::Respond(response)) => return Some(Stop::Respond(response)),
            Err(fault) => Err(fault),
        };
        if let Err(fault) = result {
            if let Some(stop) = log_fault(plugin, fault) {
                return Some(stop);
            }
        }
    }
    ctx.plugin_context = Some(plugin_ctx);
    None
}

/// The 400 for a request that failed the route's validation; the detail goes to the access log,
/// and into the message when the API asks for it.
fn validation_stop(ctx: &mut RequestCtx, invalid: Invalid) -> Stop {
    let details = ctx.stage.as_ref().is_some_and(|s| s.api.validation_details);
    let (kind, message) = match &invalid {
        Invalid::Parameters(message) => (ErrorKind::BadRequestParameters, message.clone()),
        Invalid::Body(detail) if details => (
            ErrorKind::BadRequestBody,
            format!("Invalid request body: {detail}"),
        ),
        Invalid::Body(_) => (ErrorKind::BadRequestBody, "Invalid request body".into()),
    };
    ctx.validation_error = Some(match invalid {
        Invalid::Parameters(message) | Invalid::Body(message) => message,
    });
    Stop::Error(kind, Some(message))
}

/// Log a request transformer's fault; the stop to answer with when it fails closed.
fn log_fault(plugin: &Plugin, fault: Fault) -> Option<Stop> {
    log::warn!("plugin `{}` request-transformer: {fault}", plugin.name);
    on_fault(plugin, ErrorKind::InternalError).map(|kind| Stop::Error(kind, None))
}

async fn write_plugin_response(
    session: &mut Session,
    ctx: &mut RequestCtx,
    response: Response,
) -> Result<()> {
    let headers: Result<Vec<_>, Fault> = response
        .headers
        .into_iter()
        .map(|header| header_pair(header, |name| HeaderName::from_bytes(name.as_bytes())))
        .collect();
    match headers {
        Ok(headers) => {
            respond::write(
                session,
                ctx,
                response.status,
                &headers,
                None,
                response.body.into(),
            )
            .await
        }
        Err(fault) => {
            log::warn!("plugin response: {fault}");
            respond::error(session, ctx, ErrorKind::InternalError).await
        }
    }
}

/// The head of a response, as the route's response transformers see it.
fn response_view(response: &ResponseHeader, needs: &HeaderNeeds) -> Arc<ResponseView> {
    Arc::new(ResponseView {
        status: response.status.as_u16(),
        headers: headers_of(&response.headers, needs),
    })
}

fn apply_response_changes(
    plugin: &Plugin,
    response: &mut ResponseHeader,
    changes: ResponseChanges,
    body: Option<&mut Bytes>,
) -> Result<(), Fault> {
    if changes.body.is_some() && body.is_none() {
        return Err(Fault::Invalid(
            "a body change without needs-response-body".into(),
        ));
    }
    if let Some(status) = changes.status {
        response
            .set_status(status)
            .map_err(|_| Fault::Invalid(format!("status {status}")))?;
    }
    for name in &changes.remove_headers {
        response.remove_header(name.as_str());
    }
    for header in changes.set_headers {
        let (name, value) = header_pair(header, |name| plugin.header_name(name))?;
        response
            .insert_header(name, value)
            .map_err(|e| Fault::Invalid(e.to_string()))?;
    }
    if let (Some(new_body), Some(body)) = (changes.body, body) {
        *body = new_body.into();
    }
    Ok(())
}

/// Run the response transformers on a response the gateway streams (no body changes).
pub async fn response_phases(response: &mut ResponseHeader, ctx: &RequestCtx) -> Result<()> {
    response_transformers(response, None, ctx)
        .await
        .map_err(|_| Error::explain(ErrorType::InternalError, "response transformer failed"))
}

/// Run the response transformers on a response the gateway holds whole (mock integrations,
/// cache hits) and write it.
pub async fn write_whole_response(
    session: &mut Session,
    ctx: &mut RequestCtx,
    mut head: ResponseHeader,
    mut body: Bytes,
) -> Result<()> {
    if let Err(kind) = whole_response_phases(&mut head, &mut body, ctx).await {
        return respond::error(session, ctx, kind).await;
    }
    let headers: Vec<_> = head
        .headers
        .iter()
        .filter(|(name, _)| *name != http::header::CONTENT_LENGTH)
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    respond::write(session, ctx, head.status.as_u16(), &headers, None, body).await
}

/// Run the response transformers on a response the gateway holds whole: status, headers and
/// body may change. `Err(kind)` when a closed plugin failed.
pub async fn whole_response_phases(
    response: &mut ResponseHeader,
    body: &mut Bytes,
    ctx: &RequestCtx,
) -> Result<(), ErrorKind> {
    response_transformers(response, Some(body), ctx).await
}

/// The route's response transformers in order, each seeing the response as the one before left
/// it; `body` is the whole body on responses the gateway holds (transformers may replace it),
/// `None` on streamed ones (a body change is then an invalid answer). `Err(kind)` when a closed
/// plugin failed.
async fn response_transformers(
    response: &mut ResponseHeader,
    mut body: Option<&mut Bytes>,
    ctx: &RequestCtx,
) -> Result<(), ErrorKind> {
    let Some(route) = ctx.route.clone() else {
        return Ok(());
    };
    if route.plugins.response_transformers.is_empty() {
        return Ok(());
    }
    let plugin_ctx = plugin_context(ctx);
    for plugin in &route.plugins.response_transformers {
        let result = match plugin
            .transform_response(
                &response_view(response, &route.plugins.response_headers),
                body.as_deref().map(|body| &body[..]),
                &plugin_ctx,
            )
            .await
        {
            Ok(changes) => apply_response_changes(plugin, response, changes, body.as_deref_mut()),
            Err(fault) => Err(fault),
        };
        if let Err(fault) = result {
            log::warn!("plugin `{}` response-transformer: {fault}", plugin.name);
            if let Some(kind) = on_fault(plugin, ErrorKind::InternalError) {
                return Err(kind);
            }
        }
    }
    Ok(())
}
