//! Who may call: `[jwt_authorizers.<name>]` (OIDC bearer tokens), `[usage_plans.<name>]` and
//! `[api_keys.<name>]`.

use serde::Deserialize;
use toml::Spanned;

use super::{default_true, Throttle};

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
