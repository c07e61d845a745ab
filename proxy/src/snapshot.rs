//! The compiled, immutable form of a config: entrypoints (host and path prefix → stage), per-stage
//! routers, integrations and gateway responses. A reload compiles a new snapshot beside the
//! serving one and swaps the pointer; requests hold an `Arc` to the snapshot they started on.

mod apis;
mod authorizers;
mod compile;
mod integrations;
mod plans;
mod responses;
mod secrets;
mod steps;
mod upstreams;
mod validations;

use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderName;

use crate::apikeys::{KeyConfig, UsagePlan};
use crate::config::{AdminFile, ApiKeySource, ApiKind, ServerFile, Throttle};
use crate::gateway_response::GatewayResponses;
use crate::integration::Integration;
use crate::metrics::RouteMetrics;
use crate::plugin::{Phase, Plugin};
use crate::policy::{ResourcePolicy, TrustedProxies};
use crate::routing::Router;
use crate::throttle::Bucket;
use crate::validation::RequestValidation;

pub use compile::{compile, compile_with};
pub use steps::Step;

/// Everything the request path needs, resolved at load time.
#[derive(Debug)]
pub struct Snapshot {
    entrypoints: Vec<Entrypoint>,
    /// `[server]` as loaded (some keys apply only at a restart: [`Snapshot::restart_only_changes`]).
    pub server: ServerFile,
    /// `[admin]` as loaded (its `listen` applies only at a restart).
    pub admin: AdminFile,
    /// The files besides the config that the snapshot read (plugin components, model files),
    /// watched for changes.
    pub watched_files: Vec<std::path::PathBuf>,
    /// `[usage_plans]` and `[api_keys]`.
    pub keys: KeyConfig,
    /// Downstream TLS: certificates by server name, custom domains and their mutual TLS.
    pub transport: Arc<crate::tls::Transport>,
    /// The bearer token `/admin/*` calls need, when configured.
    pub admin_token: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// `[jwt_authorizers]` by name.
    pub jwt_authorizers: HashMap<String, Arc<crate::jwt::JwtAuthorizer>>,
    /// The account-level bucket (also the last of every route's), which requests that match
    /// no route take from too.
    pub account_throttle: Arc<Bucket>,
    /// Plugins still compiling (the first load of `serve` does not wait for slow ones); their
    /// routes answer 503 until a reload finds them compiled.
    pub pending_plugins: Vec<crate::plugin::Pending>,
    /// Every plugin declared, attached to a route or not: a proxy-wasm filter on no route may
    /// still do its work in its root context (ticks, queues) while the snapshot serves.
    pub plugins: HashMap<String, Arc<crate::plugin::Plugin>>,
}

/// Where a stage is reachable: an optional host name and a path prefix.
#[derive(Debug)]
struct Entrypoint {
    host: Option<String>,
    prefix: String,
    stage: Arc<Stage>,
}

/// An API's settings shared by its stages.
#[derive(Debug)]
pub struct Api {
    /// The API's name (its key under `[apis]`), reported as `$context.apiId`.
    pub name: String,
    /// REST or HTTP semantics.
    pub kind: ApiKind,
    /// Customised error responses.
    pub responses: GatewayResponses,
    /// Largest request body accepted.
    pub max_request_body_bytes: u64,
    /// Whether validation errors carry their detail in the response.
    pub validation_details: bool,
    /// Where API keys come from.
    pub api_key_source: ApiKeySource,
    /// Which client addresses may call the API.
    pub resource_policy: Option<ResourcePolicy>,
    /// Cross-origin access for browsers.
    pub cors: Option<crate::cors::CorsPolicy>,
}

/// One stage of an API, with its routes compiled for its stage variables.
#[derive(Debug)]
pub struct Stage {
    /// The API the stage belongs to.
    pub api: Arc<Api>,
    /// The stage's name.
    pub name: String,
    /// The stage's variables, as plugins see them.
    pub variables: Vec<(String, String)>,
    /// The stage's routes.
    pub router: Router<Arc<Route>>,
    /// The `$default` route of an HTTP API.
    pub default_route: Option<Arc<Route>>,
    /// The usage plans covering the stage, in config order.
    pub usage_plans: Vec<Arc<UsagePlan>>,
}

/// A route compiled for one stage.
#[derive(Debug)]
pub struct Route {
    /// The route key as written, e.g. `GET /pets/{id}` (shared with `names` and the router).
    pub key: Arc<str>,
    /// Where the route's requests go.
    pub integration: Integration,
    /// The plugins that run on the route, by phase, in chain order (one empty chain shared by
    /// the stage's routes without plugins).
    pub plugins: Arc<Chain>,
    /// The route's histograms.
    pub metrics: RouteMetrics,
    /// The token buckets a request must pass: route, stage, then account.
    pub throttles: Vec<Arc<Bucket>>,
    /// Required parameters and body models.
    pub validation: Arc<RequestValidation>,
    /// Whether requests need an API key.
    pub api_key_required: bool,
    /// Usage plans' limits for this route, replacing the plan's own: plan name and limit.
    pub plan_method_throttles: Vec<(Arc<str>, Throttle)>,
    /// What a request walks before the integration, in order ([`Step`]).
    pub steps: Vec<Step>,
    /// The API, stage and route names and stage variables, as plugins read them.
    pub names: Arc<crate::plugin::RouteNames>,
}

/// A route's JWT authorizer and the scopes of which a token must hold one.
#[derive(Debug, Clone)]
pub struct RouteJwt {
    /// The authorizer.
    pub authorizer: Arc<crate::jwt::JwtAuthorizer>,
    /// Required scopes (any one); empty for none.
    pub scopes: Vec<String>,
}

impl Route {
    /// Whether the route reads the whole request body before its integration (for its plugins
    /// or its body models).
    pub fn reads_whole_body(&self) -> bool {
        self.plugins.needs_buffering() || self.validation.needs_body()
    }
}

/// A route's plugin chain (API, then stage, then route plugins) split by phase.
#[derive(Debug, Default)]
pub struct Chain {
    /// Authorizers, run first.
    pub authorizers: Vec<Arc<Plugin>>,
    /// Validators, run after the authorizers.
    pub validators: Vec<Arc<Plugin>>,
    /// Request transformers, run last before the integration.
    pub request_transformers: Vec<Arc<Plugin>>,
    /// Response transformers, run on the integration's response.
    pub response_transformers: Vec<Arc<Plugin>>,
    /// The cache policy: the last one in the chain (the most specific level) decides.
    pub cache_policy: Option<Arc<Plugin>>,
    /// The request headers the request-phase plugins read together.
    pub request_headers: HeaderNeeds,
    /// The response headers the response transformers read together.
    pub response_headers: HeaderNeeds,
    /// Plugins of the chain still compiling: until they are ready, the route answers 503.
    pub pending: Vec<String>,
}

/// Which headers some plugins read together: every one, or those named. The gateway copies
/// only these into what it hands plugins, looking each name up rather than going through every
/// header.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeaderNeeds {
    /// Some plugin reads every header.
    pub all: bool,
    /// The headers named (a declared name that cannot be a header name matches none).
    pub names: Vec<HeaderName>,
}

impl HeaderNeeds {
    /// Add what one plugin declared (`None`: every header).
    fn add(&mut self, declared: Option<&[String]>) {
        match declared {
            None => self.all = true,
            Some(names) => {
                for name in names {
                    if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                        if !self.names.contains(&name) {
                            self.names.push(name);
                        }
                    }
                }
            }
        }
    }
}

impl Chain {
    /// Whether no plugin runs on the route (nothing pending either).
    pub fn is_empty(&self) -> bool {
        self.authorizers.is_empty()
            && self.validators.is_empty()
            && self.request_transformers.is_empty()
            && self.response_transformers.is_empty()
            && self.cache_policy.is_none()
            && self.pending.is_empty()
    }

    /// Add `plugin` to every phase it serves.
    pub fn push(&mut self, plugin: &Arc<Plugin>) {
        for phase in Phase::all_in(plugin.phases) {
            let list = match phase {
                Phase::Authorizer => &mut self.authorizers,
                Phase::Validator => &mut self.validators,
                Phase::RequestTransformer => &mut self.request_transformers,
                Phase::ResponseTransformer => &mut self.response_transformers,
                Phase::CachePolicy => {
                    self.cache_policy = Some(plugin.clone());
                    continue;
                }
            };
            list.push(plugin.clone());
        }
        if Phase::all_in(plugin.phases).any(Phase::reads_request) {
            self.request_headers.add(plugin.request_headers.as_deref());
        }
        if plugin.phases.contains(Phase::ResponseTransformer.flag()) {
            self.response_headers
                .add(plugin.response_headers.as_deref());
        }
    }

    /// Whether a plugin needs the whole request body (the route then reads it before its phases).
    pub fn needs_request_body(&self) -> bool {
        self.request_plugins().any(|p| p.needs_request_body)
    }

    /// Whether a response transformer needs the whole response body.
    pub fn needs_response_body(&self) -> bool {
        self.response_transformers
            .iter()
            .any(|p| p.needs_response_body)
    }

    /// Whether the route must buffer bodies instead of streaming them.
    pub fn needs_buffering(&self) -> bool {
        self.needs_request_body() || self.needs_response_body()
    }

    fn request_plugins(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.authorizers
            .iter()
            .chain(&self.validators)
            .chain(&self.request_transformers)
    }

    /// Whether any plugin runs before the integration.
    pub fn has_request_phases(&self) -> bool {
        !(self.authorizers.is_empty()
            && self.validators.is_empty()
            && self.request_transformers.is_empty())
    }
}

/// A request resolved to a stage.
#[derive(Debug)]
pub struct StageMatch<'a> {
    /// The stage.
    pub stage: &'a Arc<Stage>,
    /// The request path after the stage's prefix (`/` at least).
    pub path: &'a str,
}

impl Snapshot {
    /// The keys whose change from `running` (the `[server]` and `[admin]` the process started
    /// with, not those of the last reload) takes effect only at the next restart: what binds sockets, starts threads or opens files at start. Every other key
    /// (throttles, limits, body size, trusted proxies, the admin token, APIs, plugins) applies at
    /// once on reload.
    pub fn restart_only_changes(&self, running: &(ServerFile, AdminFile)) -> Vec<&'static str> {
        let (new, old) = (&self.server, &running.0);
        [
            ("server.listen", new.listen != old.listen),
            (
                "server.tls.listen",
                new.tls.as_ref().map(|t| &t.listen) != old.tls.as_ref().map(|t| &t.listen),
            ),
            (
                "server.tls.redirect_listen",
                new.tls.as_ref().map(|t| &t.redirect_listen)
                    != old.tls.as_ref().map(|t| &t.redirect_listen),
            ),
            (
                "server.tls.http2",
                new.tls.as_ref().map(|t| t.http2) != old.tls.as_ref().map(|t| t.http2),
            ),
            ("server.http2", new.http2 != old.http2),
            ("server.threads", new.threads != old.threads),
            (
                "server.work_stealing",
                new.work_stealing != old.work_stealing,
            ),
            (
                "server.grace_period_seconds",
                new.grace_period_seconds != old.grace_period_seconds,
            ),
            ("server.access_log", new.access_log != old.access_log),
            (
                "server.cache_capacity_mb",
                new.cache_capacity_mb != old.cache_capacity_mb,
            ),
            ("server.state_dir", new.state_dir != old.state_dir),
            ("server.watch_config", new.watch_config != old.watch_config),
            (
                "server.plugin_cache_dir",
                new.plugin_cache_dir != old.plugin_cache_dir,
            ),
            ("admin.listen", self.admin.listen != running.1.listen),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
    }

    /// The stage serving `host` (without port, any case) and `path`, preferring host-mapped
    /// stages, then the longest prefix.
    pub fn resolve<'a>(&'a self, host: Option<&str>, path: &'a str) -> Option<StageMatch<'a>> {
        self.entrypoints
            .iter()
            .filter(|e| match (&e.host, host) {
                (None, _) => true,
                (Some(expected), Some(host)) => expected.eq_ignore_ascii_case(host),
                (Some(_), None) => false,
            })
            .find_map(|e| {
                let rest = path.strip_prefix(e.prefix.as_str())?;
                if !(rest.is_empty() || rest.starts_with('/')) {
                    return None;
                }
                Some(StageMatch {
                    stage: &e.stage,
                    path: if rest.is_empty() { "/" } else { rest },
                })
            })
    }
}

impl Snapshot {
    /// Whether some stage is served on its own host names (host-mapped entrypoints sort first),
    /// so that [`Snapshot::resolve`] needs the request's host.
    pub fn maps_hosts(&self) -> bool {
        self.entrypoints.first().is_some_and(|e| e.host.is_some())
    }

    /// The CORS policy for a request from `origin` that no stage serves: the first API's that
    /// lets `origin` read its responses, so a browser app of this gateway can read the 404 of a
    /// mistyped URL (the answer tells it nothing an API's own 404 would not).
    pub fn cors_outside_apis(&self, origin: &str) -> Option<&crate::cors::CorsPolicy> {
        self.entrypoints
            .iter()
            .filter_map(|e| e.stage.api.cors.as_ref())
            .find(|cors| cors.allows(origin))
    }
}

#[cfg(test)]
mod tests;
