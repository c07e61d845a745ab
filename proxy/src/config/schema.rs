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

mod access;
mod apis;
mod plugins;
mod tls;

pub use access::*;
pub use apis::*;
pub use plugins::*;
pub use tls::*;

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
    /// `[domains.<name>]`.
    pub domains: Vec<Named<DomainFile>>,
}

/// `[server]`: listeners and process settings (which keys wait for a restart:
/// `Snapshot::restart_only_changes`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// Addresses the gateway serves APIs on. Default `["127.0.0.1:8080"]`.
    #[serde(default = "default_listen")]
    pub listen: Vec<Spanned<String>>,
    /// Worker threads. Default: one per CPU core.
    pub threads: Option<usize>,
    /// Let an idle worker thread take connections queued on a busy one. Default false: each
    /// worker runs the connections it accepted on a runtime of its own, as nginx's and Envoy's
    /// workers do (cheaper per request; a plugin call keeps its thread's other connections
    /// waiting for at most the plugin's `timeout_ms`).
    #[serde(default)]
    pub work_stealing: bool,
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
    /// Where compiled plugins are cached across restarts (`wasmgate plugins compile` fills it),
    /// relative to the config file's directory, or `"off"`. Default: the per-user cache
    /// (`$XDG_CACHE_HOME/wasmgate` or `~/.cache/wasmgate`)
    /// directory.
    pub plugin_cache_dir: Option<String>,
    /// `[server.tls]`: HTTPS listeners. Default none.
    pub tls: Option<TlsFile>,
    /// `[server.http2]`: HTTP/2 from clients.
    #[serde(default)]
    pub http2: Http2File,
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

/// Why a `throttle = { ... }` is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThrottleError {
    /// Not a finite rate above 0 and at most 1e9.
    #[error("`rate` must be a number of requests per second above 0 (got {0})")]
    Rate(f64),
    /// A bucket of size 0.
    #[error("`burst` must be at least 1 (the bucket's size)")]
    Burst,
}

impl TryFrom<ThrottleFile> for Throttle {
    type Error = ThrottleError;

    fn try_from(file: ThrottleFile) -> Result<Self, ThrottleError> {
        if !(file.rate.is_finite() && file.rate > 0.0 && file.rate <= 1e9) {
            return Err(ThrottleError::Rate(file.rate));
        }
        let burst = std::num::NonZeroU32::new(file.burst).ok_or(ThrottleError::Burst)?;
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
            work_stealing: false,
            grace_period_seconds: default_grace_period(),
            access_log: default_access_log(),
            max_request_body_bytes: default_max_request_body(),
            watch_config: true,
            cache_capacity_mb: default_cache_capacity(),
            throttle: default_account_throttle(),
            state_dir: default_state_dir(),
            trusted_proxies: Vec::new(),
            limits: super::RequestLimits::default(),
            plugin_cache_dir: None,
            tls: None,
            http2: Http2File::default(),
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
    /// How `https://` URIs naming this upstream reach it.
    pub tls: Option<UpstreamTlsFile>,
    /// Speak HTTP/2 to the backends (by ALPN over TLS, with prior knowledge in cleartext), as
    /// gRPC needs. Default false.
    #[serde(default)]
    pub http2: bool,
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

pub(super) fn default_true() -> bool {
    true
}

fn default_fail_timeout() -> u64 {
    10_000
}
