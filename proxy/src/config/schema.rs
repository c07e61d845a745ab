//! The config file's shape, as written by operators. Every table rejects unknown keys.
//!
//! ```toml
//! [server]
//! listen = ["127.0.0.1:8080"]
//!
//! [admin]
//! listen = "127.0.0.1:9901"
//!
//! [upstreams.pets]
//! targets = ["127.0.0.1:9001", "127.0.0.1:9002"]
//!
//! [apis.petstore]
//! type = "rest"
//!
//! [apis.petstore.stages.prod]
//! variables = { version = "v2" }
//!
//! [apis.petstore.routes."GET /pets/{id}"]
//! integration = { type = "http_proxy", uri = "http://pets/${stageVariables.version}/pets/{id}" }
//! ```

use serde::Deserialize;
use toml::Spanned;

/// A table entry whose name matters: an API, stage, route, upstream or gateway response.
#[derive(Debug, Clone)]
pub struct Named<T> {
    /// The entry's key, with its place in the file.
    pub name: Spanned<String>,
    /// The entry's dotted key path, for error messages.
    pub path: String,
    /// The entry itself.
    pub value: T,
}

/// The whole config file.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// `[server]`.
    pub server: ServerFile,
    /// `[admin]`.
    pub admin: AdminFile,
    /// `[upstreams.<name>]`.
    pub upstreams: Vec<Named<UpstreamFile>>,
    /// `[plugins.<name>]`.
    pub plugins: Vec<Named<PluginFile>>,
    /// `[apis.<name>]`.
    pub apis: Vec<Named<ApiFile>>,
    /// `[usage_plans.<name>]`.
    pub usage_plans: Vec<Named<UsagePlanFile>>,
    /// `[api_keys.<name>]`.
    pub api_keys: Vec<Named<ApiKeyFile>>,
    /// `[jwt_authorizers.<name>]`.
    pub jwt_authorizers: Vec<Named<JwtAuthorizerFile>>,
}

/// `[jwt_authorizers.<name>]`: verify bearer JWTs of an OIDC issuer (routes name it in
/// `jwt_authorizer`).
///
/// ```toml
/// [jwt_authorizers.auth0]
/// issuer = "https://example.auth0.com/"
/// audiences = ["https://api.example.com"]
/// jwks_uri = "https://example.auth0.com/.well-known/jwks.json"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtAuthorizerFile {
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// The `aud` values accepted (a token needs one of them).
    pub audiences: Vec<String>,
    /// The issuer's JWKS URL (`http://` or `https://`).
    pub jwks_uri: Option<Spanned<String>>,
    /// A JWKS file, relative to the config.
    pub jwks_file: Option<Spanned<String>>,
    /// Where the token is: `header.<name>`. Default `header.authorization` (`Bearer ` optional).
    pub identity_source: Option<String>,
    /// Accepted algorithms. Default: RS256/384/512, PS256/384/512, ES256/384, EdDSA.
    pub algorithms: Option<Vec<String>>,
    /// An environment variable holding an HS256 secret (HS256 is accepted only with one).
    pub hs256_secret_env: Option<Spanned<String>>,
    /// A file holding an HS256 secret.
    pub hs256_secret_file: Option<Spanned<String>>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds. Default 60.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Least time between two fetches of the keys (on an unknown `kid`). Default 30.
    #[serde(default = "default_jwks_refresh")]
    pub jwks_refresh_seconds: u64,
}

fn default_leeway() -> u64 {
    60
}

fn default_jwks_refresh() -> u64 {
    30
}

/// `[server]`: listeners and process settings. Changes here take effect on restart, not reload.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// Addresses the gateway serves APIs on. Default `["127.0.0.1:8080"]`.
    #[serde(default = "default_listen")]
    pub listen: Vec<Spanned<String>>,
    /// Worker threads. Default: one per CPU core.
    pub threads: Option<usize>,
    /// How long SIGTERM waits for in-flight requests before exiting. Default 10.
    #[serde(default = "default_grace_period")]
    pub grace_period_seconds: u64,
    /// `"stdout"` (default), `"off"`, or a file path that JSON access-log lines are appended to.
    #[serde(default = "default_access_log")]
    pub access_log: String,
    /// Largest request body accepted, in bytes (413 above it). Default 10 MB, as AWS.
    #[serde(default = "default_max_request_body")]
    pub max_request_body_bytes: u64,
    /// Poll the config file and reload when it changes. Default true.
    #[serde(default = "default_true")]
    pub watch_config: bool,
    /// Size of the response cache that cache-policy plugins fill, in MiB. Default 64.
    #[serde(default = "default_cache_capacity")]
    pub cache_capacity_mb: u64,
    /// The account-level limit on every request the gateway serves. Default 10,000 requests/s
    /// with a burst of 5,000, as AWS.
    #[serde(default = "default_account_throttle")]
    pub throttle: Throttle,
    /// Where the gateway keeps its state (API keys, usage counts) in an SQLite database,
    /// relative to the config file's directory. Default `.wasmgate`.
    #[serde(default = "default_state_dir")]
    pub state_dir: String,
    /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names the client. Default none:
    /// the client is the connection's peer.
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
    /// `[server.limits]`: what a request head may be (`config::RequestLimits`).
    #[serde(default)]
    pub limits: super::RequestLimits,
}

/// A token bucket: `rate` requests per second on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(try_from = "ThrottleFile")]
pub struct Throttle {
    /// Tokens added per second (may be fractional, e.g. 0.5).
    pub rate: f64,
    /// The bucket's size.
    pub burst: std::num::NonZeroU32,
}

/// `throttle = { rate = 100, burst = 50 }` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleFile {
    rate: f64,
    burst: u32,
}

impl TryFrom<ThrottleFile> for Throttle {
    type Error = String;

    fn try_from(file: ThrottleFile) -> Result<Self, String> {
        if !(file.rate.is_finite() && file.rate > 0.0 && file.rate <= 1e9) {
            return Err(format!(
                "`rate` must be a number of requests per second above 0 (got {})",
                file.rate
            ));
        }
        let burst = std::num::NonZeroU32::new(file.burst)
            .ok_or("`burst` must be at least 1 (the bucket's size)")?;
        Ok(Throttle {
            rate: file.rate,
            burst,
        })
    }
}

fn default_account_throttle() -> Throttle {
    Throttle {
        rate: 10_000.0,
        burst: std::num::NonZeroU32::new(5_000).expect("non-zero"),
    }
}

impl Default for ServerFile {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            threads: None,
            grace_period_seconds: default_grace_period(),
            access_log: default_access_log(),
            max_request_body_bytes: default_max_request_body(),
            watch_config: true,
            cache_capacity_mb: default_cache_capacity(),
            throttle: default_account_throttle(),
            state_dir: default_state_dir(),
            trusted_proxies: Vec::new(),
            limits: super::RequestLimits::default(),
        }
    }
}

/// `[admin]`: the operator's listener for health, metrics, reload, keys and usage.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminFile {
    /// Address of the admin listener. Default `"127.0.0.1:9901"` (loopback only).
    #[serde(default = "default_admin_listen")]
    pub listen: Spanned<String>,
    /// The environment variable holding the bearer token that `/admin/*` calls need.
    pub token_env: Option<Spanned<String>>,
    /// A file holding that token (surrounding whitespace ignored), relative to the config.
    pub token_file: Option<Spanned<String>>,
    /// Whether `GET /metrics` is served without the token (for a scraper that cannot send one).
    /// Default false: with a token configured, every endpoint but `/healthz` and `/readyz`
    /// needs it.
    #[serde(default)]
    pub public_metrics: bool,
}

impl Default for AdminFile {
    fn default() -> Self {
        Self {
            listen: default_admin_listen(),
            token_env: None,
            token_file: None,
            public_metrics: false,
        }
    }
}

/// `[upstreams.<name>]`: a pool of backends that integration URIs name as their host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFile {
    /// `host:port` of each backend; requests go round-robin over the healthy ones.
    pub targets: Vec<Spanned<String>>,
    /// How long a backend that failed is skipped, in ms. Default 10000.
    #[serde(default = "default_fail_timeout")]
    pub fail_timeout_ms: u64,
}

/// `[plugins.<name>]`: a WebAssembly component plugin, declared once and attached by name to
/// APIs, stages and routes (`plugins = ["auth", "headers"]`).
///
/// ```toml
/// [plugins.auth]
/// path = "plugins/token_authorizer.wasm"
/// sha256 = "9f2c…"
/// config = { tokens = { "s3cr3t" = { principal = "ada" } } }
/// timeout_ms = 50
/// memory_mb = 32
/// failure_mode = "closed"
/// isolation = "request"
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginFile {
    /// The component file, relative to the config file's directory.
    pub path: Spanned<String>,
    /// Optional pin: the file's SHA-256 in hex; a different file is a config error.
    pub sha256: Option<Spanned<String>>,
    /// The plugin's own settings, handed to it as JSON through the `config` import.
    #[serde(default)]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Deadline of one call in ms, instantiation included. Default 50.
    #[serde(default = "default_plugin_timeout")]
    pub timeout_ms: u64,
    /// Memory cap of one instance in MiB. Default 32.
    #[serde(default = "default_plugin_memory")]
    pub memory_mb: u32,
    /// What a fault (trap, timeout, invalid answer) means. Default `closed`.
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// `request` (fresh instance per call, default) or `reuse` (warm instances).
    #[serde(default)]
    pub isolation: Isolation,
    /// `host:port`s the plugin may call through the `http` import.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// For authorizer plugins: AWS Lambda-authorizer identity sources and result caching.
    pub authorizer: Option<AuthorizerFile>,
}

/// `[plugins.<name>] authorizer = { type = "token", validation_regex = "^Bearer .+$" }` or
/// `{ type = "request", identity_sources = ["header.x-user", "querystring.tenant"] }`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuthorizerFile {
    /// `token` (one header) or `request` (headers, query strings, stage variables).
    #[serde(rename = "type")]
    pub kind: AuthorizerKind,
    /// A `token` authorizer's header, as `header.<name>`. Default `header.authorization`.
    pub identity_source: Option<String>,
    /// A `request` authorizer's sources: `header.<name>`, `querystring.<name>`,
    /// `stageVariables.<name>`.
    #[serde(default)]
    pub identity_sources: Vec<String>,
    /// A `token` authorizer's token must match this, else 401 without calling the plugin.
    pub validation_regex: Option<String>,
    /// How long a decision (allow or deny) is reused for the same identity. Default 300; 0 off.
    #[serde(default = "default_authorizer_ttl")]
    pub ttl_seconds: u64,
}

/// The two kinds of AWS Lambda authorizer.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizerKind {
    /// The identity is one header.
    Token,
    /// The identity is several request values.
    Request,
}

fn default_authorizer_ttl() -> u64 {
    300
}

/// What a plugin fault means for the request.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// Refuse the request: 403 for authorizers, 500 otherwise.
    #[default]
    Closed,
    /// Skip the plugin and go on.
    Open,
}

/// How plugin instances are used.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// A fresh instance per call: no state leaks between requests.
    #[default]
    Request,
    /// Warm instances reused across requests, replaced after any fault.
    Reuse,
}

/// `[apis.<name>]` without its sub-tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// `"rest"` or `"http"`, as AWS API Gateway's two API kinds (they differ in error behaviour).
    #[serde(rename = "type")]
    pub kind: ApiKind,
    /// Free text for operators.
    pub description: Option<String>,
    /// Path prefix before the stage name, e.g. `"/shop"` serves `/shop/<stage>/...`. Default none.
    pub base_path: Option<Spanned<String>>,
    /// Overrides `[server].max_request_body_bytes` for this API.
    pub max_request_body_bytes: Option<u64>,
    /// Plugins run on every route of the API, first in the chain.
    #[serde(default)]
    pub plugins: Vec<Spanned<String>>,
    /// Request models: JSON Schemas (draft-04 unless the schema names another `$schema`) that
    /// routes validate request bodies against.
    #[serde(default)]
    pub models: std::collections::BTreeMap<String, Spanned<ModelFile>>,
    /// Put the schema error's detail into 400 answers too (it always goes to the access log).
    #[serde(default)]
    pub validation_details: bool,
    /// Where routes with `api_key_required` find the API key. Default `header` (`x-api-key`).
    #[serde(default)]
    pub api_key_source: ApiKeySource,
    /// Which client addresses may call the API, checked before anything else.
    pub resource_policy: Option<ResourcePolicyFile>,
    /// Cross-origin access for browsers.
    pub cors: Option<Spanned<CorsFile>>,
}

/// `[apis.<name>.cors]`: which browser origins may call the API and how.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CorsFile {
    /// Exact origins (`https://app.example.com`), patterns (`https://*.example.com`) or `*`.
    pub allow_origins: Vec<String>,
    /// Methods a preflight may ask for (`*` for any). Default none beyond simple requests.
    #[serde(default)]
    pub allow_methods: Vec<String>,
    /// Request headers a preflight may ask for (`*` for any).
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// Response headers scripts may read.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// How long browsers may cache a preflight answer.
    pub max_age_seconds: Option<u32>,
    /// Let browsers send cookies and credentials (never with the origin `*`).
    #[serde(default)]
    pub allow_credentials: bool,
}

/// `[apis.<name>.resource_policy]`: addresses and CIDR blocks (IPv4 or IPv6); deny wins.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResourcePolicyFile {
    /// When not empty, only these may call.
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    /// These may never call.
    #[serde(default)]
    pub deny: Vec<Spanned<String>>,
}

/// Where the API key of a request comes from, as AWS's `apiKeySource`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeySource {
    /// The `x-api-key` request header.
    #[default]
    Header,
    /// The `usageIdentifierKey` entry of the context an authorizer plugin returned.
    Authorizer,
}

/// `[apis.<name>.models.<Model>]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// The JSON Schema, written as a TOML table (TOML has no `null`: use `file` for schemas that
    /// need it).
    pub schema: Option<toml::Table>,
    /// A JSON file holding the schema, relative to the config file.
    pub file: Option<String>,
}

/// The AWS API kind, which decides unknown-route errors and the `$default` route.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ApiKind {
    /// REST API: unknown routes answer 403 `Missing Authentication Token`.
    Rest,
    /// HTTP API: unknown routes answer 404 `Not Found`; a `$default` route catches everything.
    Http,
}

impl ApiKind {
    /// The kind as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::Http => "http",
        }
    }
}

/// `[apis.<name>]`.
#[derive(Debug, Clone)]
pub struct ApiFile {
    /// The API's own keys.
    pub settings: ApiSettings,
    /// `[apis.<name>.stages.<stage>]`; at least one.
    pub stages: Vec<Named<StageFile>>,
    /// `[apis.<name>.routes."<METHOD> <path>"]`.
    pub routes: Vec<Named<RouteFile>>,
    /// `[apis.<name>.gateway_responses.<TYPE>]`.
    pub gateway_responses: Vec<Named<GatewayResponseFile>>,
}

/// `[apis.<name>.stages.<stage>]`. The stage named `$default` is served without a path prefix.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StageFile {
    /// Stage variables, used in URIs and mappings as `${stageVariables.<name>}`.
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, String>,
    /// Custom domains: requests whose `Host` is one of these reach this stage without the prefix.
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
    /// Plugins run on every route of the stage, after the API's.
    #[serde(default)]
    pub plugins: Vec<Spanned<String>>,
    /// One limit for all the stage's routes together.
    pub throttle: Option<Throttle>,
}

/// `[apis.<name>.routes."<METHOD> <path>"]`; the key is the route key (`ANY` matches every method,
/// `$default` is the HTTP API catch-all).
#[derive(Debug, Clone)]
pub struct RouteFile {
    /// Where matching requests go.
    pub integration: IntegrationFile,
    /// Plugins run on this route, after the API's and the stage's.
    pub plugins: Vec<Spanned<String>>,
    /// A limit for this route in each stage.
    pub throttle: Option<Throttle>,
    /// Models the request body must match, by content type (`$default` for any other type).
    pub request_models: std::collections::BTreeMap<String, Spanned<String>>,
    /// Request parameters that must be present: `querystring.<name>` or `header.<name>`.
    pub required_parameters: Vec<Spanned<String>>,
    /// Requests need an enabled API key of a usage plan that covers the stage (else 403).
    pub api_key_required: bool,
    /// A `[jwt_authorizers]` entry that verifies the request's token first.
    pub jwt_authorizer: Option<Spanned<String>>,
    /// Scopes of which the token must hold one (403 otherwise).
    pub authorization_scopes: Vec<String>,
}

/// The integration of a route, chosen by its `type` key.
#[derive(Debug, Clone)]
pub enum IntegrationFile {
    /// `type = "http_proxy"`: stream the request and response through unchanged.
    HttpProxy(HttpIntegrationFile),
    /// `type = "http"`: proxy with the declared parameter mappings applied.
    Http(HttpIntegrationFile),
    /// `type = "mock"`: answer from config, no backend.
    Mock(MockIntegrationFile),
}

/// Keys of an `http_proxy` or `http` integration (mappings only for `http`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpIntegrationSettings {
    /// `http://host[:port][/path]`; the host is an `[upstreams]` name or an address. The path may
    /// use the route's `{params}` and `${stageVariables.<name>}`; without a path the request's
    /// path (after the stage) is forwarded.
    pub uri: Spanned<String>,
    /// Deadline for the backend's response, in ms (504 after it): 50 to 29000 on a REST API, to
    /// 30000 on an HTTP API. Default 29000, as AWS.
    pub timeout_ms: Option<Spanned<u64>>,
    /// For `http` integrations: the method sent to the backend. Default: the request's method.
    pub method: Option<Spanned<String>>,
}

/// An `http_proxy` or `http` integration.
#[derive(Debug, Clone)]
pub struct HttpIntegrationFile {
    /// The plain keys.
    pub settings: HttpIntegrationSettings,
    /// `request_parameters = { "<action>:<target>" = "<value>" }` (only for `http`).
    pub request_parameters: Vec<(Spanned<String>, Spanned<String>)>,
    /// `response_parameters = { "<action>:<target>" = "<value>" }` (only for `http`).
    pub response_parameters: Vec<(Spanned<String>, Spanned<String>)>,
}

/// A `mock` integration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockIntegrationFile {
    /// Response status. Default 200.
    #[serde(default = "default_mock_status")]
    pub status: Spanned<u16>,
    /// Response headers.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Response body.
    #[serde(default)]
    pub body: String,
}

/// `[usage_plans.<name>]`: limits sold to API key holders, as AWS usage plans.
///
/// ```toml
/// [usage_plans.gold]
/// stages = ["petstore/prod"]
/// throttle = { rate = 100, burst = 200 }
/// quota = { limit = 100000, period = "MONTH" }
/// method_throttles = { "petstore/prod/POST /pets" = { rate = 5, burst = 10 } }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsagePlanFile {
    /// Free text for operators.
    pub description: Option<String>,
    /// The API stages the plan covers, as `"<api>/<stage>"`.
    pub stages: Vec<Spanned<String>>,
    /// Each key's own token bucket on the plan's stages.
    pub throttle: Option<Throttle>,
    /// Each key's request quota per period.
    pub quota: Option<Quota>,
    /// Per-route limits replacing `throttle` there: `"<api>/<stage>/<route key>" = { rate, burst }`.
    #[serde(default)]
    pub method_throttles: std::collections::BTreeMap<String, Spanned<Throttle>>,
}

/// A usage plan's quota: `limit` requests per `period`, the first period `offset` fewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Requests each key may make per period.
    pub limit: u64,
    /// `DAY`, `WEEK` (from Monday) or `MONTH`, in UTC.
    pub period: QuotaPeriod,
    /// Requests subtracted from the limit in the plan's first period. Default 0.
    #[serde(default)]
    pub offset: u64,
}

/// The period a quota counts over, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum QuotaPeriod {
    /// A calendar day.
    Day,
    /// Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
}

/// `[api_keys.<name>]`: an API key declared in the config, its value kept out of the file.
///
/// ```toml
/// [api_keys.partner]
/// value_env = "PARTNER_API_KEY"
/// plans = ["gold"]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyFile {
    /// The environment variable holding the key's value.
    pub value_env: Option<Spanned<String>>,
    /// A file holding the key's value (surrounding whitespace ignored), relative to the config.
    pub value_file: Option<Spanned<String>>,
    /// The usage plans the key belongs to.
    #[serde(default)]
    pub plans: Vec<Spanned<String>>,
    /// A disabled key is refused like an unknown one. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Free text for operators.
    pub description: Option<String>,
}

/// `[apis.<name>.gateway_responses.<TYPE>]`: how the gateway answers one kind of error.
///
/// ```toml
/// [apis.petstore.gateway_responses.MISSING_AUTHENTICATION_TOKEN]
/// status = 404
/// headers = { "x-reason" = "no-route" }
/// body = '{"error": $context.error.messageString, "id": "$context.requestId"}'
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayResponseFile {
    /// Status to answer with. Default: the error's own status.
    pub status: Option<Spanned<u16>>,
    /// Extra response headers.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Body template; `$context.error.message`, `$context.error.messageString` (JSON-quoted),
    /// `$context.error.responseType` and `$context.requestId` are substituted.
    pub body: Option<String>,
}

fn default_listen() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "127.0.0.1:8080".to_string())]
}

fn default_admin_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:9901".to_string())
}

fn default_grace_period() -> u64 {
    10
}

fn default_access_log() -> String {
    "stdout".to_string()
}

fn default_state_dir() -> String {
    ".wasmgate".to_string()
}

fn default_cache_capacity() -> u64 {
    64
}

fn default_max_request_body() -> u64 {
    10 * 1024 * 1024
}

fn default_true() -> bool {
    true
}

fn default_fail_timeout() -> u64 {
    10_000
}

fn default_plugin_timeout() -> u64 {
    50
}

fn default_plugin_memory() -> u32 {
    32
}

fn default_mock_status() -> Spanned<u16> {
    Spanned::new(0..0, 200)
}
