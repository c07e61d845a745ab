//! The token authorizer written without the SDK: plain wit-bindgen against `wit/plugin.wit`'s
//! `authorizer-plugin` world, as a third party would write it from the WIT alone. It answers the
//! same cases as `plugins/token-authorizer` and its Python and JavaScript twins.
//!
//! ```toml
//! config = { tokens = { "ada-token" = { principal = "ada", context = { tier = "gold" } } } }
//! ```

wit_bindgen::generate!({
    world: "authorizer-plugin",
    path: "../../wit",
});

use exports::wasmgate::plugin::authorizer::{Allow, Decision, Guest as Authorizer};
use exports::wasmgate::plugin::plugin::{Guest as Plugin, Manifest, Phases};
use serde_json::Value;
use wasmgate::plugin::types::Entry;
use wasmgate::plugin::{config, request_head};

/// The `tokens` table of the plugin's config.
fn tokens() -> Result<serde_json::Map<String, Value>, String> {
    let config: Value = serde_json::from_str(&config::get()).map_err(|e| e.to_string())?;
    match config.get("tokens") {
        Some(Value::Object(tokens)) if !tokens.is_empty() => Ok(tokens.clone()),
        _ => Err("`tokens` must list at least one token".into()),
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token() -> Option<String> {
    let value = request_head::header("authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

struct TokenAuthorizer;

impl Plugin for TokenAuthorizer {
    fn init() -> Result<Manifest, String> {
        tokens()?;
        Ok(Manifest {
            phases: Phases::AUTHORIZER,
            needs_request_body: false,
            needs_response_body: false,
            request_headers: Some(vec!["authorization".into()]),
            response_headers: None,
        })
    }
}

impl Authorizer for TokenAuthorizer {
    fn authorize(_body: Option<Vec<u8>>) -> Decision {
        let Some(token) = bearer_token() else {
            return Decision::Unauthorized;
        };
        let Ok(tokens) = tokens() else {
            return Decision::Forbidden;
        };
        let Some(identity) = tokens.get(&token) else {
            return Decision::Forbidden;
        };
        let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
        let context = identity
            .get("context")
            .and_then(Value::as_object)
            .map(|context| {
                context
                    .iter()
                    .map(|(key, value)| Entry {
                        key: key.clone(),
                        value: text(value),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Decision::Allow(Allow {
            principal: identity.get("principal").map(text).unwrap_or_default(),
            context,
        })
    }
}

export!(TokenAuthorizer);
