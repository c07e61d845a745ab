//! Compiling `[jwt_authorizers]` (their HS256 secrets read like other secrets) and resolving a
//! route's `jwt_authorizer` and `authorization_scopes`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::secrets::{read_secret, HS256_SECRET};
use super::RouteJwt;
use crate::config::{ConfigFile, Diagnostics, Named, RouteFile};
use crate::jwt::JwtAuthorizer;

/// Every JWT authorizer by name; one with a mistake is reported at its name and left out.
pub fn compile_jwt_authorizers(
    file: &ConfigFile,
    base_dir: &Path,
    diags: &mut Diagnostics,
) -> HashMap<String, Arc<JwtAuthorizer>> {
    let mut compiled = HashMap::new();
    for authorizer in &file.jwt_authorizers {
        let value = &authorizer.value;
        let secret = match (&value.hs256_secret_env, &value.hs256_secret_file) {
            (None, None) => None,
            (env, file) => {
                match read_secret(&HS256_SECRET, env.as_ref(), file.as_ref(), base_dir, 0..0) {
                    Ok(secret) => Some(secret),
                    Err(e) => {
                        e.report(&authorizer.path, diags);
                        continue;
                    }
                }
            }
        };
        let name = authorizer.name.get_ref();
        match JwtAuthorizer::compile(name, value, secret, base_dir) {
            Ok(jwt) => {
                compiled.insert(name.clone(), Arc::new(jwt));
            }
            Err(e) => diags.error(Some(authorizer.name.span()), &authorizer.path, e),
        }
    }
    compiled
}

/// A route's JWT authorizer with its scopes.
pub fn route_jwt(
    route: &Named<RouteFile>,
    authorizers: &HashMap<String, Arc<JwtAuthorizer>>,
    declared: &[Named<crate::config::JwtAuthorizerFile>],
    diags: &mut Diagnostics,
) -> Option<RouteJwt> {
    let Some(name) = &route.value.jwt_authorizer else {
        if !route.value.authorization_scopes.is_empty() {
            diags.error(
                Some(route.name.span()),
                &format!("{}.authorization_scopes", route.path),
                "scopes need a `jwt_authorizer` on the route",
            );
        }
        return None;
    };
    match authorizers.get(name.get_ref()) {
        Some(authorizer) => Some(RouteJwt {
            authorizer: authorizer.clone(),
            scopes: route.value.authorization_scopes.clone(),
        }),
        None => {
            if !declared.iter().any(|a| a.name.get_ref() == name.get_ref()) {
                diags.error(
                    Some(name.span()),
                    &format!("{}.jwt_authorizer", route.path),
                    format!(
                        "no JWT authorizer named `{0}` (declare it under [jwt_authorizers.{0}])",
                        name.get_ref()
                    ),
                );
            }
            None
        }
    }
}
