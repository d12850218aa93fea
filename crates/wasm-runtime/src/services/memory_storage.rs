//! An in-memory storage backend, for tests and for hosts that need no persistence.

use std::collections::{BTreeMap, HashMap};

use parking_lot::Mutex;
use wasm_core::storage::{entry_size, validate_key};
use wasm_core::{
    CommitFuture, ComponentId, StorageBackend, StorageError, StorageQuota, StorageUsage, WriteSet,
};

/// Keeps every namespace in memory; nothing survives the process.
///
/// It has the semantics of every backend: a call's writes arrive as one [`WriteSet`] and are
/// applied together, under one lock, so a reader sees all of them or none.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    namespaces: Mutex<HashMap<ComponentId, BTreeMap<String, Vec<u8>>>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a write set at once (what [`StorageBackend::commit`] does, without a future).
    pub fn apply(&self, writes: &WriteSet) {
        let mut namespaces = self.namespaces.lock();
        let entries = namespaces.entry(writes.namespace().clone()).or_default();
        for (key, value) in writes.iter() {
            match value {
                Some(value) => {
                    entries.insert(key.to_owned(), value.to_vec());
                }
                None => {
                    entries.remove(key);
                }
            }
        }
        if entries.is_empty() {
            namespaces.remove(writes.namespace());
        }
    }
}

fn usage_of(entries: Option<&BTreeMap<String, Vec<u8>>>, quota: &StorageQuota) -> StorageUsage {
    let (used_bytes, key_count) = entries.map_or((0, 0), |entries| {
        let bytes = entries.iter().map(|(k, v)| entry_size(k, v)).sum();
        (bytes, entries.len() as u64)
    });
    StorageUsage {
        used_bytes,
        quota_bytes: quota.max_bytes,
        key_count,
    }
}

impl StorageBackend for MemoryStorage {
    fn get(&self, namespace: &ComponentId, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        validate_key(key)?;
        Ok(self
            .namespaces
            .lock()
            .get(namespace)
            .and_then(|entries| entries.get(key).cloned()))
    }

    fn exists(&self, namespace: &ComponentId, key: &str) -> Result<bool, StorageError> {
        validate_key(key)?;
        Ok(self
            .namespaces
            .lock()
            .get(namespace)
            .is_some_and(|entries| entries.contains_key(key)))
    }

    fn list_keys(
        &self,
        namespace: &ComponentId,
        prefix: Option<&str>,
    ) -> Result<Vec<String>, StorageError> {
        let prefix = prefix.unwrap_or("");
        Ok(self
            .namespaces
            .lock()
            .get(namespace)
            .map(|entries| {
                entries
                    .range(prefix.to_owned()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    fn usage(
        &self,
        namespace: &ComponentId,
        quota: &StorageQuota,
    ) -> Result<StorageUsage, StorageError> {
        Ok(usage_of(self.namespaces.lock().get(namespace), quota))
    }

    fn commit(&self, writes: WriteSet) -> CommitFuture {
        self.apply(&writes);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use wasm_core::StorageTxn;

    use super::*;

    fn id(text: &str) -> ComponentId {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn namespaces_are_separate_and_keys_listed_by_prefix() -> Result<(), StorageError> {
        let store = MemoryStorage::new();
        let (a, b) = (id("t/a/1"), id("t/b/1"));
        let quota = StorageQuota::default();
        let mut txn = StorageTxn::new(a.clone());
        txn.set(&store, "user/1", b"x", &quota)?;
        txn.set(&store, "user/2", b"y", &quota)?;
        txn.set(&store, "zeta", b"z", &quota)?;
        store.apply(&txn.into_writes());
        assert_eq!(store.get(&b, "user/1")?, None);
        assert_eq!(store.list_keys(&b, None)?, Vec::<String>::new());
        assert_eq!(
            store.list_keys(&a, Some("user/"))?,
            vec!["user/1", "user/2"]
        );
        assert_eq!(store.get(&a, "zeta")?, Some(b"z".to_vec()));
        let mut txn = StorageTxn::new(a.clone());
        txn.delete(&store, "zeta")?;
        store.apply(&txn.into_writes());
        assert!(!store.exists(&a, "zeta")?);
        assert_eq!(store.usage(&a, &quota)?.key_count, 2);
        Ok(())
    }

    #[test]
    fn a_call_reads_its_own_writes_and_nothing_is_visible_before_the_commit()
    -> Result<(), StorageError> {
        let store = MemoryStorage::new();
        let a = id("t/a/1");
        let quota = StorageQuota::default();
        let mut first = StorageTxn::new(a.clone());
        first.set(&store, "keep", b"1", &quota)?;
        store.apply(&first.into_writes());

        let mut txn = StorageTxn::new(a.clone());
        txn.set(&store, "order/1", b"10", &quota)?;
        txn.delete(&store, "keep")?;
        assert_eq!(txn.get(&store, "order/1")?, Some(b"10".to_vec()));
        assert!(!txn.exists(&store, "keep")?);
        assert_eq!(txn.list_keys(&store, None)?, vec!["order/1"]);
        assert_eq!(txn.usage(&store, &quota)?.key_count, 1);
        // Nobody else sees the call's writes yet.
        assert_eq!(store.get(&a, "order/1")?, None);
        assert_eq!(store.list_keys(&a, None)?, vec!["keep"]);
        // A call that fails drops its transaction: nothing of it is kept.
        drop(txn);
        assert_eq!(store.list_keys(&a, None)?, vec!["keep"]);
        assert_eq!(store.usage(&a, &quota)?.used_bytes, 5);
        Ok(())
    }

    #[test]
    fn quota_counts_the_calls_own_writes_and_a_refusal_changes_nothing() -> Result<(), StorageError>
    {
        let store = MemoryStorage::new();
        let a = id("t/a/1");
        let quota = StorageQuota {
            max_bytes: 10,
            max_keys: 2,
        };
        let mut txn = StorageTxn::new(a.clone());
        txn.set(&store, "k1", b"12345678", &quota)?;
        assert_eq!(
            txn.set(&store, "k2", b"1", &quota),
            Err(StorageError::QuotaExceeded)
        );
        assert_eq!(txn.get(&store, "k2")?, None);
        // Replacing within the quota is fine.
        txn.set(&store, "k1", b"abcdefgh", &quota)?;
        assert!(matches!(
            txn.set(&store, "", b"1", &quota),
            Err(StorageError::InvalidKey(_))
        ));
        let writes = txn.into_writes();
        assert_eq!(writes.len(), 1);
        store.apply(&writes);
        let usage = store.usage(&a, &quota)?;
        assert_eq!((usage.used_bytes, usage.key_count), (10, 1));
        // The next call starts from the committed usage.
        let mut next = StorageTxn::new(a.clone());
        assert_eq!(
            next.set(&store, "k2", b"", &quota),
            Err(StorageError::QuotaExceeded)
        );
        next.delete(&store, "k1")?;
        next.set(&store, "k2", b"123", &quota)?;
        assert_eq!(next.usage(&store, &quota)?.used_bytes, 5);
        Ok(())
    }
}
