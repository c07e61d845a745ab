//! `[plugins.<name>]`: WebAssembly component plugins and proxy-wasm filters, their deadlines,
//! memory, failure mode, isolation, Lambda-authorizer settings and proxy-wasm settings.

use std::collections::HashMap;

use serde::Deserialize;
use toml::Spanned;

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
    /// `request` (fresh instance per call) or `reuse` (warm instances). Default `request` for
    /// components, `reuse` for proxy-wasm filters (whose root context expects to live).
    pub isolation: Option<Isolation>,
    /// `host:port`s the plugin may call through the `http` import.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// For authorizer plugins: AWS Lambda-authorizer identity sources and result caching.
    pub authorizer: Option<AuthorizerFile>,
    /// proxy-wasm filters: the root id (the `plugin_root_id` property). Default empty.
    pub root_id: Option<String>,
    /// proxy-wasm filters: the VM id, which scopes shared data and queues (filters with the
    /// same one share them). Default: the plugin's name.
    pub vm_id: Option<String>,
    /// proxy-wasm filters: what `proxy_on_configure` reads, as written. Default: the `config`
    /// table as JSON, or nothing when it is empty.
    pub configuration: Option<String>,
    /// proxy-wasm filters: what `proxy_on_vm_start` reads. Default nothing.
    pub vm_configuration: Option<String>,
    /// proxy-wasm filters: `proxy_http_call` upstream names and the `host:port` each stands
    /// for (each is allow-listed for the filter).
    #[serde(default)]
    pub upstreams: HashMap<String, String>,
    /// proxy-wasm filters: the bodies the filter gets whole, `request` and `response` (the
    /// default); the route then buffers them. `[]` for a header-only filter on a streaming route.
    pub bodies: Option<Vec<FilterBody>>,
}

/// A body a proxy-wasm filter may get.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FilterBody {
    /// The request body (`proxy_on_request_body`).
    Request,
    /// The response body (`proxy_on_response_body`).
    Response,
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

fn default_plugin_timeout() -> u64 {
    50
}

fn default_plugin_memory() -> u32 {
    32
}
