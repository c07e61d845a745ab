//! Loading a plugin: read the file, check its `sha256` pin; a core module is a proxy-wasm
//! filter (`proxy_wasm::load`); a component is compiled (once per content digest
//! in this process; kept on disk across restarts by `artifacts`), link it against the host imports,
//! find which phase interfaces it exports, and run its `init` once to get its manifest — so that
//! a plugin's config mistakes are config errors, reported at load.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use wasmtime::component::InstancePre;

use super::bindings::{
    authorizer, cache_policy, manifest, request_transformer, response_transformer, validator,
};
use super::compile::{compiled, Compiled, Digest, Patience};
use super::engine::runtime;
use super::host::{new_store, HostState, PluginShared};
use super::kv::KvStore;
use super::load_error::LoadError;
use super::phase::Phase;
use super::ticker::Ticking;
use super::{proxy_wasm, Code, ComponentCode, FailureMode, Isolation, Plugin, PluginSettings};
use crate::config::{FilterBody, PluginFile};

/// The longest deadline a plugin may be given.
const MAX_TIMEOUT_MS: u64 = 60_000;
/// The longest `init` may take (it runs once per load, in a fresh instance).
const INIT_DEADLINE: Duration = Duration::from_secs(5);

/// The phase interfaces a component exports, resolved before instantiation.
#[derive(Clone)]
pub struct PhaseIndices {
    pub(super) manifest: manifest::GuestIndices,
    pub(super) authorizer: Option<authorizer::GuestIndices>,
    pub(super) request_transformer: Option<request_transformer::GuestIndices>,
    pub(super) response_transformer: Option<response_transformer::GuestIndices>,
    pub(super) validator: Option<validator::GuestIndices>,
    pub(super) cache_policy: Option<cache_policy::GuestIndices>,
}

impl PhaseIndices {
    /// Whether the component exports `phase`'s interface.
    fn exports(&self, phase: Phase) -> bool {
        match phase {
            Phase::Authorizer => self.authorizer.is_some(),
            Phase::Validator => self.validator.is_some(),
            Phase::RequestTransformer => self.request_transformer.is_some(),
            Phase::ResponseTransformer => self.response_transformer.is_some(),
            Phase::CachePolicy => self.cache_policy.is_some(),
        }
    }
}

/// The component file of `file` (relative to `base`), its bytes and digest, checked against its
/// `sha256` pin.
fn read_component(file: &PluginFile, base: &Path) -> Result<(PathBuf, Vec<u8>, Digest), LoadError> {
    let path = base.join(file.path.get_ref());
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(source) => return Err(LoadError::Read { path, source }),
    };
    let digest: Digest = Sha256::digest(&bytes).into();
    if let Some(pin) = &file.sha256 {
        let actual = hex::encode(digest);
        if !pin.get_ref().eq_ignore_ascii_case(&actual) {
            return Err(LoadError::Pin {
                path,
                actual,
                pinned: pin.get_ref().clone(),
            });
        }
    }
    Ok((path, bytes, digest))
}

/// A plugin left compiling when the first load's patience ran out.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The plugin's name.
    pub name: String,
    /// Its component's digest, to wait for.
    pub digest: Digest,
}

/// Load the plugin `name` declared by `file`, waiting for its compilation as `patience` says
/// (`Ok(Err(pending))` when it ran out); relative paths are taken from `base`.
pub fn load(
    name: &str,
    file: &PluginFile,
    base: &Path,
    patience: Patience,
) -> Result<Result<Plugin, Pending>, LoadError> {
    let runtime = runtime()?;
    check_settings(file)?;
    let (path, bytes, digest) = read_component(file, base)?;
    let filter = proxy_wasm::is_core_module(&bytes);
    if let (false, Some(key)) = (filter, filter_only_key(file)) {
        return Err(LoadError::FilterOnlyKey(key));
    }
    let component = match compiled(&runtime.engine, digest, bytes, &path, patience) {
        Ok(Some(Compiled::Module(module))) => {
            return load_filter(name, file, &path, module).map(Ok)
        }
        Ok(Some(Compiled::Component(component))) => component,
        Ok(None) => {
            return Ok(Err(Pending {
                name: name.to_string(),
                digest,
            }))
        }
        Err(error) => return Err(LoadError::Invalid { path, error }),
    };
    let pre = match runtime.linker.instantiate_pre(&component) {
        Ok(pre) => pre,
        Err(error) => return Err(LoadError::Link { path, error }),
    };
    let indices = PhaseIndices {
        manifest: manifest::GuestIndices::new(&pre).map_err(|_| LoadError::NoPluginExport)?,
        authorizer: authorizer::GuestIndices::new(&pre).ok(),
        request_transformer: request_transformer::GuestIndices::new(&pre).ok(),
        response_transformer: response_transformer::GuestIndices::new(&pre).ok(),
        validator: validator::GuestIndices::new(&pre).ok(),
        cache_policy: cache_policy::GuestIndices::new(&pre).ok(),
    };
    let shared = Arc::new(PluginShared {
        name: name.to_string(),
        config_json: serde_json::Value::Object(file.config.clone()).to_string(),
        kv: KvStore::default(),
        allowed_hosts: file.allowed_hosts.clone(),
        memory_bytes: (file.memory_mb as usize) << 20,
        metric_names: Default::default(),
    });
    let manifest = probe(&pre, &indices, &shared)?;
    if let Some(phase) = Phase::all_in(manifest.phases).find(|phase| !indices.exports(*phase)) {
        return Err(LoadError::PhaseNotExported(phase.name()));
    }
    Ok(Ok(Plugin {
        name: name.to_string(),
        code: Code::Component(ComponentCode {
            shared,
            pre,
            indices,
            warm: Default::default(),
        }),
        phases: manifest.phases,
        needs_request_body: manifest.needs_request_body,
        needs_response_body: manifest.needs_response_body,
        request_headers: lower_case(manifest.request_headers),
        response_headers: lower_case(manifest.response_headers),
        settings: PluginSettings {
            timeout: Duration::from_millis(file.timeout_ms),
            failure_mode: file.failure_mode,
            isolation: file.isolation.unwrap_or_default(),
        },
        metrics: Default::default(),
        header_names: Default::default(),
    }))
}

/// Whether a filter declared by `file` gets body `side` whole (both by default).
fn gets_body(file: &PluginFile, side: FilterBody) -> bool {
    file.bodies
        .as_ref()
        .is_none_or(|bodies| bodies.contains(&side))
}

/// `memory_mb` and `timeout_ms` within what the gateway can give.
fn check_settings(file: &PluginFile) -> Result<(), LoadError> {
    let most = super::engine::MAX_MEMORY_BYTES >> 20;
    if file.memory_mb == 0 || file.memory_mb as usize > most {
        return Err(LoadError::Setting(format!(
            "memory_mb = {}: from 1 to {most}",
            file.memory_mb
        )));
    }
    if file.timeout_ms == 0 || file.timeout_ms > MAX_TIMEOUT_MS {
        return Err(LoadError::Setting(format!(
            "timeout_ms = {}: from 1 to {MAX_TIMEOUT_MS}",
            file.timeout_ms
        )));
    }
    Ok(())
}

/// A key of `file` that only proxy-wasm filters take, if it has one.
fn filter_only_key(file: &PluginFile) -> Option<&'static str> {
    [
        ("root_id", file.root_id.is_some()),
        ("vm_id", file.vm_id.is_some()),
        ("configuration", file.configuration.is_some()),
        ("vm_configuration", file.vm_configuration.is_some()),
        ("upstreams", !file.upstreams.is_empty()),
        ("bodies", file.bodies.is_some()),
    ]
    .into_iter()
    .find_map(|(key, set)| set.then_some(key))
}

/// Load the proxy-wasm filter (a core module) at `path`: a request and response transformer
/// that reads every header, and the bodies `file.bodies` names.
fn load_filter(
    name: &str,
    file: &PluginFile,
    path: &Path,
    module: wasmtime::Module,
) -> Result<Plugin, LoadError> {
    if file.authorizer.is_some() {
        return Err(LoadError::FilterAuthorizer);
    }
    let filter = proxy_wasm::load(name, file, path, module)?;
    Ok(Plugin {
        name: name.to_string(),
        code: Code::ProxyWasm(filter),
        phases: Phase::RequestTransformer.flag() | Phase::ResponseTransformer.flag(),
        needs_request_body: gets_body(file, FilterBody::Request),
        needs_response_body: gets_body(file, FilterBody::Response),
        request_headers: None,
        response_headers: None,
        settings: PluginSettings {
            timeout: Duration::from_millis(file.timeout_ms),
            failure_mode: file.failure_mode,
            isolation: file.isolation.unwrap_or(Isolation::Reuse),
        },
        metrics: Default::default(),
        header_names: Default::default(),
    })
}

fn lower_case(names: Option<Vec<String>>) -> Option<Arc<[String]>> {
    names.map(|names| names.iter().map(|n| n.to_ascii_lowercase()).collect())
}

/// Run `init` in a fresh instance on a thread of its own (loading happens outside the proxy's
/// runtime, at startup, in `check` and on reload).
fn probe(
    pre: &InstancePre<HostState>,
    indices: &PhaseIndices,
    shared: &Arc<PluginShared>,
) -> Result<manifest::Manifest, LoadError> {
    let run = async {
        let _ticking = Ticking::start();
        let mut store = new_store(pre.engine(), shared.clone(), Instant::now() + INIT_DEADLINE);
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(LoadError::Instantiate)?;
        let guest = indices
            .manifest
            .load(&mut store, &instance)
            .map_err(LoadError::PluginInterface)?;
        guest
            .call_init(&mut store)
            .await
            .map_err(LoadError::InitTrapped)?
            .map_err(LoadError::Rejected)
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(LoadError::InitRuntime)?;
                runtime.block_on(async {
                    tokio::time::timeout(INIT_DEADLINE, run)
                        .await
                        .unwrap_or(Err(LoadError::InitTimeout(INIT_DEADLINE)))
                })
            })
            .join()
            .unwrap_or(Err(LoadError::InitPanicked))
    })
}

/// The outcome of loading every declared plugin.
#[derive(Default)]
pub struct LoadedPlugins {
    /// The plugins that loaded, by name.
    pub by_name: HashMap<String, Arc<Plugin>>,
    /// `(index of the declaration, error)` for the others.
    pub errors: Vec<(usize, LoadError)>,
    /// Those still compiling when `patience` ran out.
    pub pending: Vec<Pending>,
}

/// Load every `[plugins.<name>]`, waiting for compilations as `patience` says; relative paths
/// are taken from `base`. With a deadline (a start), every component is queued for compiling,
/// smallest first, before any is waited for.
pub fn load_all(
    files: &[crate::config::Named<PluginFile>],
    base: &Path,
    patience: Patience,
) -> LoadedPlugins {
    let mut loaded = LoadedPlugins::default();
    if let (Patience::Until(_), Ok(runtime)) = (patience, runtime()) {
        // Queue every compilation now, smallest component first (a mistake in a file is reported
        // by the load below).
        let mut components: Vec<_> = files
            .iter()
            .filter_map(|file| read_component(&file.value, base).ok())
            .collect();
        components.sort_by_key(|(_, bytes, _)| bytes.len());
        for (path, bytes, digest) in components {
            let now = Patience::Until(Instant::now());
            let _ = compiled(&runtime.engine, digest, bytes, &path, now);
        }
    }
    for (i, file) in files.iter().enumerate() {
        match load(file.name.get_ref(), &file.value, base, patience) {
            Ok(Ok(plugin)) => {
                loaded
                    .by_name
                    .insert(file.name.get_ref().clone(), Arc::new(plugin));
            }
            Ok(Err(pending)) => {
                log::warn!(
                    "plugin `{}` is still compiling: its routes answer 503 until it is ready",
                    pending.name
                );
                loaded.pending.push(pending);
            }
            Err(e) => loaded.errors.push((i, e)),
        }
    }
    loaded
}

impl FailureMode {
    /// Whether a faulty call lets the request through.
    pub fn is_open(self) -> bool {
        self == FailureMode::Open
    }
}

impl Isolation {
    /// Whether instances are kept warm between requests.
    pub fn reuses(self) -> bool {
        self == Isolation::Reuse
    }
}
