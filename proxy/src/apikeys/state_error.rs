//! Why the state database could not be opened, read or written, in words an operator can act on.

use std::path::PathBuf;

use rusqlite::ErrorCode;

/// A failure of the state database.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state directory could not be created.
    #[error("cannot create state directory `{}`: {source}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// Another process holds the database's exclusive lock.
    #[error(
        "state database `{}` is locked by another process (another wasmgate using the same \
         state_dir?)",
        path.display()
    )]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The file is not a database or fails its integrity check; it is never reset.
    #[error(
        "state database `{}` is damaged or not a database ({detail}); the gateway does not \
         reset it: restore a backup or move the file away to start empty",
        path.display()
    )]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        detail: String,
    },
    /// The file system does not allow write-ahead logging.
    #[error("state database `{}`: cannot use WAL mode", path.display())]
    NoWal {
        /// The database file.
        path: PathBuf,
    },
    /// Any other SQLite failure.
    #[error("state database `{}`: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        source: rusqlite::Error,
    },
    /// Usage counts could not be written; they stay queued for the next flush.
    #[error("cannot write usage counts (kept for a retry): {0}")]
    UsageNotWritten(rusqlite::Error),
}

impl StateError {
    /// Classify a SQLite failure on the database at `path`.
    pub fn from_sqlite(path: PathBuf, source: rusqlite::Error) -> Self {
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Self::Locked { path },
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Self::Damaged {
                path,
                detail: source.to_string(),
            },
            _ => Self::Sqlite { path, source },
        }
    }
}
