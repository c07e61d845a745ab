//! proxy-wasm filters (ABI 0.2.x, the ABI of Envoy, Istio and APISIX filters) in a route's
//! chain, in the same sandbox as component plugins: the same engine, memory cap, deadline
//! (a busy filter yields to the worker's other requests every 250 µs), failure modes and output
//! bounds. A filter joins the chain as a request and response transformer: its request
//! callbacks (`proxy_on_request_headers`, then `proxy_on_request_body` with the whole body
//! when the route buffers it) run where request transformers run, its response callbacks where
//! response transformers run, and `proxy_on_log`/`proxy_on_done`/`proxy_on_delete` when the
//! request ends — all on one instance and one stream context per request. What the callbacks
//! leave in the header maps and bodies becomes the changes of a transformer's answer, checked
//! against the same bounds; a local response answers the request.
//!
//! Instances are kept warm by default (`isolation = "reuse"`, as a filter's root context
//! expects to live); each has its root context started and configured. Ticks and queue
//! notifications go to one root instance per filter, run on a thread of its own.

mod abi;
mod changes;
mod exchange_imports;
mod imports;
mod instance;
mod memory;
mod properties;
mod root;
mod shared;
mod state;
mod stream;
mod wasi;

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::{InstancePre, Module};

use self::instance::Live;
use self::state::FilterShared;
use super::engine::runtime;
use super::load_error::LoadError;
use super::pool::WarmPool;
use crate::config::PluginFile;

/// A loaded proxy-wasm filter.
pub struct Filter {
    shared: Arc<FilterShared>,
    pre: InstancePre<FilterHost>,
    warm: WarmPool<Live>,
    /// Ends the root instance's thread when the filter is dropped (a reload).
    _alive: Arc<()>,
}

pub use self::state::FilterHost;

/// Whether `bytes` is a core WebAssembly module (a proxy-wasm filter) rather than a component.
pub fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

/// Link the filter declared as `name` by `file` (compiled from `path`), start its root instance (a
/// config error when its VM start or configuration fails), and keep that instance ticking if
/// it asked for ticks or registered queues.
pub fn load(
    name: &str,
    file: &PluginFile,
    path: &std::path::Path,
    module: Module,
) -> Result<Filter, LoadError> {
    let runtime = runtime()?;
    let exports: Vec<&str> = module.exports().map(|e| e.name()).collect();
    if !exports
        .iter()
        .any(|e| e.starts_with("proxy_abi_version_0_2_"))
    {
        return Err(LoadError::NotProxyWasm(path.to_path_buf()));
    }
    let mut linker = imports::linker(&runtime.engine).map_err(|e| {
        LoadError::Runtime(super::RuntimeError::new(
            "cannot link the proxy-wasm ABI",
            e,
        ))
    })?;
    imports::stub_unknown(&mut linker, &module);
    let pre = linker
        .instantiate_pre(&module)
        .map_err(|error| LoadError::Link {
            path: path.to_path_buf(),
            error,
        })?;
    let mut upstreams: HashMap<String, String> = file.upstreams.clone();
    upstreams.retain(|_, target| !target.is_empty());
    let mut allowed_hosts = file.allowed_hosts.clone();
    allowed_hosts.extend(upstreams.values().cloned());
    let vm_id = file.vm_id.clone().unwrap_or_else(|| name.to_string());
    let shared = Arc::new(FilterShared {
        name: name.to_string(),
        root_id: file.root_id.clone().unwrap_or_default(),
        vm: shared::vm(&vm_id),
        vm_id,
        configuration: configuration(file),
        vm_configuration: file
            .vm_configuration
            .clone()
            .unwrap_or_default()
            .into_bytes(),
        upstreams,
        allowed_hosts,
        memory_bytes: (file.memory_mb as usize) << 20,
        metrics: Default::default(),
    });
    let alive = Arc::new(());
    let timeout = std::time::Duration::from_millis(file.timeout_ms);
    root::start_root(&pre, &shared, timeout, Arc::downgrade(&alive))?;
    Ok(Filter {
        shared,
        pre,
        warm: WarmPool::default(),
        _alive: alive,
    })
}

/// What `proxy_on_configure` reads: `configuration` as written, else the `config` table as
/// JSON (nothing when it is empty).
fn configuration(file: &PluginFile) -> Vec<u8> {
    match &file.configuration {
        Some(text) => text.clone().into_bytes(),
        None if file.config.is_empty() => Vec::new(),
        None => serde_json::Value::Object(file.config.clone())
            .to_string()
            .into_bytes(),
    }
}

pub use self::stream::Streams;
