//! Body validator: requires a JSON object body with the configured fields, each of the
//! configured JSON type. Failures answer 400 with a message naming what is wrong.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use wasmgate_plugin_sdk::prelude::*;

/// `config = { required = { name = "string", age = "number" } }`; types are JSON's: `string`,
/// `number`, `integer`, `boolean`, `object`, `array`, `null` or `any`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    required: BTreeMap<String, String>,
}

const TYPES: [&str; 8] = [
    "string", "number", "integer", "boolean", "object", "array", "null", "any",
];

fn has_type(value: &Value, expected: &str) -> bool {
    match expected {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => true,
    }
}

static CONFIG: ConfigCell<Config> = ConfigCell::new();

struct BodyValidator;

impl Plugin for BodyValidator {
    fn manifest() -> Result<Manifest, String> {
        let config: Config = wasmgate_plugin_sdk::config()?;
        if let Some((field, kind)) = config
            .required
            .iter()
            .find(|(_, kind)| !TYPES.contains(&kind.as_str()))
        {
            return Err(format!(
                "field `{field}`: unknown type `{kind}`, expected one of {TYPES:?}"
            ));
        }
        Ok(Manifest::new(Phases::VALIDATOR)
            .with_request_body()
            .with_request_headers::<&str>([]))
    }

    fn validate(_request: &RequestHead, body: Option<&[u8]>, _ctx: &RequestContext) -> Verdict {
        let Some(config) = CONFIG.get() else {
            return Verdict::Reject("Invalid request body".into());
        };
        let Some(Ok(Value::Object(object))) = body.map(serde_json::from_slice::<Value>) else {
            return Verdict::Reject("Invalid request body: expected a JSON object".into());
        };
        let missing: Vec<&str> = config
            .required
            .keys()
            .filter(|field| !object.contains_key(*field))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Verdict::Reject(format!(
                "Invalid request body: missing [{}]",
                missing.join(", ")
            ));
        }
        for (field, kind) in &config.required {
            if !has_type(&object[field], kind) {
                return Verdict::Reject(format!("Invalid request body: `{field}` must be {kind}"));
            }
        }
        Verdict::Accept
    }
}

wasmgate_plugin_sdk::export!(BodyValidator);
