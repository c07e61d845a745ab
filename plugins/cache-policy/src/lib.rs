//! Cache policy: caches responses to the configured methods for `ttl_seconds`, keyed by method,
//! path, query parameters and chosen request headers — and by principal when `per_principal`, so
//! that one caller's answer never reaches another. A client's `Cache-Control: max-age=0` or
//! `no-cache` refreshes the entry when `client_refresh` allows it.

use serde::Deserialize;
use wasmgate_plugin_sdk::prelude::*;

/// Longest TTL the gateway accepts.
const MAX_TTL_SECONDS: u32 = 3600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_ttl")]
    ttl_seconds: u32,
    #[serde(default = "default_methods")]
    methods: Vec<String>,
    /// Query parameters in the key; all of them when absent.
    key_query: Option<Vec<String>>,
    #[serde(default)]
    key_headers: Vec<String>,
    #[serde(default)]
    per_principal: bool,
    #[serde(default)]
    client_refresh: bool,
}

fn default_ttl() -> u32 {
    300
}

fn default_methods() -> Vec<String> {
    vec!["GET".into()]
}

static CONFIG: ConfigCell<Config> = ConfigCell::new();

impl Config {
    fn key(&self, request: &RequestHead, ctx: &RequestContext) -> String {
        let mut key = format!("{} {}", request.method(), request.path());
        let query = request.query().unwrap_or_default();
        let mut pairs: Vec<(&str, &str)> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .filter(|(name, _)| match &self.key_query {
                Some(names) => names.iter().any(|n| n == name),
                None => true,
            })
            .collect();
        pairs.sort_unstable();
        for (name, value) in pairs {
            key.push_str(&format!("\n?{name}={value}"));
        }
        for name in &self.key_headers {
            let value = request.header(name).unwrap_or_default();
            key.push_str(&format!("\n{}: {value}", name.to_ascii_lowercase()));
        }
        if self.per_principal {
            key.push_str(&format!(
                "\nprincipal: {}",
                ctx.principal().unwrap_or_default()
            ));
        }
        key
    }
}

/// Whether the client asked for a fresh answer.
fn wants_fresh(request: &RequestHead) -> bool {
    request.header("cache-control").is_some_and(|value| {
        value.split(',').map(str::trim).any(|directive| {
            directive.eq_ignore_ascii_case("no-cache")
                || directive.eq_ignore_ascii_case("max-age=0")
        })
    })
}

struct CachePolicy;

impl Plugin for CachePolicy {
    fn manifest() -> Result<Manifest, String> {
        let config: Config = wasmgate_plugin_sdk::config()?;
        if config.ttl_seconds > MAX_TTL_SECONDS {
            return Err(format!(
                "`ttl_seconds` is {}; the gateway keeps entries at most {MAX_TTL_SECONDS} s",
                config.ttl_seconds
            ));
        }
        if config.methods.is_empty() {
            return Err("`methods` must list at least one method".into());
        }
        let mut headers = config.key_headers.clone();
        headers.push("cache-control".into());
        Ok(Manifest::new(Phases::CACHE_POLICY).with_request_headers(headers))
    }

    fn decide(request: &RequestHead, ctx: &RequestContext) -> CacheDecision {
        let Some(config) = CONFIG.get() else {
            return CacheDecision::Bypass;
        };
        if !config
            .methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(&request.method()))
        {
            return CacheDecision::Bypass;
        }
        let rule = CacheRule {
            key: config.key(request, ctx),
            ttl_seconds: config.ttl_seconds,
        };
        if config.client_refresh && wants_fresh(request) {
            CacheDecision::Refresh(rule)
        } else {
            CacheDecision::Cache(rule)
        }
    }
}

wasmgate_plugin_sdk::export!(CachePolicy);
