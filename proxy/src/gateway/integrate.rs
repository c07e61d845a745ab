//! The end of the request pipeline: the route's integration. A mock answers from config (the
//! body read and bounded all the same); an http integration plans its upstream URI and either
//! hands the request to pingora's streaming proxy or, when the route buffered the body, runs
//! the exchange itself.

use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::context::{RequestCtx, RequestValues, UpstreamPlan};
use super::forward;
use super::outcome::Answer;
use crate::cache::ResponseCache;
use crate::integration::{HttpIntegration, Integration, MockResponse};
use crate::snapshot::Route;

/// What the integration did: answered (a mock, or the buffered exchange, written), or left the
/// request to pingora's streaming proxy.
pub enum Integrated {
    /// The gateway answers: write this.
    Answer(Answer),
    /// The buffered exchange wrote the response.
    Written,
    /// Pingora proxies the request (`upstream_peer` and the filters after it).
    Stream,
}

/// Run `route`'s integration; `stage_path` is the request path after the stage prefix.
pub async fn integrate(
    session: &mut Session,
    ctx: &mut RequestCtx,
    route: &Route,
    stage_path: &str,
    cache: &ResponseCache,
) -> Result<Integrated> {
    match &route.integration {
        Integration::Mock(mock) => mock_answer(session, ctx, mock).await,
        Integration::Http(http) => {
            plan_upstream(session, ctx, http, stage_path);
            match ctx.body.take() {
                Some(body) => {
                    Box::pin(forward::buffered_exchange(session, ctx, http, body, cache)).await?;
                    Ok(Integrated::Written)
                }
                None => Ok(Integrated::Stream),
            }
        }
    }
}

async fn mock_answer(
    session: &mut Session,
    ctx: &mut RequestCtx,
    mock: &MockResponse,
) -> Result<Integrated> {
    if ctx.body.is_none() {
        let limit = ctx.max_request_body_bytes();
        if let Err(kind) = forward::skip_request_body(session, limit).await? {
            session.set_keepalive(None);
            return Ok(Integrated::Answer(Answer::Refused(kind.into())));
        }
    }
    let mut head = ResponseHeader::build(mock.status, Some(mock.headers.len()))?;
    for (name, value) in &mock.headers {
        head.append_header(name.clone(), value.clone())?;
    }
    Ok(Integrated::Answer(Answer::Whole(
        Box::new(head),
        mock.body.clone(),
    )))
}

/// Where the request goes upstream: the integration's URI for the (maybe transformed) path
/// and query.
fn plan_upstream(
    session: &Session,
    ctx: &mut RequestCtx,
    http: &HttpIntegration,
    stage_path: &str,
) {
    let request = session.req_header();
    let values = RequestValues { request, ctx };
    let stage_path = ctx.edits.path.as_deref().unwrap_or(stage_path);
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
}
