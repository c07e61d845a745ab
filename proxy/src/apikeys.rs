//! API keys and usage plans, as AWS API Gateway sells APIs: keys (declared in the config or
//! managed through the admin API) stored only as SHA-256 digests, usage plans that give each key
//! a token bucket and a quota, and per-day usage counts persisted to SQLite.
//!
//! ```text
//! admission (request path) ─► key digest ─► config keys, then stored keys (in memory)
//!                          ─► a plan of the key that covers the stage ─► the key's bucket
//!                          ─► quota: count the request in today's usage
//! service (admin API)      ─► store (SQLite, durable on return) ─► in-memory index
//! usage ─► dirty counters written by the flusher every 500 ms and at shutdown
//! ```

mod admin;
mod admission;
mod report;
mod secret;
mod service;
mod state_error;
mod store;
mod usage;

pub use admin::{AdminError, KeyPatch, NewKey};
pub use admission::{admit, Admitted, Refusal, RouteKeys};
pub use report::UsageReport;
pub use secret::{check_value, digest, KeyDigest, KeyValueError};
pub use service::KeyService;
pub use state_error::StateError;
pub use usage::today;

use std::collections::HashMap;
use std::sync::Arc;

/// Where a key was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// `[api_keys.<name>]` in the config file: changed there, not through the admin API.
    Config,
    /// Created through the admin API or the CLI, kept in the state database.
    Admin,
}

/// An API key as the gateway knows it: everything but its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyEntry {
    /// The key's id: its name for config keys, a generated id for the others.
    pub id: Arc<str>,
    /// A name for operators.
    pub name: String,
    /// Free text for operators.
    pub description: Option<String>,
    /// A disabled key is refused like an unknown one.
    pub enabled: bool,
    /// The usage plans the key belongs to.
    pub plans: Vec<Arc<str>>,
    /// Where it was declared.
    pub source: KeySource,
    /// Creation time, seconds since the Unix epoch (0 for config keys).
    #[serde(rename = "createdAt")]
    pub created_at: i64,
}

/// A usage plan as compiled from `[usage_plans.<name>]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UsagePlan {
    /// The plan's name.
    pub name: Arc<str>,
    /// Free text for operators.
    pub description: Option<String>,
    /// The API stages it covers, as `"<api>/<stage>"`.
    pub stages: Vec<String>,
    /// Each key's token bucket.
    pub throttle: Option<crate::config::Throttle>,
    /// Each key's quota.
    pub quota: Option<crate::config::Quota>,
}

/// The keys and plans a config declares (compiled with each snapshot).
#[derive(Debug, Default)]
pub struct KeyConfig {
    /// `[usage_plans]` by name.
    pub usage_plans: HashMap<String, Arc<UsagePlan>>,
    /// `[api_keys]` by their value's digest.
    pub config_keys: HashMap<KeyDigest, Arc<KeyEntry>>,
}
