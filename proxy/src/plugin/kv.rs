//! The per-plugin key/value store behind the `kv` import: a concurrent map with optional
//! expiry and bounds on its keys, values and total size.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Most keys one plugin may hold; further `set`s of new keys are dropped (and logged).
pub const MAX_KEYS: usize = 100_000;
/// Longest key.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Most bytes of keys and values one plugin may hold.
pub const MAX_TOTAL_BYTES: usize = 64 << 20;

/// One plugin's store, shared by all its instances.
#[derive(Debug, Default)]
pub struct KvStore {
    entries: DashMap<String, Entry>,
    /// Bytes of keys and values held.
    bytes: AtomicUsize,
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

    /// Store `value`; `false` when the key or value is too long or the store is full.
    pub fn set(&self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> bool {
        let key_len = key.len();
        let size = key_len + value.len();
        if key_len > MAX_KEY_BYTES
            || value.len() > MAX_VALUE_BYTES
            || !self.has_room_for(&key, size)
        {
            return false;
        }
        let expires = expiry(ttl_ms);
        self.bytes.fetch_add(size, Ordering::Relaxed);
        if let Some(old) = self.entries.insert(key, Entry { value, expires }) {
            self.bytes
                .fetch_sub(key_len + old.value.len(), Ordering::Relaxed);
        }
        true
    }

    /// Remove `key`; whether a live value was there.
    pub fn delete(&self, key: &str) -> bool {
        let now = Instant::now();
        self.entries.remove(key).is_some_and(|(key, entry)| {
            self.bytes
                .fetch_sub(key.len() + entry.value.len(), Ordering::Relaxed);
            entry.live(now)
        })
    }

    /// Add `delta` to the counter under `key`; `None` when the store is full.
    pub fn increment(&self, key: String, delta: i64, ttl_ms: Option<u64>) -> Option<i64> {
        let size = key.len() + 8;
        if key.len() > MAX_KEY_BYTES || !self.has_room_for(&key, size) {
            return None;
        }
        let now = Instant::now();
        let mut entry = self.entries.entry(key).or_insert_with(|| {
            self.bytes.fetch_add(size, Ordering::Relaxed);
            Entry {
                value: 0i64.to_le_bytes().to_vec(),
                expires: expiry(ttl_ms),
            }
        });
        if entry.value.len() != 8 {
            // A value `set` before under this key becomes the counter's 8 bytes.
            self.bytes.fetch_sub(entry.value.len(), Ordering::Relaxed);
            self.bytes.fetch_add(8, Ordering::Relaxed);
        }
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

    /// Whether `size` more bytes under `key` fit (expired entries are dropped to make room).
    fn has_room_for(&self, key: &str, size: usize) -> bool {
        let fits = || {
            (self.entries.len() < MAX_KEYS || self.entries.contains_key(key))
                && self.bytes.load(Ordering::Relaxed) + size <= MAX_TOTAL_BYTES
        };
        if fits() {
            return true;
        }
        let now = Instant::now();
        self.entries.retain(|key, entry| {
            let live = entry.live(now);
            if !live {
                self.bytes
                    .fetch_sub(key.len() + entry.value.len(), Ordering::Relaxed);
            }
            live
        });
        fits()
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

    #[test]
    fn keys_values_and_total_bytes_are_bounded() {
        let kv = KvStore::default();
        assert!(!kv.set("k".repeat(MAX_KEY_BYTES + 1), Vec::new(), None));
        assert!(!kv.set("big".into(), vec![0; MAX_VALUE_BYTES + 1], None));
        let fill = MAX_TOTAL_BYTES / MAX_VALUE_BYTES;
        let stored = (0..fill + 2)
            .filter(|i| kv.set(format!("k{i}"), vec![0; MAX_VALUE_BYTES], None))
            .count();
        assert!(stored < fill, "{stored} values of 1 MiB stored");
        assert!(kv.bytes.load(Ordering::Relaxed) <= MAX_TOTAL_BYTES);
        // Replacing and deleting give the bytes back.
        assert!(kv.set("k0".into(), b"small".to_vec(), None));
        assert!(kv.delete("k1"));
        assert!(kv.set("again".into(), vec![0; MAX_VALUE_BYTES], None));
        assert_eq!(kv.get("k0"), Some(b"small".to_vec()));
    }
}
