//! The key service: the state database with its in-memory indexes. Every change is written to
//! the database first (durable when the call returns), then to memory, under one lock, so the
//! indexes always match the file. The request path reads only memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{Days, NaiveDate};
use dashmap::DashMap;

use super::secret::{self, KeyDigest};
use super::store::{Store, StoredKey};
use super::usage::{oldest_kept, period_start, today, QuotaRule, UsageBook};
use super::{KeyConfig, KeyEntry, KeySource};
use crate::throttle::KeyBuckets;

/// How often usage counts are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// Longest range of days a usage report covers.
const MAX_REPORT_DAYS: u64 = 366;

/// Why an admin call failed, mapped to an HTTP status by the admin API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 500: the database failed.
    #[error("{0}")]
    Internal(String),
}

impl From<rusqlite::Error> for AdminError {
    fn from(e: rusqlite::Error) -> Self {
        AdminError::Internal(format!("state database: {e}"))
    }
}

/// A key to create.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// A name for operators.
    pub name: String,
    /// Free text for operators.
    pub description: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// The usage plans the key belongs to.
    #[serde(default)]
    pub plans: Vec<String>,
    /// A chosen value (at least 20 printable characters); generated when absent.
    pub value: Option<String>,
}

/// Changes to a key; absent fields stay as they are.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// The new set of plans.
    pub plans: Option<Vec<String>>,
}

/// A plan's usage by key and day, as AWS's GetUsage: `items.<key id>` lists `[used, remaining]`
/// for each day from `startDate` to `endDate` (`remaining` is null without a quota).
#[derive(Debug, Clone, serde::Serialize)]
pub struct UsageReport {
    /// The plan.
    #[serde(rename = "usagePlanId")]
    pub plan: String,
    /// First day reported.
    #[serde(rename = "startDate")]
    pub start: NaiveDate,
    /// Last day reported.
    #[serde(rename = "endDate")]
    pub end: NaiveDate,
    /// Per key, per day: requests counted and quota left.
    pub items: BTreeMap<String, Vec<(u64, Option<u64>)>>,
}

/// A stored key's digest with the key.
type Indexed = (KeyDigest, Arc<KeyEntry>);

/// Stored keys by id (for the admin API, in order) and by digest (for requests).
#[derive(Default)]
struct Indexes {
    by_id: RwLock<BTreeMap<Arc<str>, Indexed>>,
    by_digest: DashMap<KeyDigest, Arc<KeyEntry>>,
}

impl Indexes {
    fn insert(&self, digest: KeyDigest, entry: Arc<KeyEntry>) {
        self.by_digest.insert(digest, entry.clone());
        write(&self.by_id).insert(entry.id.clone(), (digest, entry));
    }

    fn remove(&self, id: &str) -> Option<Indexed> {
        let removed = write(&self.by_id).remove(id)?;
        self.by_digest.remove(&removed.0);
        Some(removed)
    }

    fn get(&self, id: &str) -> Option<Indexed> {
        read(&self.by_id).get(id).cloned()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// API keys, usage counts and per-key buckets of one gateway process.
pub struct KeyService {
    store: Mutex<Store>,
    keys: Indexes,
    /// Usage counts by key, plan and day.
    pub usage: UsageBook,
    /// Per-key token buckets of usage plans.
    pub buckets: KeyBuckets,
    plan_first_days: DashMap<Arc<str>, NaiveDate>,
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl KeyService {
    /// Open the state database in `dir` and load its keys and recent usage.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let store = Store::open(dir)?;
        let shown = store.path().display().to_string();
        let failed = |e: rusqlite::Error| format!("state database `{shown}`: {e}");
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A stored key by its value's digest (the request path).
    pub fn lookup(&self, digest: &KeyDigest) -> Option<Arc<KeyEntry>> {
        self.keys.by_digest.get(digest).map(|entry| entry.clone())
    }

    /// Record the plans of a (re)loaded config, so that each has the day it first appeared.
    pub fn register_plans(&self, config: &KeyConfig) -> Result<(), String> {
        let names: Vec<&str> = config.usage_plans.keys().map(String::as_str).collect();
        let days = self
            .lock()
            .plan_first_days(&names, today())
            .map_err(|e| format!("state database: {e}"))?;
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

    /// Every key, config keys first where ids tie, ordered by id; from after `position`, at most
    /// `limit`.
    pub fn list(&self, config: &KeyConfig, position: Option<&str>, limit: usize) -> Vec<KeyEntry> {
        let stored = read(&self.keys.by_id);
        let mut all: Vec<&KeyEntry> = config
            .config_keys
            .values()
            .map(|entry| &**entry)
            .chain(stored.values().map(|(_, entry)| &**entry))
            .filter(|entry| position.is_none_or(|after| &*entry.id > after))
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all.into_iter().take(limit).cloned().collect()
    }

    /// One key by id.
    pub fn get(&self, config: &KeyConfig, id: &str) -> Result<KeyEntry, AdminError> {
        if let Some(entry) = config_key(config, id) {
            return Ok(entry.clone());
        }
        self.keys
            .get(id)
            .map(|(_, entry)| (*entry).clone())
            .ok_or_else(|| not_found(id))
    }

    /// Create keys (one, or an import of many in one transaction); each comes back with its
    /// value, which is shown only now.
    pub fn create(
        &self,
        config: &KeyConfig,
        new_keys: Vec<NewKey>,
    ) -> Result<Vec<(KeyEntry, String)>, AdminError> {
        let mut keys = Vec::with_capacity(new_keys.len());
        let mut values = Vec::with_capacity(new_keys.len());
        let mut digests = std::collections::HashSet::new();
        for new in new_keys {
            let plans = check_plans(config, &new.plans)?;
            let name = check_name(&new.name)?;
            let value = chosen_or_new_value(new.value)?;
            let digest = secret::digest(&value);
            if !digests.insert(digest) || config.config_keys.contains_key(&digest) {
                return Err(duplicate_value());
            }
            let entry = KeyEntry {
                id: self.new_id(config)?.into(),
                name,
                description: new.description,
                enabled: new.enabled.unwrap_or(true),
                plans,
                source: KeySource::Admin,
                created_at: now_seconds(),
            };
            keys.push(StoredKey { entry, digest });
            values.push(value);
        }
        let mut store = self.lock();
        for key in &keys {
            if store.digest_exists(&key.digest)? {
                return Err(duplicate_value());
            }
        }
        store.insert_keys(&keys)?;
        for key in &keys {
            self.keys.insert(key.digest, Arc::new(key.entry.clone()));
        }
        drop(store);
        Ok(keys.into_iter().map(|key| key.entry).zip(values).collect())
    }

    fn new_id(&self, config: &KeyConfig) -> Result<String, AdminError> {
        loop {
            let id = secret::new_id().map_err(random_failed)?;
            if config_key(config, &id).is_none() && self.keys.get(&id).is_none() {
                return Ok(id);
            }
        }
    }

    /// Change a stored key.
    pub fn update(
        &self,
        config: &KeyConfig,
        id: &str,
        patch: KeyPatch,
    ) -> Result<KeyEntry, AdminError> {
        refuse_config_key(config, id)?;
        let plans = patch
            .plans
            .as_deref()
            .map(|plans| check_plans(config, plans))
            .transpose()?;
        let name = patch.name.as_deref().map(check_name).transpose()?;
        let mut store = self.lock();
        let (digest, current) = self.keys.get(id).ok_or_else(|| not_found(id))?;
        let mut entry = (*current).clone();
        if let Some(name) = name {
            entry.name = name;
        }
        if let Some(description) = patch.description {
            entry.description = Some(description);
        }
        if let Some(enabled) = patch.enabled {
            entry.enabled = enabled;
        }
        if let Some(plans) = plans {
            entry.plans = plans;
        }
        store.update_key(&entry)?;
        self.keys.insert(digest, Arc::new(entry.clone()));
        Ok(entry)
    }

    /// Give a stored key a new value (generated, or chosen); the old value stops working now.
    pub fn rotate(
        &self,
        config: &KeyConfig,
        id: &str,
        value: Option<String>,
    ) -> Result<(KeyEntry, String), AdminError> {
        refuse_config_key(config, id)?;
        let value = chosen_or_new_value(value)?;
        let digest = secret::digest(&value);
        if config.config_keys.contains_key(&digest) {
            return Err(duplicate_value());
        }
        let mut store = self.lock();
        let (_, entry) = self.keys.get(id).ok_or_else(|| not_found(id))?;
        if store.digest_exists(&digest)? {
            return Err(duplicate_value());
        }
        store.set_digest(id, &digest)?;
        self.keys.remove(id);
        self.keys.insert(digest, entry.clone());
        Ok(((*entry).clone(), value))
    }

    /// Delete a stored key; its usage history stays.
    pub fn delete(&self, config: &KeyConfig, id: &str) -> Result<(), AdminError> {
        refuse_config_key(config, id)?;
        let mut store = self.lock();
        if self.keys.get(id).is_none() {
            return Err(not_found(id));
        }
        store.delete_key(id)?;
        self.keys.remove(id);
        Ok(())
    }

    /// Write the usage counts changed since the last flush; how many day counts were written.
    pub fn flush(&self) -> Result<usize, String> {
        let rows = self.usage.take_dirty();
        if rows.is_empty() {
            return Ok(0);
        }
        let written = self.lock().write_usage(&rows);
        match written {
            Ok(()) => Ok(rows.len()),
            Err(e) => {
                self.usage.requeue(&rows);
                Err(format!("cannot write usage counts (kept for a retry): {e}"))
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

    /// A plan's usage report from `start` to `end`, of one key or all.
    pub fn report(
        &self,
        config: &KeyConfig,
        plan_name: &str,
        key: Option<&str>,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<UsageReport, AdminError> {
        let plan = config
            .usage_plans
            .get(plan_name)
            .ok_or_else(|| AdminError::NotFound(format!("no usage plan `{plan_name}`")))?;
        if end < start {
            return Err(AdminError::BadRequest("`end` is before `start`".into()));
        }
        let days = (end - start).num_days() as u64 + 1;
        if days > MAX_REPORT_DAYS {
            return Err(AdminError::BadRequest(format!(
                "a report covers at most {MAX_REPORT_DAYS} days"
            )));
        }
        self.flush().map_err(AdminError::Internal)?;
        let quota = plan.quota.map(|quota| self.quota_rule(plan_name, quota));
        let from = quota.map_or(start, |rule| period_start(rule.quota.period, start));
        let rows = self.lock().usage(Some(plan_name), key, from, end)?;
        let mut by_key: BTreeMap<String, BTreeMap<NaiveDate, u64>> = BTreeMap::new();
        for row in rows {
            by_key
                .entry(row.key_id.to_string())
                .or_default()
                .insert(row.day, row.count);
        }
        let items = by_key
            .into_iter()
            .map(|(key, counts)| (key, daily(&counts, quota.as_ref(), start, days)))
            .collect();
        Ok(UsageReport {
            plan: plan_name.to_string(),
            start,
            end,
            items,
        })
    }
}

/// `[used, remaining]` for each of `days` days from `start`.
fn daily(
    counts: &BTreeMap<NaiveDate, u64>,
    quota: Option<&QuotaRule>,
    start: NaiveDate,
    days: u64,
) -> Vec<(u64, Option<u64>)> {
    (0..days)
        .filter_map(|offset| start.checked_add_days(Days::new(offset)))
        .map(|day| {
            let used = counts.get(&day).copied().unwrap_or(0);
            let remaining = quota.map(|rule| {
                let since = period_start(rule.quota.period, day);
                let period_used: u64 = counts.range(since..=day).map(|(_, c)| c).sum();
                rule.limit_on(day).saturating_sub(period_used)
            });
            (used, remaining)
        })
        .collect()
}

fn config_key<'a>(config: &'a KeyConfig, id: &str) -> Option<&'a KeyEntry> {
    config
        .config_keys
        .values()
        .find(|entry| &*entry.id == id)
        .map(|entry| &**entry)
}

fn refuse_config_key(config: &KeyConfig, id: &str) -> Result<(), AdminError> {
    match config_key(config, id) {
        Some(_) => Err(AdminError::Conflict(format!(
            "key `{id}` is declared in the config file ([api_keys.{id}]); change it there"
        ))),
        None => Ok(()),
    }
}

fn check_plans(config: &KeyConfig, plans: &[String]) -> Result<Vec<Arc<str>>, AdminError> {
    let mut checked: Vec<Arc<str>> = Vec::with_capacity(plans.len());
    for plan in plans {
        if !config.usage_plans.contains_key(plan) {
            return Err(AdminError::BadRequest(format!(
                "no usage plan `{plan}` (declare it under [usage_plans.{plan}])"
            )));
        }
        if !checked.iter().any(|p| **p == **plan) {
            checked.push(plan.as_str().into());
        }
    }
    Ok(checked)
}

/// A chosen value, checked, or a newly generated one.
fn chosen_or_new_value(value: Option<String>) -> Result<String, AdminError> {
    match value {
        Some(value) => {
            secret::check_value(&value).map_err(AdminError::BadRequest)?;
            Ok(value)
        }
        None => secret::new_value().map_err(random_failed),
    }
}

fn check_name(name: &str) -> Result<String, AdminError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 128 {
        return Err(AdminError::BadRequest(
            "a key needs a `name` of 1 to 128 characters".into(),
        ));
    }
    Ok(name.to_string())
}

fn not_found(id: &str) -> AdminError {
    AdminError::NotFound(format!("no API key `{id}`"))
}

fn duplicate_value() -> AdminError {
    AdminError::Conflict("another API key has this value".into())
}

fn random_failed(e: getrandom::Error) -> AdminError {
    AdminError::Internal(format!("no random numbers from the OS: {e}"))
}
