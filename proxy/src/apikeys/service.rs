//! The key service: the state database with its in-memory indexes. Every change is written to
//! the database first (durable when the call returns), then to memory, under one lock, so the
//! indexes always match the file. The request path reads only memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::NaiveDate;
use dashmap::DashMap;

use super::secret::KeyDigest;
use super::state_error::StateError;
use super::store::Store;
use super::usage::{oldest_kept, today, QuotaRule, UsageBook};
use super::{KeyConfig, KeyEntry};
use crate::throttle::KeyBuckets;

/// How often usage counts are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

pub(super) type Indexed = (KeyDigest, Arc<KeyEntry>);

/// Stored keys by id (for the admin API, in order) and by digest (for requests).
#[derive(Default)]
pub(super) struct Indexes {
    pub(super) by_id: RwLock<BTreeMap<Arc<str>, Indexed>>,
    by_digest: DashMap<KeyDigest, Arc<KeyEntry>>,
}

impl Indexes {
    pub(super) fn insert(&self, digest: KeyDigest, entry: Arc<KeyEntry>) {
        self.by_digest.insert(digest, entry.clone());
        write(&self.by_id).insert(entry.id.clone(), (digest, entry));
    }

    pub(super) fn remove(&self, id: &str) -> Option<Indexed> {
        let removed = write(&self.by_id).remove(id)?;
        self.by_digest.remove(&removed.0);
        Some(removed)
    }

    pub(super) fn get(&self, id: &str) -> Option<Indexed> {
        read(&self.by_id).get(id).cloned()
    }
}

pub(super) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// API keys, usage counts and per-key buckets of one gateway process.
pub struct KeyService {
    pub(super) store: Mutex<Store>,
    pub(super) keys: Indexes,
    /// Usage counts by key, plan and day.
    pub usage: UsageBook,
    /// Per-key token buckets of usage plans.
    pub buckets: KeyBuckets,
    pub(super) plan_first_days: DashMap<Arc<str>, NaiveDate>,
}

pub(super) fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl KeyService {
    /// Open the state database in `dir` and load its keys and recent usage.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        let store = Store::open(dir)?;
        let path = store.path().to_path_buf();
        let failed = |e: rusqlite::Error| StateError::from_sqlite(path.clone(), e);
        let keys = Indexes::default();
        for stored in store.keys().map_err(failed)? {
            keys.insert(stored.digest, Arc::new(stored.entry));
        }
        let today = today();
        let usage = UsageBook::default();
        let recent = store.usage(None, None, oldest_kept(today), today);
        usage.load(recent.map_err(failed)?);
        Ok(Self {
            store: Mutex::new(store),
            keys,
            usage,
            buckets: KeyBuckets::new(),
            plan_first_days: DashMap::new(),
        })
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.lock().path().to_path_buf()
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A stored key by its value's digest (the request path).
    pub fn lookup(&self, digest: &KeyDigest) -> Option<Arc<KeyEntry>> {
        self.keys.by_digest.get(digest).map(|entry| entry.clone())
    }

    /// Record the plans of a (re)loaded config, so that each has the day it first appeared.
    pub fn register_plans(&self, config: &KeyConfig) -> Result<(), StateError> {
        let names: Vec<&str> = config.usage_plans.keys().map(String::as_str).collect();
        let mut store = self.lock();
        let days = store
            .plan_first_days(&names, today())
            .map_err(|e| StateError::from_sqlite(store.path().to_path_buf(), e))?;
        drop(store);
        for (name, day) in names.into_iter().zip(days) {
            self.plan_first_days.insert(name.into(), day);
        }
        Ok(())
    }

    /// The quota rule of `plan` with its first day.
    pub fn quota_rule(&self, plan: &str, quota: crate::config::Quota) -> QuotaRule {
        let first_day = self
            .plan_first_days
            .get(plan)
            .map_or_else(today, |day| *day);
        QuotaRule { quota, first_day }
    }

    /// Write the usage counts changed since the last flush; how many day counts were written.
    pub fn flush(&self) -> Result<usize, StateError> {
        let rows = self.usage.take_dirty();
        if rows.is_empty() {
            return Ok(0);
        }
        let written = self.lock().write_usage(&rows);
        match written {
            Ok(()) => Ok(rows.len()),
            Err(e) => {
                self.usage.requeue(&rows);
                Err(StateError::UsageNotWritten(e))
            }
        }
    }

    /// Write usage counts every [`FLUSH_INTERVAL`] on a thread of its own.
    pub fn start_flusher(self: &Arc<Self>) {
        let service = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("usage-flusher".into())
            .spawn(move || loop {
                std::thread::sleep(FLUSH_INTERVAL);
                let Some(service) = service.upgrade() else {
                    return;
                };
                if let Err(e) = service.flush() {
                    log::error!("{e}");
                }
            });
        if let Err(e) = spawned {
            log::error!("cannot start the usage flusher, counts are written at shutdown: {e}");
        }
    }
}
