//! Persistent component storage in an embedded, crash-safe redb database.
//!
//! One table holds every entry under the key `(namespace, key)`, where the namespace is the
//! component's id; a second table keeps each namespace's usage (bytes, keys), updated in the
//! same write transaction as the entry, so usage and data never disagree, even after a crash.
//! Every commit is durable (redb's default, `Durability::Immediate`).

use std::path::{Path, PathBuf};

use parking_lot::RwLock;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use wasm_core::storage::{check_quota, entry_size, validate_key};
use wasm_core::{ComponentId, StorageBackend, StorageError, StorageQuota, StorageUsage};

use crate::error::{Error, Result};

/// Entries: `(namespace, key)` to value.
const ENTRIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entries");
/// Usage per namespace: `(bytes, keys)`.
const USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("usage");

/// Component storage in a redb database file; data survives restarts of the host.
///
/// Opening the file takes redb's lock on it: one `RedbStorage` per file at a time.
/// [`RedbStorage::close`] releases it (the host calls it on shutdown).
///
/// # Examples
///
/// ```
/// use wasm_host::{ComponentId, RedbStorage, StorageBackend, StorageQuota};
///
/// let dir = std::env::temp_dir().join(format!("redb-doc-{}", std::process::id()));
/// let path = dir.join("store.redb");
/// let id: ComponentId = "demo/counter/1".parse()?;
/// let store = RedbStorage::open(&path)?;
/// store.set(&id, "count", b"41", &StorageQuota::default())?;
/// store.close()?;
///
/// let reopened = RedbStorage::open(&path)?;
/// assert_eq!(reopened.get(&id, "count")?, Some(b"41".to_vec()));
/// reopened.close()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RedbStorage {
    path: PathBuf,
    db: RwLock<Option<Database>>,
}

fn io(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::IoError(format!("{what}: {e}"))
}

impl RedbStorage {
    /// Opens the database at `path`, creating it (and its directory) if needed.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] if the directory cannot be created or the file cannot be opened
    /// (another process or host has it open, it is not a redb database, it is corrupt beyond
    /// repair).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        let fail =
            |detail: &str, source: Box<dyn std::error::Error + Send + Sync>| Error::Storage {
                path: path.clone(),
                detail: detail.to_owned(),
                source: Some(source),
            };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| fail("cannot create its directory", Box::new(e)))?;
        }
        let db = Database::create(&path).map_err(|e| fail("cannot open", Box::new(e)))?;
        // Create both tables once, so readers never meet a missing table.
        let txn = db
            .begin_write()
            .map_err(|e| fail("cannot initialise", Box::new(e)))?;
        txn.open_table(ENTRIES)
            .map_err(|e| fail("cannot initialise", Box::new(e)))?;
        txn.open_table(USAGE)
            .map_err(|e| fail("cannot initialise", Box::new(e)))?;
        txn.commit()
            .map_err(|e| fail("cannot initialise", Box::new(e)))?;
        Ok(Self {
            path,
            db: RwLock::new(Some(db)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether [`RedbStorage::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.db.read().is_none()
    }

    /// Closes the database: every committed write is already on disk; this releases the file
    /// so another `RedbStorage` (or process) can open it. Later calls fail with an I/O
    /// storage error. Idempotent.
    ///
    /// # Errors
    ///
    /// None today; reserved for a backend whose close can fail.
    pub fn close(&self) -> Result<()> {
        drop(self.db.write().take());
        Ok(())
    }

    fn with_db<T>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        match self.db.read().as_ref() {
            Some(db) => f(db),
            None => Err(StorageError::IoError(format!(
                "storage {} is closed",
                self.path.display()
            ))),
        }
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        self.with_db(|db| {
            let txn = db.begin_read().map_err(|e| io("read transaction", e))?;
            f(&txn)
        })
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        self.with_db(|db| {
            let txn = db.begin_write().map_err(|e| io("write transaction", e))?;
            match f(&txn) {
                Ok(value) => {
                    txn.commit().map_err(|e| io("commit", e))?;
                    Ok(value)
                }
                Err(e) => {
                    // Nothing of a refused write is kept.
                    let _ = txn.abort();
                    Err(e)
                }
            }
        })
    }
}

impl StorageBackend for RedbStorage {
    fn get(&self, namespace: &ComponentId, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        validate_key(key)?;
        let ns = namespace.to_string();
        self.read(|txn| {
            let table = txn.open_table(ENTRIES).map_err(|e| io("open entries", e))?;
            let value = table.get((ns.as_str(), key)).map_err(|e| io("get", e))?;
            Ok(value.map(|v| v.value().to_vec()))
        })
    }

    fn set(
        &self,
        namespace: &ComponentId,
        key: &str,
        value: &[u8],
        quota: &StorageQuota,
    ) -> Result<(), StorageError> {
        validate_key(key)?;
        let ns = namespace.to_string();
        self.write(|txn| {
            let mut entries = txn.open_table(ENTRIES).map_err(|e| io("open entries", e))?;
            let mut usage = txn.open_table(USAGE).map_err(|e| io("open usage", e))?;
            let (bytes, keys) = usage
                .get(ns.as_str())
                .map_err(|e| io("read usage", e))?
                .map_or((0, 0), |v| v.value());
            let old = entries
                .get((ns.as_str(), key))
                .map_err(|e| io("get", e))?
                .map(|v| entry_size(key, v.value()));
            let before = StorageUsage {
                used_bytes: bytes,
                quota_bytes: quota.max_bytes,
                key_count: keys,
            };
            let new = entry_size(key, value);
            check_quota(&before, quota, old, new)?;
            entries
                .insert((ns.as_str(), key), value)
                .map_err(|e| io("insert", e))?;
            let bytes = bytes.saturating_sub(old.unwrap_or(0)).saturating_add(new);
            let keys = keys + u64::from(old.is_none());
            usage
                .insert(ns.as_str(), (bytes, keys))
                .map_err(|e| io("write usage", e))?;
            Ok(())
        })
    }

    fn delete(&self, namespace: &ComponentId, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        let ns = namespace.to_string();
        self.write(|txn| {
            let mut entries = txn.open_table(ENTRIES).map_err(|e| io("open entries", e))?;
            let removed = entries
                .remove((ns.as_str(), key))
                .map_err(|e| io("remove", e))?
                .map(|v| entry_size(key, v.value()));
            let Some(size) = removed else {
                return Ok(());
            };
            let mut usage = txn.open_table(USAGE).map_err(|e| io("open usage", e))?;
            let (bytes, keys) = usage
                .get(ns.as_str())
                .map_err(|e| io("read usage", e))?
                .map_or((0, 0), |v| v.value());
            let (bytes, keys) = (bytes.saturating_sub(size), keys.saturating_sub(1));
            if keys == 0 {
                usage
                    .remove(ns.as_str())
                    .map_err(|e| io("write usage", e))?;
            } else {
                usage
                    .insert(ns.as_str(), (bytes, keys))
                    .map_err(|e| io("write usage", e))?;
            }
            Ok(())
        })
    }

    fn exists(&self, namespace: &ComponentId, key: &str) -> Result<bool, StorageError> {
        Ok(self.get(namespace, key)?.is_some())
    }

    fn list_keys(
        &self,
        namespace: &ComponentId,
        prefix: Option<&str>,
    ) -> Result<Vec<String>, StorageError> {
        let ns = namespace.to_string();
        let prefix = prefix.unwrap_or("");
        self.read(|txn| {
            let table = txn.open_table(ENTRIES).map_err(|e| io("open entries", e))?;
            let range = table
                .range((ns.as_str(), prefix)..)
                .map_err(|e| io("list", e))?;
            let mut keys = Vec::new();
            for item in range {
                let (k, _) = item.map_err(|e| io("list", e))?;
                let (entry_ns, key) = k.value();
                if entry_ns != ns || !key.starts_with(prefix) {
                    break;
                }
                keys.push(key.to_owned());
            }
            Ok(keys)
        })
    }

    fn usage(
        &self,
        namespace: &ComponentId,
        quota: &StorageQuota,
    ) -> Result<StorageUsage, StorageError> {
        let ns = namespace.to_string();
        self.read(|txn| {
            let table = txn.open_table(USAGE).map_err(|e| io("open usage", e))?;
            let (used_bytes, key_count) = table
                .get(ns.as_str())
                .map_err(|e| io("read usage", e))?
                .map_or((0, 0), |v| v.value());
            Ok(StorageUsage {
                used_bytes,
                quota_bytes: quota.max_bytes,
                key_count,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn id(text: &str) -> ComponentId {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn quota(max_bytes: u64, max_keys: u64) -> StorageQuota {
        StorageQuota {
            max_bytes,
            max_keys,
        }
    }

    #[test]
    fn data_and_usage_survive_reopening() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("nested/store.redb");
        let a = id("t/a/1");
        let q = StorageQuota::default();
        let store = RedbStorage::open(&path)?;
        store.set(&a, "k1", b"one", &q)?;
        store.set(&a, "k2", b"two", &q)?;
        store.close()?;
        assert!(store.is_closed());
        assert!(
            matches!(store.get(&a, "k1"), Err(StorageError::IoError(m)) if m.contains("closed"))
        );

        let store = RedbStorage::open(&path)?;
        assert_eq!(store.get(&a, "k1")?, Some(b"one".to_vec()));
        assert_eq!(store.list_keys(&a, None)?, vec!["k1", "k2"]);
        let usage = store.usage(&a, &q)?;
        assert_eq!((usage.used_bytes, usage.key_count), (10, 2));
        Ok(())
    }

    #[test]
    fn a_second_open_of_the_same_file_is_refused_until_closed() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("s.redb");
        let first = RedbStorage::open(&path)?;
        let err = RedbStorage::open(&path)
            .err()
            .ok_or("second open succeeded")?;
        assert!(err.to_string().contains("s.redb"), "{err}");
        first.close()?;
        RedbStorage::open(&path)?.close()?;
        Ok(())
    }

    #[test]
    fn usage_follows_overwrites_and_deletes() -> TestResult {
        let dir = tempfile::tempdir()?;
        let store = RedbStorage::open(dir.path().join("u.redb"))?;
        let a = id("t/a/1");
        let q = StorageQuota::default();
        store.set(&a, "key", b"12345", &q)?; // 8
        store.set(&a, "key", b"12", &q)?; // replaced: 5
        store.set(&a, "other", b"x", &q)?; // +6
        let u = store.usage(&a, &q)?;
        assert_eq!(
            (u.used_bytes, u.key_count, u.quota_bytes),
            (11, 2, q.max_bytes)
        );
        store.delete(&a, "key")?;
        store.delete(&a, "absent")?;
        let u = store.usage(&a, &q)?;
        assert_eq!((u.used_bytes, u.key_count), (6, 1));
        store.delete(&a, "other")?;
        assert_eq!(
            store.usage(&a, &q)?,
            StorageUsage {
                quota_bytes: q.max_bytes,
                ..Default::default()
            }
        );
        assert!(!store.exists(&a, "other")?);
        Ok(())
    }

    #[test]
    fn quotas_refuse_without_writing() -> TestResult {
        let dir = tempfile::tempdir()?;
        let store = RedbStorage::open(dir.path().join("q.redb"))?;
        let a = id("t/a/1");
        let q = quota(10, 2);
        store.set(&a, "k1", b"12345678", &q)?;
        assert_eq!(
            store.set(&a, "k2", b"1", &q),
            Err(StorageError::QuotaExceeded)
        );
        assert_eq!(store.get(&a, "k2")?, None);
        assert_eq!(store.usage(&a, &q)?.used_bytes, 10);
        store.set(&a, "k1", b"abcdefgh", &q)?;
        let small = quota(100, 1);
        let b = id("t/b/1");
        store.set(&b, "only", b"", &small)?;
        assert_eq!(
            store.set(&b, "second", b"", &small),
            Err(StorageError::QuotaExceeded)
        );
        assert_eq!(store.list_keys(&b, None)?, vec!["only"]);
        Ok(())
    }

    #[test]
    fn namespaces_are_isolated_and_prefixes_stay_inside_one() -> TestResult {
        let dir = tempfile::tempdir()?;
        let store = RedbStorage::open(dir.path().join("n.redb"))?;
        let q = StorageQuota::default();
        // `t/a/1` and `t/a/10` share a textual prefix: listings must not mix them.
        let (a, a10, b) = (id("t/a/1"), id("t/a/10"), id("t/b/1"));
        store.set(&a, "user/1", b"x", &q)?;
        store.set(&a, "user/2", b"y", &q)?;
        store.set(&a, "zeta", b"z", &q)?;
        store.set(&a10, "user/9", b"w", &q)?;
        assert_eq!(
            store.list_keys(&a, Some("user/"))?,
            vec!["user/1", "user/2"]
        );
        assert_eq!(store.list_keys(&a, None)?, vec!["user/1", "user/2", "zeta"]);
        assert_eq!(store.list_keys(&a10, None)?, vec!["user/9"]);
        assert!(store.list_keys(&b, None)?.is_empty());
        assert_eq!(store.get(&b, "user/1")?, None);
        assert_eq!(store.usage(&b, &q)?.key_count, 0);
        Ok(())
    }

    #[test]
    fn keys_are_validated() -> TestResult {
        let dir = tempfile::tempdir()?;
        let store = RedbStorage::open(dir.path().join("k.redb"))?;
        let a = id("t/a/1");
        let q = StorageQuota::default();
        for bad in [String::new(), "k".repeat(1025), "a\nb".to_owned()] {
            assert!(matches!(
                store.set(&a, &bad, b"v", &q),
                Err(StorageError::InvalidKey(_))
            ));
            assert!(matches!(
                store.get(&a, &bad),
                Err(StorageError::InvalidKey(_))
            ));
            assert!(matches!(
                store.delete(&a, &bad),
                Err(StorageError::InvalidKey(_))
            ));
        }
        assert!(store.list_keys(&a, None)?.is_empty());
        Ok(())
    }
}
