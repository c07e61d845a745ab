//! Token authorizer: allows requests whose `Authorization: Bearer <token>` is either in the
//! configured token list (with that token's principal and context) or an unexpired token signed
//! with the configured HMAC secret; 401 without a token, 403 for any other token.

mod signed;

use std::collections::BTreeMap;

use serde::Deserialize;
use wasmgate_plugin_sdk::prelude::*;

/// `config = { tokens = { "<token>" = { principal = "...", context = { ... } } },
/// hmac = { secret = "...", context = { ... } } }`: a token list, signed tokens, or both.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    tokens: BTreeMap<String, Identity>,
    hmac: Option<signed::Signer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    principal: String,
    #[serde(default)]
    context: Pairs,
}

static CONFIG: ConfigCell<Config> = ConfigCell::new();

struct TokenAuthorizer;

impl Plugin for TokenAuthorizer {
    fn manifest() -> Result<Manifest, String> {
        let config: Config = wasmgate_plugin_sdk::config()?;
        match &config.hmac {
            Some(signer) => signer.check()?,
            None if config.tokens.is_empty() => {
                return Err("`tokens` must list at least one token, or `hmac` be set".into())
            }
            None => {}
        }
        Ok(Manifest::new(Phases::AUTHORIZER).with_request_headers(["authorization"]))
    }

    fn authorize(request: &RequestHead, _body: Option<&[u8]>, _ctx: &RequestContext) -> Decision {
        let Some(token) = request.bearer_token() else {
            return Decision::Unauthorized;
        };
        let Some(config) = CONFIG.get() else {
            return Decision::Forbidden;
        };
        if let Some(identity) = config.tokens.get(&token) {
            return Decision::allow(identity.principal.as_str(), identity.context.iter());
        }
        let Some(signer) = &config.hmac else {
            return Decision::Forbidden;
        };
        match signer.verify(&token) {
            Some(claims) => {
                let mut context = signer.context.clone();
                context.insert("expires".into(), claims.expires.to_string());
                Decision::allow(claims.principal, context)
            }
            None => Decision::Forbidden,
        }
    }
}

wasmgate_plugin_sdk::export!(TokenAuthorizer);
