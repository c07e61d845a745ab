use std::collections::HashMap;
use wasmgate_plugin_sdk::prelude::*;

/// Lets in callers whose `x-api-user` header is listed in the config: `users = ["ada"]`.
struct AllowList;

impl Plugin for AllowList {
    fn manifest() -> Result<Manifest, String> {
        users()?; // a config without users is rejected when the gateway loads the plugin
        Ok(Manifest::new(Phases::AUTHORIZER))
    }

    fn authorize(request: &RequestHead, _body: Option<&[u8]>, _ctx: &RequestContext) -> Decision {
        match (request.header("x-api-user"), users()) {
            (None, _) => Decision::Unauthorized,
            (Some(user), Ok(users)) if users.iter().any(|u| u == user) => {
                Decision::allow(user, [("source", "allow-list")])
            }
            _ => Decision::Forbidden,
        }
    }
}

fn users() -> Result<Vec<String>, String> {
    let mut config: HashMap<String, Vec<String>> = wasmgate_plugin_sdk::config()?;
    config
        .remove("users")
        .filter(|u| !u.is_empty())
        .ok_or("config needs `users = [...]`".into())
}

wasmgate_plugin_sdk::export!(AllowList);
