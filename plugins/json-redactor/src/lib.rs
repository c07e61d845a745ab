//! JSON redactor: removes the configured fields from JSON response bodies, at any depth (in
//! objects and in arrays of objects). Non-JSON responses pass through unchanged.

use serde::Deserialize;
use serde_json::Value;
use wasmgate_plugin_sdk::prelude::*;

/// `config = { fields = ["password", "ssn"] }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    fields: Vec<String>,
}

fn redact(value: &mut Value, fields: &[String]) -> bool {
    let mut changed = false;
    match value {
        Value::Object(object) => {
            for field in fields {
                changed |= object.remove(field).is_some();
            }
            for nested in object.values_mut() {
                changed |= redact(nested, fields);
            }
        }
        Value::Array(items) => {
            for item in items {
                changed |= redact(item, fields);
            }
        }
        _ => {}
    }
    changed
}

static CONFIG: ConfigCell<Config> = ConfigCell::new();

struct JsonRedactor;

impl Plugin for JsonRedactor {
    fn manifest() -> Result<Manifest, String> {
        let config: Config = wasmgate_plugin_sdk::config()?;
        if config.fields.is_empty() {
            return Err("`fields` must list at least one field".into());
        }
        Ok(Manifest::new(Phases::RESPONSE_TRANSFORMER)
            .with_response_body()
            .with_response_headers(["content-type"]))
    }

    fn transform_response(
        response: &ResponseHead,
        body: Option<&[u8]>,
        _ctx: &RequestContext,
    ) -> ResponseChanges {
        let is_json = response
            .header("content-type")
            .is_some_and(|t| t.contains("json"));
        let (Some(config), true, Some(body)) = (CONFIG.get(), is_json, body) else {
            return ResponseChanges::none();
        };
        let Ok(mut json) = serde_json::from_slice::<Value>(body) else {
            return ResponseChanges::none();
        };
        if !redact(&mut json, &config.fields) {
            return ResponseChanges::none();
        }
        ResponseChanges {
            body: Some(serde_json::to_vec(&json).unwrap_or_default()),
            ..ResponseChanges::none()
        }
    }
}

wasmgate_plugin_sdk::export!(JsonRedactor);
