//! The request path of a route with `api_key_required`: find the key, a plan of it that covers
//! the stage, take a token from the key's bucket, and count the request against the quota.

use std::sync::Arc;
use std::time::Duration;

use super::secret::digest;
use super::service::KeyService;
use super::usage::{today, Charge};
use super::{KeyConfig, UsagePlan};
use crate::config::Throttle;

/// A request the key admitted.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The key's id, for the access log.
    pub key_id: Arc<str>,
}

/// Why the key did not admit the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No key, an unknown or disabled one, or one without a plan for the stage: 403.
    Forbidden(&'static str),
    /// The key's bucket is empty: 429 with this wait.
    Throttled(Duration),
    /// The key's quota for the period is used up: 429.
    LimitExceeded,
}

/// What a route of a stage asks of keys.
pub struct RouteKeys<'a> {
    /// The usage plans covering the stage, in config order.
    pub plans: &'a [Arc<UsagePlan>],
    /// The route key, e.g. `GET /pets/{id}` (method throttles are per route).
    pub route_key: &'a str,
    /// Usage plans' limits for this route, replacing the plan's own: plan name and limit.
    pub method_throttles: &'a [(Arc<str>, Throttle)],
}

/// Admit a request presenting `presented` as its key on `route`.
pub fn admit(
    service: &KeyService,
    config: &KeyConfig,
    route: &RouteKeys<'_>,
    presented: Option<&str>,
) -> Result<Admitted, Refusal> {
    let presented = presented.ok_or(Refusal::Forbidden("missing"))?;
    let digest = digest(presented);
    let entry = config
        .config_keys
        .get(&digest)
        .cloned()
        .or_else(|| service.lookup(&digest))
        .ok_or(Refusal::Forbidden("unknown"))?;
    if !entry.enabled {
        return Err(Refusal::Forbidden("disabled"));
    }
    let plan: &Arc<UsagePlan> = route
        .plans
        .iter()
        .find(|plan| entry.plans.iter().any(|name| **name == *plan.name))
        .ok_or(Refusal::Forbidden("not_in_plan"))?;
    let method_limit = route
        .method_throttles
        .iter()
        .find(|(name, _)| **name == *plan.name)
        .map(|(_, limit)| (Some(route.route_key), limit));
    if let Some((method, limit)) = method_limit.or(plan.throttle.as_ref().map(|l| (None, l))) {
        let bucket = service.buckets.bucket(&entry.id, &plan.name, method, limit);
        bucket.admit().map_err(Refusal::Throttled)?;
    }
    let quota = plan
        .quota
        .map(|quota| service.quota_rule(&plan.name, quota));
    match service
        .usage
        .charge(&entry.id, &plan.name, quota.as_ref(), today())
    {
        Charge::Counted => Ok(Admitted {
            key_id: entry.id.clone(),
        }),
        Charge::LimitExceeded => Err(Refusal::LimitExceeded),
    }
}
