//! The per-plugin key/value store behind the `kv` import: a concurrent map with optional
//! expiry and a bound on its size.

use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Most keys one plugin may hold; further `set`s of new keys are dropped (and logged).
pub const MAX_KEYS: usize = 100_000;

/// One plugin's store, shared by all its instances.
#[derive(Debug, Default)]
pub struct KvStore {
    entries: DashMap<String, Entry>,
}

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

fn expiry(ttl_ms: Option<u64>) -> Option<Instant> {
    ttl_ms.map(|ms| Instant::now() + Duration::from_millis(ms))
}

impl KvStore {
    /// The live value under `key`.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let entry = self.entries.get(key)?;
        entry.live(Instant::now()).then(|| entry.value.clone())
    }

    /// Store `value`; `false` when the store is full.
    pub fn set(&self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> bool {
        if !self.has_room_for(&key) {
            return false;
        }
        let expires = expiry(ttl_ms);
        self.entries.insert(key, Entry { value, expires });
        true
    }

    /// Remove `key`; whether a live value was there.
    pub fn delete(&self, key: &str) -> bool {
        let now = Instant::now();
        self.entries
            .remove(key)
            .is_some_and(|(_, entry)| entry.live(now))
    }

    /// Add `delta` to the counter under `key`; `None` when the store is full.
    pub fn increment(&self, key: String, delta: i64, ttl_ms: Option<u64>) -> Option<i64> {
        if !self.has_room_for(&key) {
            return None;
        }
        let now = Instant::now();
        let mut entry = self.entries.entry(key).or_insert_with(|| Entry {
            value: 0i64.to_le_bytes().to_vec(),
            expires: expiry(ttl_ms),
        });
        if !entry.live(now) {
            *entry = Entry {
                value: 0i64.to_le_bytes().to_vec(),
                expires: expiry(ttl_ms),
            };
        }
        let current = <[u8; 8]>::try_from(entry.value.as_slice()).map_or(0, i64::from_le_bytes);
        let next = current.saturating_add(delta);
        entry.value = next.to_le_bytes().to_vec();
        Some(next)
    }

    fn has_room_for(&self, key: &str) -> bool {
        if self.entries.len() < MAX_KEYS || self.entries.contains_key(key) {
            return true;
        }
        let now = Instant::now();
        self.entries.retain(|_, entry| entry.live(now));
        self.entries.len() < MAX_KEYS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_expire_and_counters_count() {
        let kv = KvStore::default();
        assert!(kv.set("a".into(), b"1".to_vec(), Some(30)));
        assert_eq!(kv.get("a"), Some(b"1".to_vec()));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(kv.get("a"), None);
        assert_eq!(kv.increment("n".into(), 2, None), Some(2));
        assert_eq!(kv.increment("n".into(), -5, None), Some(-3));
        assert!(kv.delete("n"));
        assert!(!kv.delete("n"));
    }
}
