//! The gateway's shared state: the serving snapshot behind an `ArcSwap`, and reloading it. A
//! reload builds a new snapshot beside the old one and swaps the pointer; an invalid config is
//! rejected with its errors and the old snapshot keeps serving.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;

use crate::access_log::AccessLog;
use crate::apikeys::KeyService;
use crate::cache::ResponseCache;
use crate::config::{
    load_file, parse_source, AdminFile, ConfigErrors, LoadedConfig, ServerFile, SourceMap,
};
use crate::drain::Drain;
use crate::metrics::METRICS;
use crate::plugin::Patience;
use crate::snapshot::{compile_with, Snapshot};

/// State shared by the proxy, the admin listener and the config watcher.
pub struct State {
    config_path: PathBuf,
    snapshot: ArcSwap<Snapshot>,
    generation: AtomicU64,
    /// What the last reload attempt saw, so the watcher retries only on change.
    last_seen: Mutex<Option<Seen>>,
    /// The `[server]` and `[admin]` the process started with: what its sockets, threads and
    /// files follow until a restart.
    started_with: (ServerFile, AdminFile),
    /// In-flight accounting for graceful shutdown.
    pub drain: Arc<Drain>,
    /// The access log.
    pub access_log: AccessLog,
    /// Responses stored by cache-policy plugins.
    pub cache: ResponseCache,
    /// API keys and usage counts, kept in the state database.
    pub keys: Arc<KeyService>,
}

/// How long the config watcher waits for a changed config file to stop changing before loading
/// it: a file written in place (truncated, then written, as `std::fs::write` and many editors
/// do) read in between is valid TOML missing its end — routes that answer 404 until the next
/// change.
const SETTLE: Duration = Duration::from_millis(100);
/// How long the first load waits for plugins to compile before it serves without them (a
/// component in the compile cache loads in milliseconds; an uncached Python or JavaScript one
/// compiles for seconds).
const FIRST_LOAD_PATIENCE: Duration = Duration::from_millis(300);
/// How often plugins left compiling at start are looked at.
const COMPILE_POLL: Duration = Duration::from_millis(100);

/// The config file's text and the size and modification time of each watched file.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    config: String,
    files: Vec<Option<(u64, SystemTime)>>,
}

impl Seen {
    fn now(config: String, snapshot: &Snapshot) -> Self {
        let files = snapshot
            .watched_files
            .iter()
            .map(|path| {
                let meta = std::fs::metadata(path).ok()?;
                Some((meta.len(), meta.modified().ok()?))
            })
            .collect();
        Self { config, files }
    }
}

/// What a successful reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The new snapshot's generation (1 for the config loaded at start).
    pub generation: u64,
    /// Changed keys that take effect only at the next restart.
    pub restart_needed: Vec<&'static str>,
}

impl State {
    /// Load and compile the config at `path` for the first time, waiting up to
    /// [`FIRST_LOAD_PATIENCE`] for plugins to compile: those still compiling are left pending
    /// ([`State::reload_when_compiled`]).
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let loaded = load_file(path)?;
        let snapshot = compile_with(
            &loaded,
            Patience::Until(Instant::now() + FIRST_LOAD_PATIENCE),
        )?;
        crate::memory::release_freed();
        let access_log = AccessLog::open(&snapshot.server.access_log).map_err(|e| {
            let source = SourceMap::new(path, "");
            ConfigErrors::single(
                &source,
                None,
                format!(
                    "server.access_log: cannot open `{}`: {e}",
                    snapshot.server.access_log
                ),
            )
        })?;
        prefetch_keys(&snapshot);
        let seen = std::fs::read_to_string(path)
            .ok()
            .map(|text| Seen::now(text, &snapshot));
        let cache = ResponseCache::new(snapshot.server.cache_capacity_mb << 20);
        let state_dir = path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&snapshot.server.state_dir);
        let keys = KeyService::open(&state_dir)
            .and_then(|keys| keys.register_plans(&snapshot.keys).map(|()| keys))
            .map_err(|e| {
                let source = SourceMap::new(path, "");
                ConfigErrors::single(&source, None, format!("server.state_dir: {e}"))
            })?;
        Ok(Self {
            config_path: path.to_path_buf(),
            started_with: (snapshot.server.clone(), snapshot.admin.clone()),
            snapshot: ArcSwap::from_pointee(snapshot),
            generation: AtomicU64::new(1),
            last_seen: Mutex::new(seen),
            drain: Arc::new(Drain::default()),
            access_log,
            cache,
            keys: Arc::new(keys),
        })
    }

    /// If the first load left plugins compiling, watch them on a thread of its own and reload
    /// each time some have finished — without waiting for the others, which stay pending — so
    /// their routes start serving without a restart, small plugins (compiled first) before
    /// large ones.
    pub fn reload_when_compiled(self: &Arc<Self>) {
        if self.snapshot().pending_plugins.is_empty() {
            return;
        }
        let state = self.clone();
        let spawned = std::thread::Builder::new()
            .name("plugin-compile-wait".into())
            .spawn(move || {
                let mut failed: Vec<[u8; 32]> = Vec::new();
                loop {
                    std::thread::sleep(COMPILE_POLL);
                    let pending = state.snapshot().pending_plugins.clone();
                    let mut ready = Vec::new();
                    let mut waiting = false;
                    for plugin in pending.iter() {
                        if failed.contains(&plugin.digest) {
                            continue;
                        }
                        match crate::plugin::compiled(plugin.digest) {
                            None => waiting = true,
                            Some(Ok(())) => ready.push(plugin.name.as_str()),
                            Some(Err(e)) => {
                                log::error!("plugin `{}` did not compile: {e}", plugin.name);
                                failed.push(plugin.digest);
                            }
                        }
                    }
                    if !ready.is_empty() {
                        let patience = Patience::Until(Instant::now());
                        let (result, leftovers) = state.reload_with(patience);
                        leftovers.free();
                        match result {
                            Ok(_) => log::info!(
                                "plugins compiled ({}): config reloaded",
                                ready.join(", ")
                            ),
                            Err(e) => log::error!("plugins compiled, but the reload failed:\n{e}"),
                        }
                    } else if !waiting {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            log::error!("cannot wait for compiling plugins: {e}");
        }
    }

    /// The snapshot serving new requests.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The current snapshot's generation.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Reload the config file now (SIGHUP). Blocking: resolves host names.
    pub fn reload(&self) -> Result<Reloaded, ConfigErrors> {
        let (result, leftovers) = self.reload_with(Patience::Forever);
        leftovers.free();
        result
    }

    /// [`State::reload`] for a caller waiting on the outcome (`POST /admin/reload`): `answer`
    /// gets it as soon as the new config serves, and the old config's memory is freed after
    /// (a tenth of a 10,000-route reload).
    pub fn reload_answering(&self, answer: impl FnOnce(Result<Reloaded, ConfigErrors>)) {
        let (result, leftovers) = self.reload_with(Patience::Forever);
        answer(result);
        leftovers.free();
    }

    /// [`State::reload`], waiting for plugins to compile as `patience` says; what it replaced
    /// is left to the caller to free.
    fn reload_with(&self, patience: Patience) -> (Result<Reloaded, ConfigErrors>, Leftovers) {
        let mut last_seen = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
        let text = std::fs::read_to_string(&self.config_path).map_err(|e| {
            let source = SourceMap::new(&self.config_path, "");
            ConfigErrors::single(&source, None, format!("cannot read config file: {e}"))
        });
        let swapped = text.and_then(|text| {
            let swapped = self.swap_in(&text, patience);
            *last_seen = Some(Seen::now(text, &self.snapshot()));
            swapped
        });
        let (result, leftovers) = match swapped {
            Ok((reloaded, leftovers)) => (Ok(reloaded), leftovers),
            Err(errors) => (Err(errors), Leftovers::default()),
        };
        record(&result);
        (result, leftovers)
    }

    /// Reload if the config file's contents or a watched file (plugin component, model file)
    /// changed since the last attempt (the config watcher), once the config file has stayed the
    /// same for [`SETTLE`]; a file still being written is looked at again at the next poll.
    pub fn reload_if_changed(&self) -> Option<Result<Reloaded, ConfigErrors>> {
        let mut last_seen = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
        let text = std::fs::read_to_string(&self.config_path).ok()?;
        let seen = Seen::now(text, &self.snapshot());
        if last_seen.as_ref() == Some(&seen) {
            return None;
        }
        std::thread::sleep(SETTLE);
        if std::fs::read_to_string(&self.config_path).ok()? != seen.config {
            return None;
        }
        let swapped = self.swap_in(&seen.config, Patience::Forever);
        *last_seen = Some(Seen::now(seen.config, &self.snapshot()));
        let result = swapped.map(|(reloaded, leftovers)| {
            leftovers.free();
            reloaded
        });
        record(&result);
        Some(result)
    }

    fn swap_in(
        &self,
        text: &str,
        patience: Patience,
    ) -> Result<(Reloaded, Leftovers), ConfigErrors> {
        let loaded = parse_source(&self.config_path, text)?;
        let snapshot = compile_with(&loaded, patience)?;
        if self.started_with.0.tls.is_some() && snapshot.server.tls.is_none() {
            // The TLS listeners run until a restart; without certificates every handshake
            // would fail.
            return Err(ConfigErrors::single(
                &loaded.source,
                None,
                "server.tls: the TLS listeners run until a restart: keep `[server.tls]` (and its \
                 certificates) until then"
                    .to_string(),
            ));
        }
        let restart_only = snapshot.restart_only_changes(&self.started_with);
        if !restart_only.is_empty() {
            log::warn!(
                "{} changed: that takes effect at the next restart (the rest of the config \
                 applies now)",
                restart_only.join(", ")
            );
        }
        prefetch_keys(&snapshot);
        if let Err(e) = self.keys.register_plans(&snapshot.keys) {
            log::error!("usage plans: {e}; a new plan's first period counts as a later one");
        }
        let old = self.snapshot.swap(Arc::new(snapshot));
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let reloaded = Reloaded {
            generation,
            restart_needed: restart_only,
        };
        Ok((reloaded, Leftovers(Some((old, loaded)))))
    }
}

/// What a reload replaced (nothing, if it was rejected): the old snapshot (gone once no request
/// holds it) and the file as read. Freeing them — some 100,000 allocations for 10,000 routes —
/// and returning the memory to the system can wait until the reload has answered.
#[derive(Default)]
struct Leftovers(Option<(Arc<Snapshot>, LoadedConfig)>);

impl Leftovers {
    /// Drop what the reload replaced, on the thread that compiled its successor (its heap
    /// holds the pages), and return what was freed to the system.
    fn free(self) {
        if let Some(replaced) = self.0 {
            drop(replaced);
            crate::memory::release_freed();
        }
    }
}

/// Fetch the JWT authorizers' keys on a thread of its own, so that neither the start nor the
/// first request waits for an issuer.
fn prefetch_keys(snapshot: &Snapshot) {
    let authorizers: Vec<_> = snapshot.jwt_authorizers.values().cloned().collect();
    if authorizers.is_empty() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("jwks-prefetch".into())
        .spawn(move || authorizers.iter().for_each(|a| a.prefetch()));
    if let Err(e) = spawned {
        log::warn!("JWKS keys are fetched at the first token: {e}");
    }
}

fn record(result: &Result<Reloaded, ConfigErrors>) {
    match result {
        Ok(reloaded) => {
            METRICS.reloads.with_label_values(&["ok"]).inc();
            log::info!("config reloaded (generation {})", reloaded.generation);
        }
        Err(errors) => {
            METRICS.reloads.with_label_values(&["rejected"]).inc();
            log::error!("config reload rejected, the previous config keeps serving:\n{errors}");
        }
    }
}
