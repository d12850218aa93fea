//! Persistent component storage in an embedded, crash-safe redb database, with group commit.
//!
//! One table holds every entry under the key `(namespace, key)`, where the namespace is the
//! component's id; a second table keeps each namespace's usage (bytes, keys), updated in the
//! same write transaction as the entries, so usage and data never disagree, even after a crash.
//!
//! Commits run on a writer thread of their own, never on the caller's: each call's writes
//! arrive as one [`WriteSet`], and the writer takes every write set queued while it was busy
//! and commits them in one durable redb write transaction (`Durability::Immediate`, redb's
//! default), then answers each caller. Under load that is one disk flush for many calls;
//! alone, a commit costs what it did before. Reads open their own read transactions and never
//! wait for the writer (redb readers see the last committed state).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use parking_lot::{Mutex, RwLock};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use tokio::sync::oneshot;
use wasm_core::storage::{entry_size, validate_key};
use wasm_core::{
    CommitFuture, ComponentId, StorageBackend, StorageError, StorageQuota, StorageUsage, WriteSet,
};

use crate::error::{Error, Result};

/// Entries: `(namespace, key)` to value.
const ENTRIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entries");
/// Usage per namespace: `(bytes, keys)`.
const USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("usage");

/// How [`RedbStorage`] commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedbOptions {
    /// The most write sets the writer commits in one transaction. `1` turns group commit
    /// off: one durable commit per call (the baseline the storage benchmark compares with).
    pub max_batch: usize,
}

impl Default for RedbOptions {
    /// Up to 1024 calls' writes per commit.
    fn default() -> Self {
        Self { max_batch: 1024 }
    }
}

/// Component storage in a redb database file; data survives restarts of the host.
///
/// Opening the file takes redb's lock on it: one `RedbStorage` per file at a time.
/// [`RedbStorage::close`] releases it (the host calls it on shutdown).
///
/// # Examples
///
/// ```
/// use wasm_host::{ComponentId, RedbStorage, StorageBackend, StorageQuota, StorageTxn};
///
/// let dir = std::env::temp_dir().join(format!("redb-doc-{}", std::process::id()));
/// let path = dir.join("store.redb");
/// let id: ComponentId = "demo/counter/1".parse()?;
/// let store = RedbStorage::open(&path)?;
/// let mut txn = StorageTxn::new(id.clone());
/// txn.set(&store, "count", b"41", &StorageQuota::default())?;
/// store.write_now(&txn.into_writes())?;
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
    db: Arc<Db>,
    /// The writer's queue and thread; `None` once closed.
    writer: Mutex<Option<Writer>>,
}

/// The database, shared by readers and the writer thread.
#[derive(Debug)]
struct Db {
    path: PathBuf,
    db: RwLock<Option<Database>>,
    /// Durable write transactions the writer committed.
    transactions: AtomicU64,
    /// Calls' write sets those transactions carried.
    write_sets: AtomicU64,
}

/// What the writer has committed so far (see [`RedbStorage::commit_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitStats {
    /// Durable redb write transactions.
    pub transactions: u64,
    /// Calls' write sets committed in them: `write_sets / transactions` is the mean batch.
    pub write_sets: u64,
}

#[derive(Debug)]
struct Writer {
    queue: mpsc::Sender<Job>,
    thread: JoinHandle<()>,
}

/// One call's writes and who waits for their commit.
struct Job {
    writes: WriteSet,
    done: oneshot::Sender<Result<(), StorageError>>,
}

fn io(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::IoError(format!("{what}: {e}"))
}

impl RedbStorage {
    /// Opens the database at `path`, creating it (and its directory) if needed, with the
    /// default [`RedbOptions`].
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] if the directory cannot be created or the file cannot be opened
    /// (another process or host has it open, it is not a redb database, it is corrupt beyond
    /// repair), or the writer thread cannot be started.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, RedbOptions::default())
    }

    /// Opens the database at `path` with `options`.
    ///
    /// # Errors
    ///
    /// As [`RedbStorage::open`].
    pub fn open_with(path: impl AsRef<Path>, options: RedbOptions) -> Result<Self> {
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
        let db = Arc::new(Db {
            path: path.clone(),
            db: RwLock::new(Some(db)),
            transactions: AtomicU64::new(0),
            write_sets: AtomicU64::new(0),
        });
        let (queue, jobs) = mpsc::channel();
        let max_batch = options.max_batch.max(1);
        let shared = Arc::clone(&db);
        let thread = std::thread::Builder::new()
            .name("airssys-storage".into())
            .spawn(move || write_loop(&shared, &jobs, max_batch))
            .map_err(|e| fail("cannot start its writer thread", Box::new(e)))?;
        Ok(Self {
            db,
            writer: Mutex::new(Some(Writer { queue, thread })),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.db.path
    }

    /// How many transactions the writer committed, carrying how many calls' writes.
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            transactions: self.db.transactions.load(Ordering::Relaxed),
            write_sets: self.db.write_sets.load(Ordering::Relaxed),
        }
    }

    /// Whether [`RedbStorage::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.db.db.read().is_none()
    }

    /// Commits `writes` on the caller's thread, waiting for the disk: for embedders and tools
    /// that write outside any component call (components' writes go through
    /// [`StorageBackend::commit`]).
    ///
    /// # Errors
    ///
    /// [`StorageError::IoError`] if the commit fails or the storage is closed; nothing of
    /// `writes` is kept then.
    pub fn write_now(&self, writes: &WriteSet) -> Result<(), StorageError> {
        self.db.write(|txn| apply(txn, writes))
    }

    /// Closes the database: commits already queued are finished first, every committed write
    /// is on disk, and the file is released so another `RedbStorage` (or process) can open
    /// it. Later calls fail with an I/O storage error. Idempotent.
    ///
    /// # Errors
    ///
    /// None today; reserved for a backend whose close can fail.
    pub fn close(&self) -> Result<()> {
        if let Some(Writer { queue, thread }) = self.writer.lock().take() {
            drop(queue);
            if thread.join().is_err() {
                tracing::error!(path = %self.db.path.display(), "the storage writer thread panicked");
            }
        }
        drop(self.db.db.write().take());
        Ok(())
    }
}

impl Drop for RedbStorage {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl Db {
    fn closed(&self) -> StorageError {
        StorageError::IoError(format!("storage {} is closed", self.path.display()))
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let guard = self.db.read();
        let db = guard.as_ref().ok_or_else(|| self.closed())?;
        let txn = db.begin_read().map_err(|e| io("read transaction", e))?;
        f(&txn)
    }

    /// Runs `f` in one write transaction and commits it durably; nothing is kept if `f` or
    /// the commit fails.
    fn write(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let guard = self.db.read();
        let db = guard.as_ref().ok_or_else(|| self.closed())?;
        let txn = db.begin_write().map_err(|e| io("write transaction", e))?;
        match f(&txn) {
            Ok(()) => txn.commit().map_err(|e| io("commit", e)),
            Err(e) => {
                let _ = txn.abort();
                Err(e)
            }
        }
    }
}

/// The writer thread: takes the first queued job, then every job queued meanwhile (up to
/// `max_batch`), commits them in one transaction and answers each. Ends when the storage is
/// closed and the queue is drained.
fn write_loop(db: &Db, jobs: &mpsc::Receiver<Job>, max_batch: usize) {
    let mut batch = Vec::new();
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let result = db.write(|txn| batch.iter().try_for_each(|job| apply(txn, &job.writes)));
        if result.is_ok() {
            db.transactions.fetch_add(1, Ordering::Relaxed);
            db.write_sets
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        if let Err(e) = &result {
            tracing::error!(path = %db.path.display(), calls = batch.len(), error = %e, "storage commit failed");
        }
        for job in batch.drain(..) {
            // The caller may be gone (its component was killed): the commit stands.
            let _ = job.done.send(result.clone());
        }
    }
}

/// Applies one call's writes inside `txn`, keeping the namespace's usage in step with its
/// entries (sizes are taken from what is stored, not from what the caller thought).
fn apply(txn: &WriteTransaction, writes: &WriteSet) -> Result<(), StorageError> {
    let ns = writes.namespace().to_string();
    let mut entries = txn.open_table(ENTRIES).map_err(|e| io("open entries", e))?;
    let mut usage = txn.open_table(USAGE).map_err(|e| io("open usage", e))?;
    let (mut bytes, mut keys) = usage
        .get(ns.as_str())
        .map_err(|e| io("read usage", e))?
        .map_or((0, 0), |v| v.value());
    for (key, value) in writes.iter() {
        let old = match value {
            Some(value) => entries
                .insert((ns.as_str(), key), value)
                .map_err(|e| io("insert", e))?
                .map(|v| entry_size(key, v.value())),
            None => entries
                .remove((ns.as_str(), key))
                .map_err(|e| io("remove", e))?
                .map(|v| entry_size(key, v.value())),
        };
        if let Some(old) = old {
            bytes = bytes.saturating_sub(old);
            keys = keys.saturating_sub(1);
        }
        if let Some(value) = value {
            bytes = bytes.saturating_add(entry_size(key, value));
            keys += 1;
        }
    }
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
}

impl StorageBackend for RedbStorage {
    fn get(&self, namespace: &ComponentId, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        validate_key(key)?;
        let ns = namespace.to_string();
        self.db.read(|txn| {
            let table = txn.open_table(ENTRIES).map_err(|e| io("open entries", e))?;
            let value = table.get((ns.as_str(), key)).map_err(|e| io("get", e))?;
            Ok(value.map(|v| v.value().to_vec()))
        })
    }

    fn list_keys(
        &self,
        namespace: &ComponentId,
        prefix: Option<&str>,
    ) -> Result<Vec<String>, StorageError> {
        let ns = namespace.to_string();
        let prefix = prefix.unwrap_or("");
        self.db.read(|txn| {
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
        self.db.read(|txn| {
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

    fn commit(&self, writes: WriteSet) -> CommitFuture {
        let (done, answer) = oneshot::channel();
        let queued = match self.writer.lock().as_ref() {
            Some(writer) => writer.queue.send(Job { writes, done }).is_ok(),
            None => false,
        };
        if !queued {
            return Box::pin(std::future::ready(Err(self.db.closed())));
        }
        let path = self.db.path.clone();
        Box::pin(async move {
            answer.await.unwrap_or_else(|_| {
                Err(StorageError::IoError(format!(
                    "storage {}: the writer stopped before committing",
                    path.display()
                )))
            })
        })
    }
}

#[cfg(test)]
mod tests;
