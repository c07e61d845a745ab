//! API keys on the request path: admitting the key a request presented (from `x-api-key` or
//! its authorizer's context) against the stage's usage plans, and the AWS answers when it is
//! refused (403 `Forbidden`, 429 `Too Many Requests` with `Retry-After`, 429 `Limit Exceeded`).

use super::context::RequestCtx;
use super::outcome;
use crate::apikeys::{KeyService, Refusal, RouteKeys};
use crate::gateway_response::ErrorKind;

/// The request header carrying the API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The authorizer context entry carrying the API key (AWS's usage identifier key).
pub const USAGE_IDENTIFIER_KEY: &str = "usageIdentifierKey";

/// Admit the request by the key it presented, remembering the key for the access log; the
/// AWS answer when it is refused.
pub fn admit(
    keys: &KeyService,
    ctx: &mut RequestCtx,
    presented: Option<&str>,
) -> Result<(), outcome::Refusal> {
    let (Some(stage), Some(route)) = (&ctx.stage, &ctx.route) else {
        return Err(ErrorKind::InvalidApiKey.into());
    };
    let route_keys = RouteKeys {
        plans: &stage.usage_plans,
        route_key: &route.key,
        method_throttles: &route.plan_method_throttles,
    };
    match crate::apikeys::admit(keys, &ctx.snapshot.keys, &route_keys, presented) {
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
                route.key.as_ref(),
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
            Err(match refusal {
                Refusal::Forbidden(_) => ErrorKind::InvalidApiKey.into(),
                Refusal::Throttled(wait) => outcome::Refusal::throttled(wait),
                Refusal::LimitExceeded => ErrorKind::QuotaExceeded.into(),
            })
        }
    }
}
