//! WebAssembly component plugins: the wasmtime host for the `wasmgate:plugin` WIT package.
//!
//! A plugin is compiled and linked once per config load ([`load`]), with its phases decided from
//! its exports and manifest. Each call ([`invoke`]) runs in a fresh instance (isolation
//! `request`, the default) or a warm one (`reuse`, replaced after any fault), under a deadline
//! (every 250 µs epoch tick the call yields to the worker's other requests; at the first tick
//! past the deadline it traps) and a memory cap. Its answer is checked against the bounds of
//! [`output`] before anything applies it. A fault never reaches other requests: the caller
//! answers by the plugin's failure mode.

mod bindings;
mod compile;
mod context;
mod engine;
mod heads;
mod host;
mod invoke;
mod kv;
mod load;
mod load_error;
mod names;
mod outbound;
mod output;
mod phase;
mod pool;
mod wasi;

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::InstancePre;

pub use crate::config::{FailureMode, Isolation};
pub use bindings::authorizer::Decision;
pub use bindings::cache_policy::{CacheDecision, CacheRule};
pub use bindings::manifest::Phases;
pub use bindings::request_transformer::{RequestAction, RequestChanges};
pub use bindings::response_transformer::ResponseChanges;
pub use bindings::types::{Entry, Header, Response};
pub use bindings::validator::Verdict;
pub use compile::{finished as compiled, CompileError, Patience};
pub use context::{RequestContext, RouteNames};
pub use engine::{use_compile_cache, CompileCache};
pub use heads::{Headers, RequestView, ResponseView};
pub use invoke::Fault;
pub use load::{load_all, Pending};
pub use load_error::{LoadError, RuntimeError};
pub use output::{MAX_BODY as MAX_PLUGIN_BODY, MAX_TOTAL_HEADERS, MAX_TOTAL_HEADER_BYTES};
pub use phase::Phase;

/// A loaded plugin, shared by the routes of one snapshot.
pub struct Plugin {
    /// The plugin's name in the config.
    pub name: String,
    shared: Arc<host::PluginShared>,
    pre: InstancePre<host::HostState>,
    indices: load::PhaseIndices,
    /// The phases the plugin serves.
    pub phases: Phases,
    /// Whether its request phases get the whole request body.
    pub needs_request_body: bool,
    /// Whether its response phase gets the whole response body.
    pub needs_response_body: bool,
    /// The request headers its manifest asks for (lower case); `None` for all.
    pub request_headers: Option<Arc<[String]>>,
    /// The response headers its manifest asks for (lower case); `None` for all.
    pub response_headers: Option<Arc<[String]>>,
    /// Deadline, failure mode and isolation.
    pub settings: PluginSettings,
    warm: pool::WarmPool,
    metrics: invoke::CallMetrics,
    header_names: names::HeaderNames,
}

/// How a plugin is run.
#[derive(Debug, Clone, Copy)]
pub struct PluginSettings {
    /// Deadline of one call, instantiation included.
    pub timeout: Duration,
    /// What a fault means for the request.
    pub failure_mode: FailureMode,
    /// Fresh instance per request or a warm one.
    pub isolation: Isolation,
}

impl Plugin {
    /// A header name this plugin returned, parsed once per worker thread.
    pub fn header_name(
        &self,
        name: &str,
    ) -> Result<http::HeaderName, http::header::InvalidHeaderName> {
        self.header_names.parse(name)
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("phases", &self.phases)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
