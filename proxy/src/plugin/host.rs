//! What a plugin instance can reach: the `log`, `config`, `kv`, `metrics` and `http` imports,
//! what is lent to the phase call in progress (read by the head and context imports), and a
//! deny-all WASI context (no files, sockets, environment or arguments) for components that
//! import WASI.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::{Engine, Store, StoreLimits};

use super::bindings::wasmgate::plugin::{config, http, kv, log as plugin_log, metrics, types};
use super::context::RequestContext;
use super::engine::{memory_limits, sandboxed_store, Sandboxed};
use super::heads::{LentHead, RequestView, ResponseView};
use super::kv::KvStore;
use super::lock;
use super::outbound;
use super::wasi::Wasi;
use crate::metrics::METRICS;

/// Longest log message kept from a plugin.
const MAX_LOG_MESSAGE: usize = 4096;
/// Longest metric name a plugin may use.
const MAX_METRIC_NAME: usize = 64;
/// Most distinct metric names one plugin may create (each is a series kept for good).
const MAX_METRIC_NAMES: usize = 100;

/// What all instances of one plugin share with the host.
#[derive(Debug)]
pub struct PluginShared {
    /// The plugin's name in the config.
    pub name: String,
    /// The plugin's `config` table as JSON text.
    pub config_json: String,
    /// The plugin's key/value store.
    pub kv: KvStore,
    /// `host:port` values the plugin may send HTTP requests to.
    pub allowed_hosts: Vec<String>,
    /// The memory cap of each instance, in bytes.
    pub memory_bytes: usize,
    /// The metric names the plugin created so far (at most [`MAX_METRIC_NAMES`]).
    pub metric_names: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl PluginShared {
    /// Whether the plugin may record metric `name`: a valid name it used before, or a new one
    /// while it has created fewer than [`MAX_METRIC_NAMES`].
    fn admits_metric(&self, name: &str) -> bool {
        if !valid_metric_name(name) {
            return false;
        }
        let mut names = lock(&self.metric_names);
        if names.contains(name) {
            return true;
        }
        if names.len() >= MAX_METRIC_NAMES {
            return false;
        }
        names.insert(name.to_string());
        true
    }
}

/// The data of one plugin store.
pub struct HostState {
    shared: Arc<PluginShared>,
    /// The store's resource limits (memory cap).
    pub limits: StoreLimits,
    /// When the current call must end: wasm code traps at the first epoch tick past it, and the
    /// `http` import never waits beyond it.
    pub deadline: Instant,
    /// The standard WASI interfaces, denied.
    pub wasi: Wasi,
    lent: Lent,
}

impl HostState {
    /// A fresh state for an instance of the plugin behind `shared`, for a call ending at
    /// `deadline`.
    fn new(shared: Arc<PluginShared>, deadline: Instant) -> Self {
        Self {
            limits: memory_limits(shared.memory_bytes),
            shared,
            deadline,
            wasi: Wasi::deny_all(),
            lent: Lent::default(),
        }
    }

    /// Lend `call` to the phase call about to run, for the `request-head`, `response-head` and
    /// `request-context` imports to read.
    pub fn lend(&mut self, call: Lent) {
        self.lent = call;
    }

    /// Take back what [`HostState::lend`] lent, once the call is over.
    pub fn take_back(&mut self) {
        self.lent = Lent::default();
    }

    /// What the call in progress was lent.
    pub fn lent(&self) -> &Lent {
        &self.lent
    }
}

/// What a phase call may read through the `request-head`, `response-head` and
/// `request-context` imports: lent to the store for the call and taken back after it (fields a
/// phase does not get stay `None`, and their imports trap).
#[derive(Default)]
pub struct Lent {
    /// The request head, in request phases.
    pub request: Option<LentHead<RequestView>>,
    /// The response head, in the response phase.
    pub response: Option<LentHead<ResponseView>>,
    /// The request context, in every phase.
    pub context: Option<Arc<RequestContext>>,
}

/// A store for one instance of the plugin behind `shared`, for a call ending at `deadline`.
pub fn new_store(
    engine: &Engine,
    shared: Arc<PluginShared>,
    deadline: Instant,
) -> Store<HostState> {
    sandboxed_store(engine, HostState::new(shared, deadline))
}

impl Sandboxed for HostState {
    fn limits(&mut self) -> &mut StoreLimits {
        &mut self.limits
    }

    fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl types::Host for HostState {}

impl plugin_log::Host for HostState {
    fn log(&mut self, level: plugin_log::Level, message: String) -> wasmtime::Result<()> {
        use plugin_log::Level;
        let level = match level {
            Level::Trace => log::Level::Trace,
            Level::Debug => log::Level::Debug,
            Level::Info => log::Level::Info,
            Level::Warn => log::Level::Warn,
            Level::Error => log::Level::Error,
        };
        let end = message.floor_char_boundary(MAX_LOG_MESSAGE);
        log::log!(target: "wasmgate::plugin", level, "plugin `{}`: {}", self.shared.name, &message[..end]);
        Ok(())
    }
}

impl config::Host for HostState {
    fn get(&mut self) -> wasmtime::Result<String> {
        Ok(self.shared.config_json.clone())
    }
}

impl kv::Host for HostState {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        Ok(self.shared.kv.get(&key))
    }

    fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> wasmtime::Result<()> {
        if !self.shared.kv.set(key, value, ttl_ms) {
            log::warn!(
                "plugin `{}`: kv value dropped (a key over 1 KiB, a value over 1 MiB, or the \
                 store full: 100,000 keys or 64 MiB)",
                self.shared.name
            );
        }
        Ok(())
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<bool> {
        Ok(self.shared.kv.delete(&key))
    }

    fn increment(&mut self, key: String, delta: i64, ttl_ms: Option<u64>) -> wasmtime::Result<i64> {
        self.shared.kv.increment(key, delta, ttl_ms).ok_or_else(|| {
            wasmtime::format_err!("kv store of plugin `{}` is full", self.shared.name)
        })
    }
}

fn valid_metric_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_METRIC_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl metrics::Host for HostState {
    fn counter_add(&mut self, name: String, value: u64) -> wasmtime::Result<()> {
        if self.shared.admits_metric(&name) {
            METRICS
                .plugin_counters
                .with_label_values(&[self.shared.name.as_str(), &name])
                .inc_by(value);
        }
        Ok(())
    }

    fn histogram_observe(&mut self, name: String, value: f64) -> wasmtime::Result<()> {
        if self.shared.admits_metric(&name) {
            METRICS
                .plugin_histograms
                .with_label_values(&[self.shared.name.as_str(), &name])
                .observe(value);
        }
        Ok(())
    }
}

impl http::Host for HostState {
    async fn send(
        &mut self,
        request: http::OutgoingRequest,
    ) -> Result<http::IncomingResponse, http::HttpError> {
        outbound::send(&self.shared.allowed_hosts, request, self.deadline).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_creates_a_bounded_number_of_metric_names() {
        let shared = PluginShared {
            name: "p".into(),
            config_json: "{}".into(),
            kv: KvStore::default(),
            allowed_hosts: Vec::new(),
            memory_bytes: 1 << 20,
            metric_names: Default::default(),
        };
        assert!(!shared.admits_metric("Bad-Name"));
        for i in 0..MAX_METRIC_NAMES {
            assert!(shared.admits_metric(&format!("m{i}")));
        }
        assert!(!shared.admits_metric("one_too_many"));
        assert!(shared.admits_metric("m0"), "names used before still count");
    }
}
