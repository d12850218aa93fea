//! An in-memory storage backend, for tests and for hosts that need no persistence.

use std::collections::{BTreeMap, HashMap};

use parking_lot::Mutex;
use wasm_core::storage::{check_quota, entry_size, validate_key};
use wasm_core::{ComponentId, StorageBackend, StorageError, StorageQuota, StorageUsage};

/// Keeps every namespace in memory; nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    namespaces: Mutex<HashMap<ComponentId, BTreeMap<String, Vec<u8>>>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
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

    fn set(
        &self,
        namespace: &ComponentId,
        key: &str,
        value: &[u8],
        quota: &StorageQuota,
    ) -> Result<(), StorageError> {
        validate_key(key)?;
        let mut namespaces = self.namespaces.lock();
        let entries = namespaces.get(namespace);
        let usage = usage_of(entries, quota);
        let old = entries.and_then(|e| e.get(key)).map(|v| entry_size(key, v));
        check_quota(&usage, quota, old, entry_size(key, value))?;
        namespaces
            .entry(namespace.clone())
            .or_default()
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, namespace: &ComponentId, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        if let Some(entries) = self.namespaces.lock().get_mut(namespace) {
            entries.remove(key);
        }
        Ok(())
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> ComponentId {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn namespaces_are_separate_and_keys_listed_by_prefix() -> Result<(), StorageError> {
        let store = MemoryStorage::new();
        let (a, b) = (id("t/a/1"), id("t/b/1"));
        let quota = StorageQuota::default();
        store.set(&a, "user/1", b"x", &quota)?;
        store.set(&a, "user/2", b"y", &quota)?;
        store.set(&a, "zeta", b"z", &quota)?;
        assert_eq!(store.get(&b, "user/1")?, None);
        assert_eq!(store.list_keys(&b, None)?, Vec::<String>::new());
        assert_eq!(
            store.list_keys(&a, Some("user/"))?,
            vec!["user/1", "user/2"]
        );
        assert_eq!(store.get(&a, "zeta")?, Some(b"z".to_vec()));
        store.delete(&a, "zeta")?;
        assert!(!store.exists(&a, "zeta")?);
        assert_eq!(store.usage(&a, &quota)?.key_count, 2);
        Ok(())
    }

    #[test]
    fn quota_is_enforced_and_nothing_written_on_refusal() -> Result<(), StorageError> {
        let store = MemoryStorage::new();
        let a = id("t/a/1");
        let quota = StorageQuota {
            max_bytes: 10,
            max_keys: 2,
        };
        store.set(&a, "k1", b"12345678", &quota)?;
        assert_eq!(
            store.set(&a, "k2", b"1", &quota),
            Err(StorageError::QuotaExceeded)
        );
        assert_eq!(store.get(&a, "k2")?, None);
        // Replacing within the quota is fine.
        store.set(&a, "k1", b"abcdefgh", &quota)?;
        assert!(matches!(
            store.set(&a, "", b"1", &quota),
            Err(StorageError::InvalidKey(_))
        ));
        Ok(())
    }
}
