//! Conveniences over the generated types: bearer tokens, JSON bodies, responses,
//! config parsing and logging.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::bindings::wasmgate::plugin::{config as host_config, log as host_log};
use crate::{
    Allow, Decision, Entry, Header, Manifest, Phases, RequestChanges, RequestHead, Response,
    ResponseChanges,
};

impl RequestHead {
    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer_token(&self) -> Option<String> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    }
}

impl Manifest {
    /// A manifest for `phases` that needs no bodies.
    pub fn new(phases: Phases) -> Self {
        Self {
            phases,
            needs_request_body: false,
            needs_response_body: false,
            request_headers: None,
            response_headers: None,
        }
    }

    /// Read only these request headers (any case): request phases see no others. Without it,
    /// plugins see every header.
    pub fn with_request_headers<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        self.request_headers = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Read only these response headers (any case) in the response phase.
    pub fn with_response_headers<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        self.response_headers = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Ask for the whole request body in request phases.
    pub fn with_request_body(mut self) -> Self {
        self.needs_request_body = true;
        self
    }

    /// Ask for the whole response body in the response phase.
    pub fn with_response_body(mut self) -> Self {
        self.needs_response_body = true;
        self
    }
}

impl Decision {
    /// Allow `principal` with `context` entries.
    pub fn allow<K: Into<String>, V: Into<String>>(
        principal: impl Into<String>,
        context: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Decision::Allow(Allow {
            principal: principal.into(),
            context: context
                .into_iter()
                .map(|(key, value)| Entry {
                    key: key.into(),
                    value: value.into(),
                })
                .collect(),
        })
    }
}

impl Response {
    /// A JSON response with `status` and `value` as its body.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        Self {
            status,
            headers: vec![Header {
                name: "content-type".into(),
                value: "application/json".into(),
            }],
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }
}

impl RequestChanges {
    /// No change.
    pub fn none() -> Self {
        Self {
            method: None,
            path: None,
            query: None,
            set_headers: Vec::new(),
            remove_headers: Vec::new(),
            body: None,
        }
    }
}

impl ResponseChanges {
    /// No change.
    pub fn none() -> Self {
        Self {
            status: None,
            set_headers: Vec::new(),
            remove_headers: Vec::new(),
            body: None,
        }
    }
}

/// The plugin's `config` table, parsed into `T`.
pub fn config<T: DeserializeOwned>() -> Result<T, String> {
    serde_json::from_str(&host_config::get()).map_err(|e| format!("invalid plugin config: {e}"))
}

/// The plugin's config parsed once per instance, for the phase methods: a warm instance then
/// skips the host call and the parse on every request.
///
/// ```no_run
/// # use wasmgate_plugin_sdk::prelude::*;
/// #[derive(serde::Deserialize)]
/// struct Config {
///     users: Vec<String>,
/// }
///
/// static CONFIG: ConfigCell<Config> = ConfigCell::new();
///
/// fn allowed(user: &str) -> Decision {
///     let Some(config) = CONFIG.get() else { return Decision::Forbidden };
///     if config.users.iter().any(|u| u == user) {
///         Decision::allow(user, [("source", "config")])
///     } else {
///         Decision::Forbidden
///     }
/// }
/// ```
pub struct ConfigCell<T>(OnceLock<Option<T>>);

impl<T: DeserializeOwned> ConfigCell<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        Self(OnceLock::new())
    }

    /// The parsed config; `None` if it does not parse (`manifest` reports that at load, so a
    /// loaded plugin never sees it).
    pub fn get(&self) -> Option<&T> {
        self.0.get_or_init(|| config().ok()).as_ref()
    }
}

impl<T: DeserializeOwned> Default for ConfigCell<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A config table of strings (`{ "x-env" = "prod" }`) as a list of pairs in key order: what a
/// phase method walks on every call, where walking a `BTreeMap` costs several times more.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "BTreeMap<String, String>")]
pub struct Pairs(pub Vec<(String, String)>);

impl From<BTreeMap<String, String>> for Pairs {
    fn from(table: BTreeMap<String, String>) -> Self {
        Self(table.into_iter().collect())
    }
}

impl Pairs {
    /// The pairs, in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Log `message` at `level` into the gateway's log.
pub fn log(level: host_log::Level, message: &str) {
    host_log::log(level, message);
}
