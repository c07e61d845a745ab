//! Values kept out of the config file — API key values and the admin token — read from an
//! environment variable (`*_env`) or a file (`*_file`, relative to the config) when the config is
//! compiled, so that a reload picks up a rotated value.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use crate::config::{AdminFile, Diagnostics};

/// Where a secret's mistake is: span, the key's last segment, and the message.
pub type SecretError = (Range<usize>, &'static str, String);

/// The config keys that give one kind of secret, and its name in messages.
pub struct SecretKeys {
    /// What the secret is called in messages.
    what: &'static str,
    /// The key naming an environment variable.
    env: &'static str,
    /// The key naming a file.
    file: &'static str,
}

/// `[api_keys.<name>] value_env | value_file`.
pub const API_KEY_VALUE: SecretKeys = SecretKeys {
    what: "value",
    env: "value_env",
    file: "value_file",
};

/// `[admin] token_env | token_file`.
pub const ADMIN_TOKEN: SecretKeys = SecretKeys {
    what: "token",
    env: "token_env",
    file: "token_file",
};

/// `[jwt_authorizers.<name>] hs256_secret_env | hs256_secret_file`.
pub const HS256_SECRET: SecretKeys = SecretKeys {
    what: "hs256_secret",
    env: "hs256_secret_env",
    file: "hs256_secret_file",
};

/// Read a secret given by exactly one of its `keys`; `missing` is the span reported when neither
/// is given.
pub fn read_secret(
    keys: &SecretKeys,
    env: Option<&Spanned<String>>,
    file: Option<&Spanned<String>>,
    base_dir: &Path,
    missing: Range<usize>,
) -> Result<String, SecretError> {
    let SecretKeys {
        what,
        env: env_key,
        file: file_key,
    } = *keys;
    match (env, file) {
        (Some(env), None) => std::env::var(env.get_ref()).map_err(|_| {
            let message = format!("environment variable `{}` is not set", env.get_ref());
            (env.span(), env_key, message)
        }),
        (None, Some(path)) => std::fs::read_to_string(base_dir.join(path.get_ref()))
            .map(|text| text.trim().to_string())
            .map_err(|e| {
                let message = format!("cannot read `{}`: {e}", path.get_ref());
                (path.span(), file_key, message)
            }),
        _ => Err((
            missing,
            env_key,
            format!("give the {what} in `{env_key}` (an environment variable) or `{file_key}`"),
        )),
    }
}

/// Shortest admin token accepted.
const MIN_TOKEN_LEN: usize = 16;

/// The admin token, if configured. An admin listener off loopback must have one.
pub fn compile_admin_token(
    admin: &AdminFile,
    base_dir: &Path,
    diags: &mut Diagnostics,
) -> Option<String> {
    let listen = &admin.listen;
    let loopback = listen
        .get_ref()
        .parse::<SocketAddr>()
        .map_or(true, |address| address.ip().is_loopback());
    if admin.token_env.is_none() && admin.token_file.is_none() {
        if !loopback {
            diags.error(
                Some(listen.span()),
                "admin.listen",
                "an admin listener off loopback needs a bearer token: set `token_env` or \
                 `token_file` in [admin]",
            );
        }
        return None;
    }
    let token = read_secret(
        &ADMIN_TOKEN,
        admin.token_env.as_ref(),
        admin.token_file.as_ref(),
        base_dir,
        listen.span(),
    )
    .and_then(|token| {
        if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
            let span = admin
                .token_env
                .as_ref()
                .or(admin.token_file.as_ref())
                .map_or(listen.span(), Spanned::span);
            return Err((
                span,
                "token",
                format!("the admin token needs at least {MIN_TOKEN_LEN} printable characters"),
            ));
        }
        Ok(token)
    });
    match token {
        Ok(token) => Some(token),
        Err((span, field, message)) => {
            diags.error(Some(span), &format!("admin.{field}"), message);
            None
        }
    }
}
