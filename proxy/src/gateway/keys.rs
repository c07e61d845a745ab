//! API keys on the request path: where a route's key comes from, admitting it against the
//! stage's usage plans, and the AWS answers when it is refused (403 `Forbidden`, 429 `Too Many
//! Requests` with `Retry-After`, 429 `Limit Exceeded`).

use pingora::proxy::Session;
use pingora::Result;

use super::context::RequestCtx;
use super::respond;
use crate::apikeys::{KeyService, Refusal};
use crate::config::ApiKeySource;
use crate::gateway_response::ErrorKind;
use crate::snapshot::Route;
use crate::throttle;

/// The request header carrying the API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The authorizer context entry carrying the API key (AWS's usage identifier key).
pub const USAGE_IDENTIFIER_KEY: &str = "usageIdentifierKey";

/// Whether `route` needs a key from the `x-api-key` header (checked before plugins run).
pub fn checked_from_header(route: &Route, ctx: &RequestCtx) -> bool {
    route.api_key_required && source(ctx) == ApiKeySource::Header
}

/// Whether `route` needs a key from its authorizer's context (checked after authorizers).
pub fn checked_from_authorizer(route: &Route, ctx: &RequestCtx) -> bool {
    route.api_key_required && source(ctx) == ApiKeySource::Authorizer
}

fn source(ctx: &RequestCtx) -> ApiKeySource {
    ctx.stage
        .as_ref()
        .map_or(ApiKeySource::Header, |s| s.api.api_key_source)
}

/// The key an authorizer returned.
pub fn from_authorizer(ctx: &RequestCtx) -> Option<String> {
    ctx.authorizer_value(USAGE_IDENTIFIER_KEY)
        .map(str::to_string)
}

/// Admit the request by the key it presented, remembering the key for the access log.
pub fn admit(
    keys: &KeyService,
    ctx: &mut RequestCtx,
    presented: Option<&str>,
) -> Result<(), Refusal> {
    let (Some(stage), Some(route)) = (&ctx.stage, &ctx.route) else {
        return Err(Refusal::Forbidden("missing"));
    };
    match crate::apikeys::admit(keys, &ctx.snapshot, stage, route, presented) {
        Ok(admitted) => {
            ctx.api_key_id = Some(admitted.key_id);
            Ok(())
        }
        Err(refusal) => {
            let reason = match refusal {
                Refusal::Forbidden(reason) => reason,
                Refusal::Throttled(_) => "throttled",
                Refusal::LimitExceeded => "limit_exceeded",
            };
            let labels = [
                stage.api.name.as_str(),
                stage.name.as_str(),
                route.key.as_str(),
            ];
            let metrics = &crate::metrics::METRICS;
            metrics
                .api_key_refusals
                .with_label_values(&[labels[0], labels[1], labels[2], reason])
                .inc();
            if let Refusal::Throttled(_) = refusal {
                metrics
                    .throttled
                    .with_label_values(&[labels[0], labels[1], labels[2], "key"])
                    .inc();
            }
            Err(refusal)
        }
    }
}

/// Answer a refused key.
pub async fn refuse(session: &mut Session, ctx: &mut RequestCtx, refusal: Refusal) -> Result<()> {
    match refusal {
        Refusal::Forbidden(_) => respond::error(session, ctx, ErrorKind::InvalidApiKey).await,
        Refusal::Throttled(wait) => {
            respond::throttled(session, ctx, throttle::retry_after_seconds(wait)).await
        }
        Refusal::LimitExceeded => respond::error(session, ctx, ErrorKind::QuotaExceeded).await,
    }
}
