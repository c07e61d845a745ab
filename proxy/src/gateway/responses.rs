//! The response side of the pipeline that the streaming and buffered paths share: the route's
//! response transformers, in order, each seeing the response as the one before left it.

use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use super::context::{RequestCtx, RequestValues};
use super::errors::PLUGIN_FAULT;
use super::outcome::{header_pair, on_fault};
use super::respond;
use super::views::{plugin_context, response_view};
use crate::gateway_response::ErrorKind;
use crate::plugin::{Fault, Plugin, ResponseChanges, MAX_TOTAL_HEADERS};

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
        if matches!(status, 204 | 304) && has_body(response, body.as_deref()) {
            return Err(Fault::Invalid(format!(
                "status {status} on a response with a body (it has none)"
            )));
        }
        response
            .set_status(status)
            .map_err(|_| Fault::Invalid(format!("status {status}")))?;
    }
    for name in &changes.remove_headers {
        response.remove_header(name.as_str());
    }
    if response.headers.len() + changes.set_headers.len() > MAX_TOTAL_HEADERS {
        return Err(Fault::Invalid(format!(
            "a response of more than {MAX_TOTAL_HEADERS} headers"
        )));
    }
    // A name set twice in one answer keeps both values.
    let mut set = Vec::with_capacity(changes.set_headers.len());
    for header in changes.set_headers {
        let (name, value) = header_pair(header, |name| plugin.header_name(name))?;
        let added = if set.contains(&name) {
            response.append_header(name, value).map(|_| ())
        } else {
            set.push(name.clone());
            response.insert_header(name, value)
        };
        added.map_err(|e| Fault::Invalid(e.to_string()))?;
    }
    if let (Some(new_body), Some(body)) = (changes.body, body) {
        *body = new_body.into();
    }
    Ok(())
}

/// Whether `response` carries a body: the whole one the gateway holds, or the framing of a
/// streamed one.
fn has_body(response: &ResponseHeader, body: Option<&Bytes>) -> bool {
    match body {
        Some(body) => !body.is_empty(),
        None => {
            response
                .headers
                .contains_key(http::header::TRANSFER_ENCODING)
                || response
                    .headers
                    .get(http::header::CONTENT_LENGTH)
                    .is_some_and(|length| length.as_bytes() != b"0")
        }
    }
}

/// The integration's response head arrived (either path): refuse a protocol switch the client
/// did not ask for, note the integration latency, apply the route's response mappings and start
/// recording it for the cache.
pub fn integration_head(
    request: &RequestHeader,
    head: &mut ResponseHeader,
    ctx: &mut RequestCtx,
) -> Result<()> {
    ctx.integration_latency = ctx.integration_started.map(|started| started.elapsed());
    if head.status == http::StatusCode::SWITCHING_PROTOCOLS && !asks_to_upgrade(request) {
        return Err(Error::create(
            ErrorType::InvalidHTTPHeader,
            pingora::ErrorSource::Upstream,
            Some("the backend switched protocols the client did not ask for".into()),
            None,
        ));
    }
    if let Some(http) = ctx.http_integration() {
        http.response_mapping
            .apply(head, &RequestValues { request, ctx })?;
    }
    super::caching::record_head(ctx, head)
}

/// Whether the client asked to switch protocols (`Connection: upgrade` with an `Upgrade`):
/// only then may a backend answer 101 and take the connection over (RFC 9110 §7.8).
fn asks_to_upgrade(request: &RequestHeader) -> bool {
    request.headers.contains_key(http::header::UPGRADE)
        && request
            .headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|option| option.trim().eq_ignore_ascii_case("upgrade"))
}

/// Run the response transformers on a response the gateway streams (no body changes).
pub async fn response_phases(response: &mut ResponseHeader, ctx: &mut RequestCtx) -> Result<()> {
    response_transformers(response, None, ctx)
        .await
        .map_err(|_| Error::explain(PLUGIN_FAULT, "response transformer failed"))
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
    ctx: &mut RequestCtx,
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
    ctx: &mut RequestCtx,
) -> Result<(), ErrorKind> {
    let Some(route) = ctx.route.clone() else {
        return Ok(());
    };
    if route.plugins.response_transformers.is_empty() {
        return Ok(());
    }
    let plugin_ctx = plugin_context(ctx);
    for plugin in &route.plugins.response_transformers {
        let view = response_view(response, &route.plugins.response_headers);
        let whole = body.as_deref().map(|body| &body[..]);
        let changes = match plugin.filter() {
            Some(_) => {
                let streams = &mut ctx.filter_streams;
                match Box::pin(plugin.filter_response(view.status, &view.headers, whole, streams))
                    .await
                {
                    Some(changes) => changes,
                    // An earlier step answered before the filter's request side ran.
                    None => continue,
                }
            }
            None => Box::pin(plugin.transform_response(&view, whole, &plugin_ctx)).await,
        };
        let result = match changes {
            // A fault of the call itself was logged by it; one in applying its answer is
            // logged here.
            Ok(changes) => apply_response_changes(plugin, response, changes, body.as_deref_mut())
                .inspect_err(|fault| {
                    log::warn!("plugin `{}` response-transformer: {fault}", plugin.name);
                }),
            Err(fault) => Err(fault),
        };
        if result.is_err() {
            if let Some(kind) = on_fault(plugin, ErrorKind::InternalError) {
                return Err(kind);
            }
        }
    }
    Ok(())
}
