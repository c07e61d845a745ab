//! Header transformer: sets, removes and renames request and response headers.
//!
//! ```toml
//! config = { request = { set = { "x-env" = "prod" }, remove = ["cookie"], rename = { "x-user" = "x-principal" } },
//!            response = { set = { "x-powered-by" = "wasmgate" }, remove = ["server"] } }
//! ```
//! In `set`, a value may stand for something the gateway knows about the request (empty when
//! absent): `$principal` (the authorizer's principal), `$context.<key>` (a value of the
//! authorizer's context), `$api`, `$stage`, `$route`, `$request-id`, `$source-ip`,
//! `$path.<name>` (a path parameter), `$stage-variable.<name>`, `$scheme` and, over mutual
//! TLS, `$client-cert.subject`, `$client-cert.issuer` and `$client-cert.serial`.

use serde::Deserialize;
use wasmgate_plugin_sdk::prelude::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    request: Rules,
    #[serde(default)]
    response: Rules,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rules {
    #[serde(default)]
    set: Pairs,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    rename: Pairs,
}

impl Rules {
    fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty() && self.rename.is_empty()
    }

    /// Headers to set and names to remove, given the values of each header by name.
    fn apply(
        &self,
        values_of: impl Fn(&str) -> Vec<String>,
        ctx: &RequestContext,
    ) -> (Vec<Header>, Vec<String>) {
        let mut set = Vec::with_capacity(self.set.len() + self.rename.len());
        let mut remove = self.remove.clone();
        for (from, to) in self.rename.iter() {
            for value in values_of(from) {
                set.push(Header {
                    name: to.to_string(),
                    value,
                });
                remove.push(from.to_string());
            }
        }
        for (name, value) in self.set.iter() {
            let value = placeholder(value, ctx).unwrap_or_else(|| value.to_string());
            set.push(Header {
                name: name.to_string(),
                value,
            });
        }
        (set, remove)
    }
}

/// The value `text` stands for, if it is a placeholder.
fn placeholder(text: &str, ctx: &RequestContext) -> Option<String> {
    let value = match text {
        "$principal" => ctx.principal(),
        "$api" => Some(ctx.api()),
        "$stage" => Some(ctx.stage()),
        "$route" => Some(ctx.route()),
        "$request-id" => Some(ctx.request_id()),
        "$source-ip" => Some(ctx.source_ip()),
        "$scheme" => Some(ctx.scheme()),
        "$client-cert.subject" => ctx.client_cert().map(|cert| cert.subject_dn),
        "$client-cert.issuer" => ctx.client_cert().map(|cert| cert.issuer_dn),
        "$client-cert.serial" => ctx.client_cert().map(|cert| cert.serial_number),
        other => {
            if let Some(key) = other.strip_prefix("$context.") {
                ctx.authorizer_value(key)
            } else if let Some(name) = other.strip_prefix("$path.") {
                ctx.path_parameter(name)
            } else if let Some(name) = other.strip_prefix("$stage-variable.") {
                ctx.stage_variable(name)
            } else {
                return None;
            }
        }
    };
    Some(value.unwrap_or_default())
}

static CONFIG: ConfigCell<Config> = ConfigCell::new();

struct HeaderTransformer;

impl Plugin for HeaderTransformer {
    fn manifest() -> Result<Manifest, String> {
        let config: Config = wasmgate_plugin_sdk::config()?;
        let mut phases = Phases::empty();
        if !config.request.is_empty() {
            phases |= Phases::REQUEST_TRANSFORMER;
        }
        if !config.response.is_empty() {
            phases |= Phases::RESPONSE_TRANSFORMER;
        }
        if phases.is_empty() {
            return Err("configure `request` and/or `response` rules".into());
        }
        // Only renamed headers are read.
        Ok(Manifest::new(phases)
            .with_request_headers(config.request.rename.iter().map(|(from, _)| from))
            .with_response_headers(config.response.rename.iter().map(|(from, _)| from)))
    }

    fn transform_request(
        request: &RequestHead,
        _body: Option<&[u8]>,
        ctx: &RequestContext,
    ) -> RequestAction {
        let Some(config) = CONFIG.get() else {
            return RequestAction::Continue(RequestChanges::none());
        };
        let (set_headers, remove_headers) = config
            .request
            .apply(|name| request.header_values(name), ctx);
        RequestAction::Continue(RequestChanges {
            set_headers,
            remove_headers,
            ..RequestChanges::none()
        })
    }

    fn transform_response(
        response: &ResponseHead,
        _body: Option<&[u8]>,
        ctx: &RequestContext,
    ) -> ResponseChanges {
        let Some(config) = CONFIG.get() else {
            return ResponseChanges::none();
        };
        let (set_headers, remove_headers) = config
            .response
            .apply(|name| response.header_values(name), ctx);
        ResponseChanges {
            set_headers,
            remove_headers,
            ..ResponseChanges::none()
        }
    }
}

wasmgate_plugin_sdk::export!(HeaderTransformer);
