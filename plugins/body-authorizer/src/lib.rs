//! Body authorizer: decides on a field of the JSON request body — e.g. lets a request in only
//! when its `account` is one the caller's API may act for. The whole body (up to the gateway's
//! payload limit) is read before the call, so the decision sees exactly what the backend gets.

use serde::Deserialize;
use serde_json::Value;
use wasmgate_plugin_sdk::prelude::*;

/// `config = { field = "account", allow = ["acme", "globex"] }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Top-level JSON field that names the principal.
    field: String,
    /// Values of that field that are allowed.
    allow: Vec<String>,
}

static CONFIG: ConfigCell<Config> = ConfigCell::new();

struct BodyAuthorizer;

impl Plugin for BodyAuthorizer {
    fn manifest() -> Result<Manifest, String> {
        let config: Config = wasmgate_plugin_sdk::config()?;
        if config.allow.is_empty() {
            return Err("`allow` must list at least one value".into());
        }
        Ok(Manifest::new(Phases::AUTHORIZER)
            .with_request_body()
            .with_request_headers::<&str>([]))
    }

    fn authorize(_request: &RequestHead, body: Option<&[u8]>, _ctx: &RequestContext) -> Decision {
        let Some(config) = CONFIG.get() else {
            return Decision::Forbidden;
        };
        let Some(Ok(json)) = body.map(serde_json::from_slice::<Value>) else {
            return Decision::Respond(Response::json(
                400,
                &serde_json::json!({"message": "Invalid request body"}),
            ));
        };
        match json.get(&config.field).and_then(Value::as_str) {
            None => Decision::Unauthorized,
            Some(value) if config.allow.iter().any(|a| a == value) => {
                Decision::allow(value, [("field", config.field.as_str())])
            }
            Some(_) => Decision::Forbidden,
        }
    }
}

wasmgate_plugin_sdk::export!(BodyAuthorizer);
