//! Writing responses the gateway produces itself: mock integrations and JSON errors. Every one
//! carries the request id.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::context::RequestCtx;
use crate::gateway_response::{default_body, ErrorKind, RenderedError};

/// The header carrying the request id on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Write a complete response, with the API's CORS headers for the request's origin.
pub async fn write(
    session: &mut Session,
    ctx: &RequestCtx,
    status: u16,
    headers: &[(HeaderName, HeaderValue)],
    content_type: Option<&str>,
    body: Bytes,
) -> Result<()> {
    send(session, ctx, status, headers, content_type, body, true).await
}

/// Write the answer to a CORS preflight: `headers` are its whole CORS answer, nothing is added.
pub async fn write_preflight(
    session: &mut Session,
    ctx: &RequestCtx,
    headers: &[(HeaderName, HeaderValue)],
) -> Result<()> {
    send(session, ctx, 204, headers, None, Bytes::new(), false).await
}

async fn send(
    session: &mut Session,
    ctx: &RequestCtx,
    status: u16,
    headers: &[(HeaderName, HeaderValue)],
    content_type: Option<&str>,
    body: Bytes,
    with_cors: bool,
) -> Result<()> {
    let mut header = ResponseHeader::build(status, Some(headers.len() + 3))?;
    if let Some(content_type) = content_type {
        header.insert_header(http::header::CONTENT_TYPE, content_type)?;
    }
    for (name, value) in headers {
        header.append_header(name.clone(), value.clone())?;
    }
    header.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    header.insert_header(REQUEST_ID_HEADER, &ctx.request_id)?;
    if with_cors {
        super::cors::decorate(&mut header, session.req_header(), ctx)?;
    }
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(header), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// The error response for `kind`, customised by the matched API's gateway responses.
pub fn render_error(ctx: &RequestCtx, kind: ErrorKind, message: Option<&str>) -> RenderedError {
    match &ctx.stage {
        Some(stage) => stage.api.responses.render(kind, message, &ctx.request_id),
        None => RenderedError {
            status: kind.status(),
            headers: Vec::new(),
            body: default_body(message.unwrap_or(kind.message())),
        },
    }
}

/// Answer with the gateway error `kind` and remember it for logging.
pub async fn error(session: &mut Session, ctx: &mut RequestCtx, kind: ErrorKind) -> Result<()> {
    error_with_message(session, ctx, kind, None)
        .await
        .map(|_| ())
}

/// Answer with the gateway error `kind` carrying `message` instead of the kind's own; the status
/// it answered with.
pub async fn error_with_message(
    session: &mut Session,
    ctx: &mut RequestCtx,
    kind: ErrorKind,
    message: Option<&str>,
) -> Result<u16> {
    error_with_headers(session, ctx, kind, message, Vec::new()).await
}

/// Answer 429 `Too Many Requests` with `Retry-After` (seconds).
pub async fn throttled(
    session: &mut Session,
    ctx: &mut RequestCtx,
    retry_after_seconds: u64,
) -> Result<()> {
    let retry_after = (
        http::header::RETRY_AFTER,
        HeaderValue::from(retry_after_seconds),
    );
    error_with_headers(session, ctx, ErrorKind::Throttled, None, vec![retry_after])
        .await
        .map(|_| ())
}

async fn error_with_headers(
    session: &mut Session,
    ctx: &mut RequestCtx,
    kind: ErrorKind,
    message: Option<&str>,
    extra_headers: Vec<(HeaderName, HeaderValue)>,
) -> Result<u16> {
    ctx.error = Some(kind);
    let mut rendered = render_error(ctx, kind, message);
    rendered.headers.extend(extra_headers);
    let status = rendered.status;
    write(
        session,
        ctx,
        rendered.status,
        &rendered.headers,
        Some("application/json"),
        rendered.body,
    )
    .await
    .map(|()| status)
}
