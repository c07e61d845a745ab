//! Configuration: the TOML file schema, loading it with every mistake located by file, line and
//! key, and the diagnostics type shared with the snapshot compiler that validates meaning.
//!
//! Loading is lenient on purpose: each API, stage, route and integration is deserialized on its own,
//! so one bad entry does not hide the mistakes in the others. `wasmgate check` prints them all.

mod diagnostics;
mod limits;
mod load;
mod schema;

pub use diagnostics::{ConfigError, ConfigErrors, Diagnostics, SourceMap};
pub use limits::RequestLimits;
pub use load::{load_file, parse_source, LoadedConfig};
pub use schema::*;
