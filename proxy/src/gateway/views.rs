//! What plugins are shown: the request and response heads with only the headers some plugin
//! of the route reads, and the request context (built once, lent to every plugin call).

use std::sync::Arc;

use http::HeaderMap;
use pingora::http::{RequestHeader, ResponseHeader};

use super::context::RequestCtx;
use crate::plugin::{Headers, RequestContext, RequestView, ResponseView};
use crate::snapshot::HeaderNeeds;

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

/// The context lent to the request phases' plugin calls: built at the first and kept, so the
/// later phases (and the response's) share it.
pub fn lent_context(ctx: &mut RequestCtx) -> Arc<RequestContext> {
    match &ctx.plugin_context {
        Some(lent) => lent.clone(),
        None => {
            let lent = Arc::new(new_plugin_context(ctx));
            ctx.plugin_context = Some(lent.clone());
            lent
        }
    }
}

/// A new plugin context from what the gateway knows of the request now.
pub fn new_plugin_context(ctx: &RequestCtx) -> RequestContext {
    RequestContext {
        route: ctx.route.as_ref().map(|route| route.names.clone()),
        path_parameters: ctx.params.clone(),
        source_ip: ctx.source_ip,
        request_id: ctx.request_id.clone(),
        principal: ctx.principal.clone(),
        authorizer_context: ctx.authorizer_context.clone(),
        scheme: ctx.scheme(),
        client_cert: ctx.client_cert.clone(),
    }
}

/// The head of a response, as the route's response transformers see it.
pub fn response_view(response: &ResponseHeader, needs: &HeaderNeeds) -> Arc<ResponseView> {
    Arc::new(ResponseView {
        status: response.status.as_u16(),
        headers: headers_of(&response.headers, needs),
    })
}
