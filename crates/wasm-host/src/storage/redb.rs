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
