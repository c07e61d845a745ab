//! The cache-policy phase on `http` and `http_proxy` routes: ask the route's cache policy how to
//! cache the request, answer hits from the response cache (through the response transformers,
//! like fresh responses), and record misses on their way to the client. Responses carry
//! `x-wasmgate-cache: hit | miss | refresh` whenever the policy chose to cache.

use std::time::Duration;

use http::HeaderName;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::context::RequestCtx;
use super::outcome::{Answer, Outcome};
use super::views::{lent_context, request_view};
use crate::cache::{CacheKey, CachedResponse, Fill, ResponseCache};
use crate::gateway_response::ErrorKind;
use crate::metrics::METRICS;
use crate::plugin::{CacheDecision, Plugin};

/// The response header telling how the cache answered.
static CACHE_HEADER: HeaderName = HeaderName::from_static("x-wasmgate-cache");

/// Ask the route's cache `policy` how to cache the request: a hit is answered whole from the
/// cache, a miss or refresh is marked for recording on its way to the client.
pub async fn lookup(
    policy: &Plugin,
    session: &Session,
    ctx: &mut RequestCtx,
    cache: &ResponseCache,
) -> Result<Outcome> {
    let Some(route) = ctx.route.clone() else {
        return Ok(Outcome::Continue);
    };
    let view = request_view(session.req_header(), &route.plugins.request_headers);
    let decision = Box::pin(policy.decide(&view, &lent_context(ctx))).await;
    let (rule, read) = match decision {
        Ok(CacheDecision::Cache(rule)) => (rule, true),
        Ok(CacheDecision::Refresh(rule)) => (rule, false),
        Ok(CacheDecision::Bypass) => {
            count(ctx, "bypass");
            return Ok(Outcome::Continue);
        }
        Err(_) if policy.settings.failure_mode.is_open() => return Ok(Outcome::Continue),
        Err(_) => return Ok(ErrorKind::InternalError.into()),
    };
    if rule.ttl_seconds == 0 {
        count(ctx, "bypass");
        return Ok(Outcome::Continue);
    }
    let key = match &ctx.stage {
        Some(stage) => CacheKey::new(&stage.api.name, &stage.name, rule.key),
        None => return Ok(Outcome::Continue),
    };
    if read {
        if let Some(hit) = cache.get(&key) {
            count(ctx, "hit");
            return Ok(Outcome::Answer(Answer::Whole(
                Box::new(cached_head(&hit)?),
                hit.body.clone(),
            )));
        }
    }
    let outcome = if read { "miss" } else { "refresh" };
    count(ctx, outcome);
    // A HEAD response has no body to store (and must not stand in for a GET's).
    if session.req_header().method != http::Method::HEAD {
        ctx.cache_fill = Some(Fill::new(
            key,
            Duration::from_secs(rule.ttl_seconds.into()),
            outcome,
        ));
    }
    Ok(Outcome::Continue)
}

fn cached_head(hit: &CachedResponse) -> Result<ResponseHeader> {
    let mut head = ResponseHeader::build(hit.status, Some(hit.headers.len() + 1))?;
    for (name, value) in &hit.headers {
        head.append_header(name.clone(), value.clone())?;
    }
    head.insert_header(&CACHE_HEADER, "hit")?;
    Ok(head)
}

fn count(ctx: &RequestCtx, result: &str) {
    if let Some(stage) = &ctx.stage {
        METRICS
            .cache_lookups
            .with_label_values(&[stage.api.name.as_str(), stage.name.as_str(), result])
            .inc();
    }
}

/// The integration's response head arrived (after the response mappings, before the response
/// transformers): record it and mark the response.
pub fn record_head(ctx: &mut RequestCtx, head: &mut ResponseHeader) -> Result<()> {
    if let Some(fill) = ctx.cache_fill.as_mut() {
        fill.head(head);
        head.insert_header(&CACHE_HEADER, fill.outcome())?;
    }
    Ok(())
}

/// A chunk of the integration's body went to the client; the last one stores the response.
pub fn record_body(
    ctx: &mut RequestCtx,
    chunk: Option<&[u8]>,
    end_of_stream: bool,
    cache: &ResponseCache,
) {
    let Some(fill) = ctx.cache_fill.as_mut() else {
        return;
    };
    if let Some(chunk) = chunk {
        fill.chunk(chunk);
    }
    if end_of_stream {
        if let Some(fill) = ctx.cache_fill.take() {
            fill.finish(cache);
        }
    }
}
