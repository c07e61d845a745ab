//! Token authorizer: allows requests whose `Authorization: Bearer <token>` is in the configured
//! token list, with that token's principal and context; 401 without a token, 403 for an unknown
//! one.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;
use wasmgate_plugin_sdk::prelude::*;

/// `config = { tokens = { "<token>" = { principal = "...", context = { ... } } } }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    tokens: BTreeMap<String, Identity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    principal: String,
    #[serde(default)]
    context: BTreeMap<String, String>,
}

/// The config, parsed once per instance (warm instances then skip the host call and the parse).
fn config() -> Option<&'static Config> {
    static CONFIG: OnceLock<Option<Config>> = OnceLock::new();
    CONFIG
        .get_or_init(|| wasmgate_plugin_sdk::config().ok())
        .as_ref()
}

struct TokenAuthorizer;

impl Plugin for TokenAuthorizer {
    fn manifest() -> Result<Manifest, String> {
        let config: Config = wasmgate_plugin_sdk::config()?;
        if config.tokens.is_empty() {
            return Err("`tokens` must list at least one token".into());
        }
        Ok(Manifest::new(Phases::AUTHORIZER))
    }

    fn authorize(request: &RequestHead, _body: Option<&[u8]>, _ctx: &RequestContext) -> Decision {
        let Some(token) = request.bearer_token() else {
            return Decision::Unauthorized;
        };
        let Some(config) = config() else {
            return Decision::Forbidden;
        };
        match config.tokens.get(token) {
            Some(identity) => Decision::allow(identity.principal.clone(), identity.context.clone()),
            None => Decision::Forbidden,
        }
    }
}

wasmgate_plugin_sdk::export!(TokenAuthorizer);
