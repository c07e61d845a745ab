//! WebAssembly component plugins: the wasmtime host for the `wasmgate:plugin` WIT package.
//!
//! A plugin is compiled and linked once per config load ([`load`]), with its phases decided from
//! its exports and manifest. Each call ([`invoke`]) runs in a fresh instance (isolation
//! `request`, the default) or a warm one (`reuse`, replaced after any fault), under a deadline
//! (a call still running after a whole epoch tick yields to the worker's other requests every
//! 250 µs, [`ticker`]; at the first tick past the deadline it traps) and a memory cap. Its
//! answer is checked against the bounds of [`output`] before anything applies it. A fault never
//! reaches other requests: the caller answers by the plugin's failure mode.

mod artifacts;
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
mod proxy_wasm;
mod ticker;
mod wasi;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use wasmtime::component::InstancePre;

pub use crate::config::{FailureMode, Isolation};
pub use artifacts::default_directory as default_compile_directory;
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
pub use proxy_wasm::Streams as FilterStreams;

/// A loaded plugin, shared by the routes of one snapshot.
pub struct Plugin {
    /// The plugin's name in the config.
    pub name: String,
    code: Code,
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
    metrics: invoke::CallMetrics,
    header_names: names::HeaderNames,
}

/// What runs a plugin: a component of the `wasmgate:plugin` world, or a proxy-wasm filter.
enum Code {
    Component(ComponentCode),
    ProxyWasm(proxy_wasm::Filter),
}

/// A component plugin's linked code, what its instances share, and its warm instances.
struct ComponentCode {
    shared: Arc<host::PluginShared>,
    pre: InstancePre<host::HostState>,
    indices: load::PhaseIndices,
    warm: pool::WarmPool,
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
    /// The proxy-wasm filter this plugin is, if it is one.
    pub fn filter(&self) -> Option<&proxy_wasm::Filter> {
        match &self.code {
            Code::ProxyWasm(filter) => Some(filter),
            Code::Component(_) => None,
        }
    }

    fn component(&self) -> Option<&ComponentCode> {
        match &self.code {
            Code::Component(code) => Some(code),
            Code::ProxyWasm(_) => None,
        }
    }

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

/// Lock `mutex`, going on with its data if a thread panicked while holding it (every value the
/// plugin runtime keeps behind a lock stays valid between its statements).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
