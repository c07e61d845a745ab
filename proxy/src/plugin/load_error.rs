//! Why a plugin did not load, and why the wasm runtime could not start: each a config error at
//! the plugin's declaration.

use std::path::PathBuf;
use std::time::Duration;

/// The process-wide wasm runtime could not be built (reported for every plugin).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}: {detail}")]
pub struct RuntimeError {
    what: &'static str,
    detail: String,
}

impl RuntimeError {
    /// `what` failed, with wasmtime's or the OS's explanation.
    pub fn new(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self {
            what,
            detail: format!("{detail:#}"),
        }
    }
}

/// Why one plugin did not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The runtime is unavailable.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The component file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The file's digest differs from the `sha256` pin.
    #[error("sha256 mismatch: `{}` has {actual}, the config pins {pinned}", path.display())]
    Pin {
        /// The component file.
        path: PathBuf,
        /// The file's digest.
        actual: String,
        /// The config's pin.
        pinned: String,
    },
    /// Not a component wasmtime accepts.
    #[error("`{}` is not a valid component or proxy-wasm module: {error}", path.display())]
    Invalid {
        /// The component file.
        path: PathBuf,
        /// What wasmtime said.
        error: super::compile::CompileError,
    },
    /// An import the host does not provide.
    #[error("cannot link `{}`: {error:#}", path.display())]
    Link {
        /// The component file.
        path: PathBuf,
        /// What wasmtime said.
        error: wasmtime::Error,
    },
    /// No `plugin` interface.
    #[error("the component does not export `wasmgate:plugin/plugin@0.1.0` (see wit/plugin.wit)")]
    NoPluginExport,
    /// Instantiation for `init` failed.
    #[error("cannot instantiate: {0:#}")]
    Instantiate(wasmtime::Error),
    /// The `plugin` interface's functions have other types than the host's.
    #[error("{0:#}")]
    PluginInterface(wasmtime::Error),
    /// `init` trapped.
    #[error("init trapped: {0:#}")]
    InitTrapped(wasmtime::Error),
    /// `init` returned an error for the plugin's config.
    #[error("rejected its config: {0}")]
    Rejected(String),
    /// `init` ran past its deadline.
    #[error("init did not finish within {0:?}")]
    InitTimeout(Duration),
    /// The thread running `init` could not start its runtime.
    #[error("cannot start a runtime for init: {0}")]
    InitRuntime(std::io::Error),
    /// The host panicked while running `init`.
    #[error("init panicked in the host")]
    InitPanicked,
    /// A setting out of range.
    #[error("{0}")]
    Setting(String),
    /// A core module without the proxy-wasm ABI's version export.
    #[error("`{}` is a core WebAssembly module but not a proxy-wasm filter (it exports no `proxy_abi_version_0_2_*`); plugins are components of wit/plugin.wit or proxy-wasm 0.2 filters", .0.display())]
    NotProxyWasm(PathBuf),
    /// A proxy-wasm setting on a component plugin.
    #[error("`{0}` applies to proxy-wasm filters only, and this plugin is a component")]
    FilterOnlyKey(&'static str),
    /// An `authorizer` table on a proxy-wasm filter.
    #[error("a proxy-wasm filter cannot be an authorizer (it runs as a request and response transformer)")]
    FilterAuthorizer,
    /// The manifest names a phase the component does not export.
    #[error("the manifest lists `{0}` but the component does not export it")]
    PhaseNotExported(&'static str),
}
