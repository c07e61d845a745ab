//! CORS on the request path: preflights answered by the gateway (no route, authorizer or
//! backend involved) and the API's CORS headers on every response, the gateway's own errors
//! included.

use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::Result;

use super::context::RequestCtx;
use super::respond;

fn origin(request: &RequestHeader) -> Option<&str> {
    request.headers.get(http::header::ORIGIN)?.to_str().ok()
}

/// Answer a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) for an API
/// with CORS settings: 204 with the CORS headers the request may use. `Ok(true)` when answered.
pub async fn answer_preflight(session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
    let Some(cors) = ctx.stage.as_ref().and_then(|s| s.api.cors.clone()) else {
        return Ok(false);
    };
    let request = session.req_header();
    if request.method != http::Method::OPTIONS {
        return Ok(false);
    }
    let header = |name| request.headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(origin), Some(method)) = (
        origin(request),
        header(http::header::ACCESS_CONTROL_REQUEST_METHOD),
    ) else {
        return Ok(false);
    };
    let requested = header(http::header::ACCESS_CONTROL_REQUEST_HEADERS);
    let headers = cors.preflight_headers(origin, method, requested);
    respond::write_preflight(session, ctx, &headers).await?;
    Ok(true)
}

/// Add the API's CORS headers for the request's origin to a response (for a request outside
/// every API, those of the first API that allows its origin).
pub fn decorate(
    head: &mut ResponseHeader,
    request: &RequestHeader,
    ctx: &RequestCtx,
) -> Result<()> {
    let cors = match &ctx.stage {
        Some(stage) => stage.api.cors.as_ref(),
        None => origin(request).and_then(|origin| ctx.snapshot.cors_outside_apis(origin)),
    };
    let Some(cors) = cors else {
        return Ok(());
    };
    for (name, value) in cors.response_headers(origin(request)) {
        if name == http::header::VARY {
            head.append_header(name, value)?;
        } else {
            head.insert_header(name, value)?;
        }
    }
    Ok(())
}
