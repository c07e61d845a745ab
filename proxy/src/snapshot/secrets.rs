//! Values kept out of the config file — API key values and the admin token — read from an
//! environment variable (`*_env`) or a file (`*_file`, relative to the config) when the config is
//! compiled, so that a reload picks up a rotated value.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use crate::apikeys::KeyValueError;
use crate::config::{AdminFile, Diagnostics};

/// What is wrong with a secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretProblem {
    /// The named environment variable is not set.
    #[error("environment variable `{0}` is not set")]
    EnvNotSet(String),
    /// The named file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Unreadable {
        /// The file as written in the config.
        path: String,
        /// What the file system said.
        source: std::io::Error,
    },
    /// Neither or both of the secret's keys.
    #[error("give the {what} in `{env}` (an environment variable) or `{file}`")]
    NotGiven {
        /// What the secret is called.
        what: &'static str,
        /// Its environment-variable key.
        env: &'static str,
        /// Its file key.
        file: &'static str,
    },
    /// An admin token too short or with spaces or control characters.
    #[error("the admin token needs at least {MIN_TOKEN_LEN} printable characters")]
    WeakAdminToken,
    /// An API key value that is refused.
    #[error(transparent)]
    KeyValue(#[from] KeyValueError),
}

/// A secret's mistake and where it is: its span and the key's last segment.
#[derive(Debug)]
pub struct SecretError {
    span: Range<usize>,
    key: &'static str,
    problem: SecretProblem,
}

impl SecretError {
    /// `problem` at `span`, under the key `key`.
    pub fn new(span: Range<usize>, key: &'static str, problem: impl Into<SecretProblem>) -> Self {
        Self {
            span,
            key,
            problem: problem.into(),
        }
    }

    /// Record the mistake under `<parent>.<key>`.
    pub fn report(self, parent: &str, diags: &mut Diagnostics) {
        diags.error(
            Some(self.span),
            &format!("{parent}.{}", self.key),
            self.problem,
        );
    }
}

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
            let problem = SecretProblem::EnvNotSet(env.get_ref().clone());
            SecretError::new(env.span(), env_key, problem)
        }),
        (None, Some(path)) => std::fs::read_to_string(base_dir.join(path.get_ref()))
            .map(|text| text.trim().to_string())
            .map_err(|source| {
                let problem = SecretProblem::Unreadable {
                    path: path.get_ref().clone(),
                    source,
                };
                SecretError::new(path.span(), file_key, problem)
            }),
        _ => Err(SecretError::new(
            missing,
            env_key,
            SecretProblem::NotGiven {
                what,
                env: env_key,
                file: file_key,
            },
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
            return Err(SecretError::new(
                span,
                "token",
                SecretProblem::WeakAdminToken,
            ));
        }
        Ok(token)
    });
    token.map_err(|e| e.report("admin", diags)).ok()
}
