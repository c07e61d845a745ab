//! Compiling components: once per content digest in this process (reloads and every config
//! entry of the same file share the compiled code and its copy-on-write memory images), each on
//! a thread of its own, so that the first load of `serve` can wait a moment for them and leave
//! the slow ones (a Python or JavaScript runtime compiles for ~15 s on two cores with an empty
//! cache) compiling while the gateway serves everything else.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, LazyLock, Mutex};
use std::time::Instant;

use dashmap::DashMap;
use wasmtime::component::Component;
use wasmtime::Engine;

/// A content digest (SHA-256).
pub type Digest = [u8; 32];

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
static COMPILED: LazyLock<DashMap<Digest, Component>> = LazyLock::new(DashMap::new);
/// Compilations in progress by digest.
static IN_FLIGHT: LazyLock<DashMap<Digest, Arc<Compiling>>> = LazyLock::new(DashMap::new);

/// Why a component did not compile; every load waiting for it gets the same.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CompileError {
    /// wasmtime refused it.
    #[error("{0:#}")]
    Rejected(Arc<wasmtime::Error>),
    /// No thread could be started to compile it.
    #[error("cannot start a compiling thread: {0}")]
    NoThread(Arc<std::io::Error>),
    /// Nothing compiles it (waited for before any load started it).
    #[error("its compilation was not started")]
    NotStarted,
}

/// A compilation in progress: its outcome once there is one.
struct Compiling {
    outcome: Mutex<Option<Result<Component, CompileError>>>,
    done: Condvar,
}

/// The component `bytes` (read from `path`) compiled: `Ok(None)` when `patience` ran out first
/// (it goes on compiling; [`wait`] for it), `Err` when it is invalid.
pub fn compiled(
    engine: &Engine,
    digest: Digest,
    bytes: Vec<u8>,
    path: &Path,
    patience: Patience,
) -> Result<Option<Component>, CompileError> {
    if let Some(component) = COMPILED.get(&digest) {
        return Ok(Some(component.clone()));
    }
    let job = IN_FLIGHT
        .entry(digest)
        .or_insert_with(|| start(engine.clone(), digest, bytes, path.to_path_buf()))
        .clone();
    job.wait(patience)
}

/// Wait for the component with `digest` to finish compiling (at once if it has).
pub fn wait(digest: Digest) -> Result<(), CompileError> {
    let job = IN_FLIGHT.get(&digest).map(|job| job.clone());
    match job {
        Some(job) => job.wait(Patience::Forever).map(|_| ()),
        None if COMPILED.contains_key(&digest) => Ok(()),
        None => Err(CompileError::NotStarted),
    }
}

fn start(engine: Engine, digest: Digest, bytes: Vec<u8>, path: PathBuf) -> Arc<Compiling> {
    let job = Arc::new(Compiling {
        outcome: Mutex::new(None),
        done: Condvar::new(),
    });
    let running = job.clone();
    let spawned = std::thread::Builder::new()
        .name("wasm-compile".into())
        .spawn(move || {
            let started = Instant::now();
            let outcome =
                Component::new(&engine, &bytes).map_err(|e| CompileError::Rejected(Arc::new(e)));
            let took = started.elapsed();
            if took.as_secs() >= 1 {
                log::info!("compiled `{}` in {took:.1?}", path.display());
            }
            if let Ok(component) = &outcome {
                COMPILED.insert(digest, component.clone());
            }
            IN_FLIGHT.remove(&digest);
            running.finish(outcome);
        });
    if let Err(e) = spawned {
        job.finish(Err(CompileError::NoThread(Arc::new(e))));
    }
    job
}

impl Compiling {
    fn finish(&self, outcome: Result<Component, CompileError>) {
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
        self.done.notify_all();
    }

    fn wait(&self, patience: Patience) -> Result<Option<Component>, CompileError> {
        let mut outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
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
