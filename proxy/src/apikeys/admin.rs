//! What the admin API does with keys: list, read, create (one or an import), update, rotate
//! and delete. Every change is written to the state database first (durable when the call
//! returns), then to the in-memory indexes, under one lock.

use std::sync::Arc;

use super::secret::{self};
use super::service::{now_seconds, read, KeyService};
use super::store::StoredKey;
use super::{KeyConfig, KeyEntry, KeySource};

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

impl KeyService {
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
            secret::check_value(&value).map_err(|e| AdminError::BadRequest(e.to_string()))?;
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
