//! The one wasmtime `Engine` of the process: component model, async calls, epoch interruption
//! (ticked by [`super::ticker`]), the pooling allocator with
//! copy-on-write memory images, where compiled plugins are kept (`server.plugin_cache_dir`,
//! used by [`super::artifacts`]), the shared `Linker`, and the sandboxed store every instance —
//! component or proxy-wasm filter — runs in (memory cap, deadline, yielding).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
    ProfilingStrategy, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline,
};

use super::bindings::GatewayPlugin;
use super::host::HostState;
use super::load_error::RuntimeError;
use super::ticker;

/// How much of a memory or table slot is restored in place when an instance ends.
const KEEP_RESIDENT_BYTES: usize = 1 << 20;
/// Largest linear memory any plugin may be given (per-plugin caps are lower).
pub const MAX_MEMORY_BYTES: usize = 256 << 20;
/// Set (to anything) in the environment to have wasmtime write `/tmp/perf-<pid>.map`, so `perf
/// report` names the functions of compiled plugins instead of showing bare JIT addresses.
const PERF_MAP_VARIABLE: &str = "WASMGATE_PERF_MAP";

/// The engine and the linker with every host import.
pub struct Runtime {
    /// The engine.
    pub engine: Engine,
    /// Host imports, WASI and wasi:http (denied per store).
    pub linker: Linker<HostState>,
}

static RUNTIME: OnceLock<Result<Runtime, RuntimeError>> = OnceLock::new();

/// Where compiled plugins are kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileCache {
    /// In the per-user cache directory (`~/.cache/wasmgate`).
    Default,
    /// Nowhere: every start compiles again.
    Off,
    /// In this directory.
    Directory(PathBuf),
}

static CACHE: OnceLock<CompileCache> = OnceLock::new();

/// Use `cache` instead of the per-user cache directory: set before the first plugin
/// loads (the setting of the config the process starts with; later ones wait for a restart).
pub fn use_compile_cache(cache: CompileCache) {
    let _ = CACHE.set(cache);
}

/// Where compiled plugins are kept ([`super::artifacts`]), as the config says: `None` when
/// nowhere.
pub fn artifact_directory() -> Option<PathBuf> {
    match CACHE.get() {
        Some(CompileCache::Off) => None,
        Some(CompileCache::Directory(directory)) => Some(directory.clone()),
        Some(CompileCache::Default) | None => super::artifacts::default_directory(),
    }
}

/// The process-wide runtime, created on first use.
pub fn runtime() -> Result<&'static Runtime, RuntimeError> {
    RUNTIME.get_or_init(build).as_ref().map_err(Clone::clone)
}

fn build() -> Result<Runtime, RuntimeError> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.memory_init_cow(true);
    if std::env::var_os(PERF_MAP_VARIABLE).is_some() {
        config.profiler(ProfilingStrategy::PerfMap);
    }
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(1_000)
        .total_core_instances(8_000)
        .total_memories(2_000)
        .total_tables(8_000)
        .total_stacks(1_000)
        .max_memory_size(MAX_MEMORY_BYTES)
        .max_memories_per_component(16)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20)
        // A fresh instance per request is the default isolation, so resetting a slot must be
        // cheap: with Linux's PAGEMAP_SCAN, only the pages a call dirtied are restored (up to
        // this much), without madvise, TLB shootdowns or page faults on the next use.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config.memory_reservation(MAX_MEMORY_BYTES as u64);
    let engine =
        Engine::new(&config).map_err(|e| RuntimeError::new("cannot create the wasm engine", e))?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(|e| RuntimeError::new("cannot link WASI", e))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(|e| RuntimeError::new("cannot link wasi:http", e))?;
    GatewayPlugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
        .map_err(|e| RuntimeError::new("cannot link the host imports", e))?;
    super::ticker::start(engine.weak())
        .map_err(|e| RuntimeError::new("cannot start the epoch ticker", e))?;
    Ok(Runtime { engine, linker })
}

/// What the sandbox needs from a store's data, for components and proxy-wasm filters alike:
/// its memory cap and the deadline of the call in progress.
pub trait Sandboxed: Send + 'static {
    /// The store's resource limits.
    fn limits(&mut self) -> &mut StoreLimits;
    /// When the current call must end.
    fn deadline(&self) -> Instant;
}

/// The limits of an instance capped at `bytes` of memory: growing past them traps.
pub fn memory_limits(bytes: usize) -> StoreLimits {
    StoreLimitsBuilder::new()
        .memory_size(bytes)
        .trap_on_grow_failure(true)
        .build()
}

/// A store for one instance holding `data`: its memory cap, and an epoch check each tick that
/// traps with [`wasmtime::Trap::Interrupt`] past the data's deadline and otherwise lets the call
/// run on or yield, as [`ticker::at_tick`] decides. A call is told apart from the store's
/// previous ones by its deadline.
pub fn sandboxed_store<T: Sandboxed>(engine: &Engine, data: T) -> Store<T> {
    let mut store = Store::new(engine, data);
    store.limiter(|data| data.limits());
    let mut last_seen = None;
    store.epoch_deadline_callback(move |store| {
        let deadline = store.data().deadline();
        if Instant::now() >= deadline {
            return Ok(UpdateDeadline::Interrupt);
        }
        let seen_before = last_seen.replace(deadline) == Some(deadline);
        Ok(ticker::at_tick(seen_before))
    });
    store.set_epoch_deadline(1);
    store
}
