//! `[apis.<name>]`: an API's settings, CORS, resource policy, models, stages, routes,
//! integrations and gateway responses.

use serde::Deserialize;
use toml::Spanned;

use super::{Named, Throttle};

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

fn default_mock_status() -> Spanned<u16> {
    Spanned::new(0..0, 200)
}
