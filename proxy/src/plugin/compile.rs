//! Compiling components and proxy-wasm filters: once per content digest in this process (reloads and every config
//! entry of the same file share the compiled code and its copy-on-write memory images), kept
//! across restarts by [`artifacts`], on a
//! compiling thread of their own, smallest first at a start, so that the first load of `serve`
//! can wait a moment for them and leave the slow ones (a Python or JavaScript runtime compiles
//! for ~15 s on two cores with an empty cache) compiling while the gateway serves the rest.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, LazyLock, Mutex, OnceLock};
use std::time::Instant;

use dashmap::DashMap;
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use super::artifacts;
use super::engine::artifact_directory;
use super::lock;

/// A content digest (SHA-256).
pub type Digest = [u8; 32];

/// A compiled plugin: a component, or the core module of a proxy-wasm filter.
#[derive(Clone)]
pub enum Compiled {
    /// A component of the `wasmgate:plugin` world.
    Component(Component),
    /// A proxy-wasm filter.
    Module(Module),
}

/// How long loading waits for components that are not compiled yet.
#[derive(Debug, Clone, Copy)]
pub enum Patience {
    /// Until each is compiled (`check`, `plugins compile`, reloads).
    Forever,
    /// Until this instant: those still compiling then are left pending (the first load of
    /// `serve`, so routes without slow plugins answer at once).
    Until(Instant),
}

/// Compiled components by digest.
static COMPILED: LazyLock<DashMap<Digest, Compiled>> = LazyLock::new(DashMap::new);
/// Compilations in progress by digest.
static IN_FLIGHT: LazyLock<DashMap<Digest, Arc<Compiling>>> = LazyLock::new(DashMap::new);
/// Components that failed to compile, by digest: the same bytes fail the same way, so a later
/// load reports the error at once instead of compiling again.
static FAILED: LazyLock<DashMap<Digest, CompileError>> = LazyLock::new(DashMap::new);

/// Why a component did not compile; every load waiting for it gets the same.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CompileError {
    /// wasmtime refused it.
    #[error("{0:#}")]
    Rejected(Arc<wasmtime::Error>),
    /// The compiling thread could not be started (logged when it was tried).
    #[error("the compiling thread is not running")]
    NoThread,
    /// Nothing compiles it (waited for before any load started it).
    #[error("its compilation was not started")]
    NotStarted,
}

/// A compilation in progress: its outcome once there is one.
struct Compiling {
    outcome: Mutex<Option<Result<Compiled, CompileError>>>,
    done: Condvar,
}

/// The component `bytes` (read from `path`) compiled: `Ok(None)` when `patience` ran out first
/// (it goes on compiling; see [`finished`]), `Err` when it is invalid.
pub fn compiled(
    engine: &Engine,
    digest: Digest,
    bytes: Vec<u8>,
    path: &Path,
    patience: Patience,
) -> Result<Option<Compiled>, CompileError> {
    if let Some(component) = COMPILED.get(&digest) {
        return Ok(Some(component.clone()));
    }
    if let Some(error) = FAILED.get(&digest) {
        return Err(error.clone());
    }
    let job = IN_FLIGHT
        .entry(digest)
        .or_insert_with(|| start(engine.clone(), digest, bytes, path.to_path_buf()))
        .clone();
    job.wait(patience)
}

/// Whether the component with `digest` has finished compiling: `None` while it compiles.
pub fn finished(digest: Digest) -> Option<Result<(), CompileError>> {
    let job = IN_FLIGHT.get(&digest).map(|job| job.clone());
    match job {
        Some(job) => job
            .wait(Patience::Until(Instant::now()))
            .transpose()
            .map(|r| r.map(|_| ())),
        None if COMPILED.contains_key(&digest) => Some(Ok(())),
        None if FAILED.contains_key(&digest) => FAILED.get(&digest).map(|e| Err(e.clone())),
        None => Some(Err(CompileError::NotStarted)),
    }
}

/// A component to compile, and where its outcome goes.
struct Job {
    engine: Engine,
    digest: Digest,
    bytes: Vec<u8>,
    path: PathBuf,
    compiling: Arc<Compiling>,
}

/// The compiling thread's queue. One component compiles at a time, in the order they were
/// asked for (wasmtime spreads each over every core already), so a small plugin asked for
/// first is not held up behind a Python runtime's compilation.
static QUEUE: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();

fn queue() -> Option<&'static Mutex<Sender<Job>>> {
    QUEUE
        .get_or_init(|| {
            let (sender, receiver) = std::sync::mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("wasm-compile".into())
                .spawn(move || receiver.into_iter().for_each(compile))
                .map_err(|e| log::error!("cannot start the compiling thread: {e}"))
                .ok()
                .map(|_| Mutex::new(sender))
        })
        .as_ref()
}

fn compile(job: Job) {
    let started = Instant::now();
    let directory = artifact_directory();
    let (engine, digest, bytes) = (&job.engine, &job.digest, &job.bytes[..]);
    let outcome = if super::proxy_wasm::is_core_module(bytes) {
        match &directory {
            Some(dir) => artifacts::module(engine, dir, digest, bytes),
            None => Module::new(engine, bytes),
        }
        .map(Compiled::Module)
    } else {
        match &directory {
            Some(dir) => artifacts::component(engine, dir, digest, bytes),
            None => Component::new(engine, bytes),
        }
        .map(Compiled::Component)
    }
    .map_err(|e| CompileError::Rejected(Arc::new(e)));
    let took = started.elapsed();
    if took.as_secs() >= 1 {
        log::info!("compiled `{}` in {took:.1?}", job.path.display());
    }
    match &outcome {
        Ok(component) => COMPILED.insert(job.digest, component.clone()).map(|_| ()),
        Err(error) => FAILED.insert(job.digest, error.clone()).map(|_| ()),
    };
    IN_FLIGHT.remove(&job.digest);
    job.compiling.finish(outcome);
}

fn start(engine: Engine, digest: Digest, bytes: Vec<u8>, path: PathBuf) -> Arc<Compiling> {
    let compiling = Arc::new(Compiling {
        outcome: Mutex::new(None),
        done: Condvar::new(),
    });
    let job = Job {
        engine,
        digest,
        bytes,
        path,
        compiling: compiling.clone(),
    };
    let sent = queue().is_some_and(|queue| {
        let sender = lock(queue);
        sender.send(job).is_ok()
    });
    if !sent {
        compiling.finish(Err(CompileError::NoThread));
    }
    compiling
}

impl Compiling {
    fn finish(&self, outcome: Result<Compiled, CompileError>) {
        *lock(&self.outcome) = Some(outcome);
        self.done.notify_all();
    }

    fn wait(&self, patience: Patience) -> Result<Option<Compiled>, CompileError> {
        let mut outcome = lock(&self.outcome);
        loop {
            if let Some(outcome) = outcome.as_ref() {
                return outcome.clone().map(Some);
            }
            outcome = match patience {
                Patience::Forever => self.done.wait(outcome).unwrap_or_else(|e| e.into_inner()),
                Patience::Until(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    match self.done.wait_timeout(outcome, left) {
                        Ok((guard, _)) => guard,
                        Err(poisoned) => poisoned.into_inner().0,
                    }
                }
            };
        }
    }
}
