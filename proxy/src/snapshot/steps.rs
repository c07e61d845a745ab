//! The request pipeline as data: each route, per stage, compiles into the ordered list of steps
//! its requests walk before the integration. A route without a feature has no step for it, so
//! the request path pays nothing for what a route does not use; the gateway's walker
//! (`gateway::pipeline`) runs one step after another until one answers.
//!
//! ```text
//! (plugins still compiling: 503) ─► throttle ─► API key (x-api-key) ─► read body ─► JWT authorizer ─► authorizer plugins
//!          ─► API key (from the authorizer) ─► validation ─► validator plugins
//!          ─► request transformers ─► cache lookup (http integrations)
//! ```
//!
//! To add a step: a variant here (with what it needs, resolved at load), its place in
//! [`request_steps`], and its arm in `gateway::pipeline::run_step`.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Route, RouteJwt};
use crate::authorizer::IdentityRule;
use crate::config::ApiKeySource;
use crate::integration::Integration;
use crate::plugin::Plugin;

/// One step of a route's request pipeline.
#[derive(Debug, Clone)]
pub enum Step {
    /// Answer 503: these plugins of the route are still compiling.
    PluginsPending(Arc<str>),
    /// Take a token from the route's buckets: route, stage, account.
    Throttle,
    /// Admit the request by its API key, from `x-api-key` or from the authorizer's context.
    ApiKey(ApiKeySource),
    /// Read the whole request body (for body-aware plugins or a body model).
    ReadBody,
    /// Verify the bearer token with a JWT authorizer.
    Jwt(RouteJwt),
    /// An authorizer plugin, with its Lambda-authorizer rule (identity sources, decision
    /// cache) when it has one.
    Authorizer(Arc<Plugin>, Option<Arc<IdentityRule>>),
    /// Required parameters and the body's model.
    Validation,
    /// A validator plugin.
    Validator(Arc<Plugin>),
    /// A request transformer plugin.
    RequestTransformer(Arc<Plugin>),
    /// Ask the cache policy plugin, answering hits from the response cache.
    CacheLookup(Arc<Plugin>),
}

/// The steps of `route` on an API taking keys from `key_source`, in pipeline order: `jwt` is
/// the route's JWT authorizer (verifying requests first) with the scopes it requires;
/// `authorizer_rules` are the authorizer plugins' rules by plugin name.
pub fn request_steps(
    route: &Route,
    jwt: Option<RouteJwt>,
    key_source: ApiKeySource,
    authorizer_rules: &HashMap<String, Arc<IdentityRule>>,
) -> Vec<Step> {
    let chain = &route.plugins;
    let key_step =
        |source| (route.api_key_required && key_source == source).then_some(Step::ApiKey(source));
    let mut steps = Vec::new();
    if !chain.pending.is_empty() {
        steps.push(Step::PluginsPending(chain.pending.join("`, `").into()));
    }
    steps.push(Step::Throttle);
    steps.extend(key_step(ApiKeySource::Header));
    if route.reads_whole_body() {
        steps.push(Step::ReadBody);
    }
    steps.extend(jwt.map(Step::Jwt));
    steps.extend(chain.authorizers.iter().map(|plugin| {
        Step::Authorizer(plugin.clone(), authorizer_rules.get(&plugin.name).cloned())
    }));
    steps.extend(key_step(ApiKeySource::Authorizer));
    if !route.validation.is_empty() {
        steps.push(Step::Validation);
    }
    steps.extend(chain.validators.iter().cloned().map(Step::Validator));
    steps.extend(
        chain
            .request_transformers
            .iter()
            .cloned()
            .map(Step::RequestTransformer),
    );
    if let (Integration::Http(_), Some(policy)) = (&route.integration, &chain.cache_policy) {
        steps.push(Step::CacheLookup(policy.clone()));
    }
    steps
}
