//! The state database: one SQLite file (`<state_dir>/state.db`) holding stored API keys (by
//! digest), their plans, per-day usage counts and the day each plan was first seen. Opened in
//! exclusive locking mode, so a second gateway on the same directory is refused at startup;
//! checked with `quick_check`, so a damaged file stops the start instead of being reset. Every
//! write commits with `synchronous = FULL`: durable when the call returns.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::secret::KeyDigest;
use super::state_error::StateError;
use super::{KeyEntry, KeySource};

/// The file name inside the state directory.
pub const FILE_NAME: &str = "state.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT,
    digest      BLOB NOT NULL UNIQUE,
    enabled     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS key_plans (
    key_id TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    plan   TEXT NOT NULL,
    PRIMARY KEY (key_id, plan)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage (
    plan   TEXT NOT NULL,
    key_id TEXT NOT NULL,
    day    TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (plan, key_id, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plans (
    name      TEXT PRIMARY KEY,
    first_day TEXT NOT NULL
) WITHOUT ROWID;
";

/// One day's count of one key in one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// The key's id.
    pub key_id: Arc<str>,
    /// The plan's name.
    pub plan: Arc<str>,
    /// The UTC day.
    pub day: NaiveDate,
    /// Requests counted that day.
    pub count: u64,
}

/// A stored key with its digest.
pub struct StoredKey {
    /// The key.
    pub entry: KeyEntry,
    /// Its value's digest.
    pub digest: KeyDigest,
}

/// The open state database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Open (creating if needed) the database in `dir`, taking its lock and checking it.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        std::fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let explain = |e: rusqlite::Error| StateError::from_sqlite(path.clone(), e);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(explain)?;
        conn.busy_timeout(Duration::from_millis(100))
            .map_err(explain)?;
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(explain)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(explain)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StateError::NoWal { path });
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(explain)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(explain)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(explain)?;
        if check != "ok" {
            return Err(StateError::Damaged {
                path,
                detail: check,
            });
        }
        conn.execute_batch(SCHEMA).map_err(explain)?;
        Ok(Self { conn, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every stored key.
    pub fn keys(&self) -> rusqlite::Result<Vec<StoredKey>> {
        let mut plans: std::collections::HashMap<String, Vec<Arc<str>>> = Default::default();
        let mut stmt = self
            .conn
            .prepare("SELECT key_id, plan FROM key_plans ORDER BY key_id, plan")?;
        let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?)))?;
        for row in rows {
            let (key, plan): (String, String) = row?;
            plans.entry(key).or_default().push(plan.into());
        }
        let mut stmt = self.conn.prepare(
            "SELECT id, name, description, digest, enabled, created_at FROM api_keys ORDER BY id",
        )?;
        let rows = stmt.query_map([], |row| {
            let id: String = row.get(0)?;
            Ok(StoredKey {
                entry: KeyEntry {
                    plans: plans.remove(&id).unwrap_or_default(),
                    id: id.into(),
                    name: row.get(1)?,
                    description: row.get(2)?,
                    enabled: row.get(4)?,
                    source: KeySource::Admin,
                    created_at: row.get(5)?,
                },
                digest: row.get(3)?,
            })
        })?;
        rows.collect()
    }

    /// Store new keys with their plans, in one transaction.
    pub fn insert_keys(&mut self, keys: &[StoredKey]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO api_keys (id, name, description, digest, enabled, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for key in keys {
                let e = &key.entry;
                stmt.execute(params![
                    &*e.id,
                    e.name,
                    e.description,
                    &key.digest[..],
                    e.enabled,
                    e.created_at
                ])?;
                insert_plans(&tx, &e.id, &e.plans)?;
            }
        }
        tx.commit()
    }

    /// Replace a key's settings and plans.
    pub fn update_key(&mut self, entry: &KeyEntry) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE api_keys SET name = ?2, description = ?3, enabled = ?4 WHERE id = ?1",
            params![&*entry.id, entry.name, entry.description, entry.enabled],
        )?;
        tx.execute(
            "DELETE FROM key_plans WHERE key_id = ?1",
            params![&*entry.id],
        )?;
        insert_plans(&tx, &entry.id, &entry.plans)?;
        tx.commit()
    }

    /// Give a key a new value.
    pub fn set_digest(&mut self, id: &str, digest: &KeyDigest) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE api_keys SET digest = ?2 WHERE id = ?1",
            params![id, &digest[..]],
        )?;
        Ok(())
    }

    /// Delete a key and its plan memberships; its usage history stays for reports.
    pub fn delete_key(&mut self, id: &str) -> rusqlite::Result<()> {
        self.conn
            .execute("DELETE FROM api_keys WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// Whether a stored key has this digest.
    pub fn digest_exists(&self, digest: &KeyDigest) -> rusqlite::Result<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM api_keys WHERE digest = ?1",
                params![&digest[..]],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
    }

    /// Write usage counts (absolute per day, so writing one twice is harmless).
    pub fn write_usage(&mut self, rows: &[UsageRow]) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO usage (plan, key_id, day, count) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (plan, key_id, day) DO UPDATE SET count = excluded.count",
            )?;
            for row in rows {
                stmt.execute(params![
                    &*row.plan,
                    &*row.key_id,
                    row.day.to_string(),
                    row.count
                ])?;
            }
        }
        tx.commit()
    }

    /// Usage counts from `start` to `end` (inclusive), optionally of one plan and one key.
    pub fn usage(
        &self,
        plan: Option<&str>,
        key: Option<&str>,
        start: NaiveDate,
        end: NaiveDate,
    ) -> rusqlite::Result<Vec<UsageRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT plan, key_id, day, count FROM usage
             WHERE day >= ?1 AND day <= ?2 AND (?3 IS NULL OR plan = ?3)
               AND (?4 IS NULL OR key_id = ?4)
             ORDER BY plan, key_id, day",
        )?;
        let rows = stmt.query_map(
            params![start.to_string(), end.to_string(), plan, key],
            |row| {
                let day: String = row.get(2)?;
                Ok(UsageRow {
                    plan: row.get::<_, String>(0)?.into(),
                    key_id: row.get::<_, String>(1)?.into(),
                    day: day.parse().map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            2,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })?,
                    count: row.get(3)?,
                })
            },
        )?;
        rows.collect()
    }

    /// The day each plan was first seen, recording `today` for plans new to the database.
    pub fn plan_first_days(
        &mut self,
        plans: &[&str],
        today: NaiveDate,
    ) -> rusqlite::Result<Vec<NaiveDate>> {
        let tx = self.conn.transaction()?;
        let mut days = Vec::with_capacity(plans.len());
        for plan in plans {
            tx.execute(
                "INSERT OR IGNORE INTO plans (name, first_day) VALUES (?1, ?2)",
                params![plan, today.to_string()],
            )?;
            let day: String = tx.query_row(
                "SELECT first_day FROM plans WHERE name = ?1",
                params![plan],
                |row| row.get(0),
            )?;
            days.push(day.parse().unwrap_or(today));
        }
        tx.commit()?;
        Ok(days)
    }
}

fn insert_plans(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    plans: &[Arc<str>],
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached("INSERT INTO key_plans (key_id, plan) VALUES (?1, ?2)")?;
    for plan in plans {
        stmt.execute(params![id, &**plan])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> KeyEntry {
        KeyEntry {
            id: id.into(),
            name: format!("{id} name"),
            description: None,
            enabled: true,
            plans: vec!["gold".into()],
            source: KeySource::Admin,
            created_at: 1,
        }
    }

    #[test]
    fn keys_and_usage_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let day: NaiveDate = "2026-11-22".parse().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            let key = StoredKey {
                entry: entry("k1"),
                digest: [7; 32],
            };
            store.insert_keys(&[key]).unwrap();
            let row = UsageRow {
                key_id: "k1".into(),
                plan: "gold".into(),
                day,
                count: 5,
            };
            store.write_usage(std::slice::from_ref(&row)).unwrap();
            store.write_usage(&[UsageRow { count: 9, ..row }]).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let keys = store.keys().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].entry, entry("k1"));
        assert_eq!(keys[0].digest, [7; 32]);
        let usage = store.usage(Some("gold"), None, day, day).unwrap();
        assert_eq!(usage.len(), 1);
        assert_eq!(usage[0].count, 9);
    }

    #[test]
    fn a_second_opener_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let error = Store::open(dir.path()).err().unwrap().to_string();
        assert!(error.contains("locked by another process"), "{error}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, vec![b'x'; 8192]).unwrap();
        let error = Store::open(dir.path()).err().unwrap().to_string();
        assert!(error.contains("damaged or not a database"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), vec![b'x'; 8192]);
    }
}
