use serde::Deserialize;
use wasmgate_plugin_sdk::prelude::*;

/// `config = { users = ["ada"] }`: callers let in by their `x-api-user` header.
#[derive(Deserialize)]
struct Config {
    users: Vec<String>,
}

/// Parsed once per instance, not on every request.
static CONFIG: ConfigCell<Config> = ConfigCell::new();

struct AllowList;

impl Plugin for AllowList {
    fn manifest() -> Result<Manifest, String> {
        // A config without users is rejected when the gateway loads the plugin.
        let config: Config = wasmgate_plugin_sdk::config()?;
        if config.users.is_empty() {
            return Err("`users` must list at least one user".into());
        }
        // The one header it reads: the gateway shows it no others.
        Ok(Manifest::new(Phases::AUTHORIZER).with_request_headers(["x-api-user"]))
    }

    fn authorize(request: &RequestHead, _body: Option<&[u8]>, _ctx: &RequestContext) -> Decision {
        let Some(user) = request.header("x-api-user") else {
            return Decision::Unauthorized;
        };
        match CONFIG.get() {
            Some(config) if config.users.contains(&user) => {
                Decision::allow(user, [("source", "allow-list")])
            }
            _ => Decision::Forbidden,
        }
    }
}

wasmgate_plugin_sdk::export!(AllowList);
