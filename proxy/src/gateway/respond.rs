//! Writing the responses the gateway produces itself — JSON errors (customised by the API's
//! gateway responses), mock and plugin responses, preflights — each with the request id and
//! the API's CORS headers.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::Result;

use super::context::{RequestCtx, RequestValues};
use super::outcome::Refusal;
use crate::gateway_response::{ErrorKind, GatewayResponses, RenderedError};

/// The header carrying the request id on every response. (Static names: pingora parses a
/// `&str` name again at every insert.)
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Write a complete response, with the request id and the API's CORS headers for the request's
/// origin.
pub async fn write(
    session: &mut Session,
    ctx: &RequestCtx,
    status: u16,
    headers: &[(HeaderName, HeaderValue)],
    content_type: Option<&str>,
    body: Bytes,
) -> Result<()> {
    let mut header = head(ctx, status, headers)?;
    if let Some(content_type) = content_type {
        // A content type among `headers` (a customised gateway response's) wins.
        if !header.headers.contains_key(http::header::CONTENT_TYPE) {
            header.insert_header(http::header::CONTENT_TYPE, content_type)?;
        }
    }
    super::cors::decorate(&mut header, session.req_header(), ctx)?;
    finish(session, header, body).await
}

/// Write the answer to a CORS preflight: `headers` are its whole CORS answer, nothing is added
/// but the request id.
pub async fn write_preflight(
    session: &mut Session,
    ctx: &RequestCtx,
    headers: &[(HeaderName, HeaderValue)],
) -> Result<()> {
    let header = head(ctx, 204, headers)?;
    finish(session, header, Bytes::new()).await
}

fn head(
    ctx: &RequestCtx,
    status: u16,
    headers: &[(HeaderName, HeaderValue)],
) -> Result<ResponseHeader> {
    let mut header = ResponseHeader::build(status, Some(headers.len() + 4))?;
    for (name, value) in headers {
        header.append_header(name.clone(), value.clone())?;
    }
    header.insert_header(&REQUEST_ID_HEADER, &ctx.request_id)?;
    Ok(header)
}

/// Send `header` with `body` (and its length); a `HEAD` request gets the head alone.
async fn finish(session: &mut Session, mut header: ResponseHeader, body: Bytes) -> Result<()> {
    header.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(header), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// The error response for `kind` to `request`, customised by the matched API's gateway
/// responses.
pub fn render_error(
    request: &RequestHeader,
    ctx: &RequestCtx,
    kind: ErrorKind,
    message: Option<&str>,
) -> RenderedError {
    let values = RequestValues { request, ctx };
    match &ctx.stage {
        Some(stage) => stage.api.responses.render(kind, message, &values),
        None => GatewayResponses::default().render(kind, message, &values),
    }
}

/// Answer with the gateway error `refusal` describes (customised by the API's gateway
/// responses) and remember it for logging; the status it answered with.
pub async fn refuse(session: &mut Session, ctx: &mut RequestCtx, refusal: &Refusal) -> Result<u16> {
    ctx.error = Some(refusal.kind);
    let mut rendered = render_error(
        session.req_header(),
        ctx,
        refusal.kind,
        refusal.message.as_deref(),
    );
    if let Some(seconds) = refusal.retry_after {
        rendered
            .headers
            .push((http::header::RETRY_AFTER, HeaderValue::from(seconds)));
    }
    let status = rendered.status;
    write(
        session,
        ctx,
        status,
        &rendered.headers,
        Some("application/json"),
        rendered.body,
    )
    .await
    .map(|()| status)
}

/// [`refuse`] with the kind's own message.
pub async fn error(session: &mut Session, ctx: &mut RequestCtx, kind: ErrorKind) -> Result<()> {
    refuse(session, ctx, &kind.into()).await.map(|_| ())
}

/// The response to a request head pingora refused before the gateway saw it: the error's
/// default JSON with a fresh request id, and the connection closed.
pub fn refused_head(kind: ErrorKind) -> Result<(ResponseHeader, Bytes)> {
    let rendered = GatewayResponses::default().render(kind, None, &NoRequest);
    let mut header = ResponseHeader::build(rendered.status, Some(rendered.headers.len() + 4))?;
    for (name, value) in rendered.headers {
        header.append_header(name, value)?;
    }
    header.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    header.insert_header(http::header::CONTENT_LENGTH, rendered.body.len())?;
    header.insert_header(http::header::CONNECTION, "close")?;
    header.insert_header(&REQUEST_ID_HEADER, super::trace::request_id())?;
    Ok((header, rendered.body))
}

/// No request to read template values from: the head could not be parsed.
struct NoRequest;

impl crate::template::Lookup for NoRequest {
    fn header(&self, _: &str) -> Option<&str> {
        None
    }
    fn query(&self, _: &str) -> Option<String> {
        None
    }
    fn path_param(&self, _: &str) -> Option<&str> {
        None
    }
    fn context(&self, _: crate::template::ContextVar) -> Option<String> {
        None
    }
}
