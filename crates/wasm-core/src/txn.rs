//! The storage transaction of one component call: writes are buffered, read back at once by
//! the same call, and handed to the backend as one [`WriteSet`] when the call returns.
//!
//! Every backend gets the same semantics because the buffering lives here, not in the
//! backends: a backend only answers committed reads and commits whole write sets.

use std::collections::{BTreeMap, BTreeSet};

use crate::errors::StorageError;
use crate::id::ComponentId;
use crate::services::StorageBackend;
use crate::storage::{StorageQuota, StorageUsage, check_quota, entry_size, validate_key};

/// The writes one call made to one namespace: each key's final value, `None` for a delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSet {
    namespace: ComponentId,
    writes: BTreeMap<String, Option<Vec<u8>>>,
}

impl WriteSet {
    /// An empty write set for `namespace`.
    pub fn new(namespace: ComponentId) -> Self {
        Self {
            namespace,
            writes: BTreeMap::new(),
        }
    }

    /// The namespace written.
    pub fn namespace(&self) -> &ComponentId {
        &self.namespace
    }

    /// The writes in key order: the new value, or `None` where the key is removed.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.writes.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }

    /// How many keys are written.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Whether nothing is written.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Records a write of `key` (`None` removes it), replacing an earlier write of the same key.
    /// No key or quota check is made here: [`StorageTxn`] makes them.
    pub fn put(&mut self, key: impl Into<String>, value: Option<Vec<u8>>) {
        self.writes.insert(key.into(), value);
    }
}

/// A call's view of its namespace: the committed data with the call's own writes on top.
///
/// Writes are checked when they are made (key rules, quota against the committed usage plus
/// this call's writes), so a refused write is reported by the call that made it and changes
/// nothing. Reads see the call's own writes at once. [`StorageTxn::into_writes`] gives the
/// writes for [`StorageBackend::commit`]; dropping the transaction discards them.
///
/// # Examples
///
/// ```
/// use wasm_core::{ComponentId, StorageBackend, StorageQuota, StorageTxn};
/// # fn demo(backend: &dyn StorageBackend) -> Result<(), Box<dyn std::error::Error>> {
/// let id: ComponentId = "demo/ledger/1".parse()?;
/// let mut txn = StorageTxn::new(id);
/// txn.set(backend, "order/7", b"12", &StorageQuota::default())?;
/// assert_eq!(txn.get(backend, "order/7")?, Some(b"12".to_vec()));
/// let writes = txn.into_writes(); // commit these with `backend.commit(writes)`
/// # let _ = writes; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct StorageTxn {
    writes: WriteSet,
    /// `(bytes, keys)` of the namespace with this call's writes applied; read from the
    /// backend at the first write.
    usage: Option<(u64, u64)>,
}

impl StorageTxn {
    /// A transaction on `namespace` with no writes yet.
    pub fn new(namespace: ComponentId) -> Self {
        Self {
            writes: WriteSet::new(namespace),
            usage: None,
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &ComponentId {
        self.writes.namespace()
    }

    /// Whether the call has written nothing (a commit would have nothing to do).
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// The writes, for [`StorageBackend::commit`].
    pub fn into_writes(self) -> WriteSet {
        self.writes
    }

    /// The value of `key`: this call's write if it made one, else the committed value.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidKey`] for a bad key, and the backend's read errors.
    pub fn get(
        &self,
        backend: &dyn StorageBackend,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        validate_key(key)?;
        match self.writes.writes.get(key) {
            Some(value) => Ok(value.clone()),
            None => backend.get(self.namespace(), key),
        }
    }

    /// Whether `key` is present, this call's writes included.
    ///
    /// # Errors
    ///
    /// As [`StorageTxn::get`].
    pub fn exists(&self, backend: &dyn StorageBackend, key: &str) -> Result<bool, StorageError> {
        validate_key(key)?;
        match self.writes.writes.get(key) {
            Some(value) => Ok(value.is_some()),
            None => backend.exists(self.namespace(), key),
        }
    }

    /// Writes `key` within `quota`.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidKey`], [`StorageError::QuotaExceeded`] (nothing is written), and
    /// the backend's read errors.
    pub fn set(
        &mut self,
        backend: &dyn StorageBackend,
        key: &str,
        value: &[u8],
        quota: &StorageQuota,
    ) -> Result<(), StorageError> {
        validate_key(key)?;
        let (bytes, keys) = self.current_usage(backend, quota)?;
        let old = self.size_of(backend, key)?;
        let new = entry_size(key, value);
        let before = StorageUsage {
            used_bytes: bytes,
            quota_bytes: quota.max_bytes,
            key_count: keys,
        };
        check_quota(&before, quota, old, new)?;
        self.usage = Some((
            bytes.saturating_sub(old.unwrap_or(0)).saturating_add(new),
            keys + u64::from(old.is_none()),
        ));
        self.writes.put(key, Some(value.to_vec()));
        Ok(())
    }

    /// Removes `key`; removing an absent key changes nothing and is not an error.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidKey`], and the backend's read errors.
    pub fn delete(&mut self, backend: &dyn StorageBackend, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        let Some(old) = self.size_of(backend, key)? else {
            return Ok(());
        };
        let (bytes, keys) = self.current_usage(backend, &StorageQuota::default())?;
        self.usage = Some((bytes.saturating_sub(old), keys.saturating_sub(1)));
        self.writes.put(key, None);
        Ok(())
    }

    /// The namespace's keys, sorted, this call's writes included.
    ///
    /// # Errors
    ///
    /// The backend's read errors.
    pub fn list_keys(
        &self,
        backend: &dyn StorageBackend,
        prefix: Option<&str>,
    ) -> Result<Vec<String>, StorageError> {
        let committed = backend.list_keys(self.namespace(), prefix)?;
        if self.writes.is_empty() {
            return Ok(committed);
        }
        let mut keys: BTreeSet<String> = committed.into_iter().collect();
        let wanted = |k: &str| prefix.is_none_or(|p| k.starts_with(p));
        for (key, value) in self.writes.iter().filter(|(k, _)| wanted(k)) {
            if value.is_some() {
                keys.insert(key.to_owned());
            } else {
                keys.remove(key);
            }
        }
        Ok(keys.into_iter().collect())
    }

    /// The namespace's usage against `quota`, this call's writes included.
    ///
    /// # Errors
    ///
    /// The backend's read errors.
    pub fn usage(
        &self,
        backend: &dyn StorageBackend,
        quota: &StorageQuota,
    ) -> Result<StorageUsage, StorageError> {
        match self.usage {
            Some((used_bytes, key_count)) => Ok(StorageUsage {
                used_bytes,
                quota_bytes: quota.max_bytes,
                key_count,
            }),
            None => backend.usage(self.namespace(), quota),
        }
    }

    fn current_usage(
        &self,
        backend: &dyn StorageBackend,
        quota: &StorageQuota,
    ) -> Result<(u64, u64), StorageError> {
        match self.usage {
            Some(usage) => Ok(usage),
            None => {
                let u = backend.usage(self.namespace(), quota)?;
                Ok((u.used_bytes, u.key_count))
            }
        }
    }

    /// The size `key`'s entry counts now, `None` if it is absent.
    fn size_of(
        &self,
        backend: &dyn StorageBackend,
        key: &str,
    ) -> Result<Option<u64>, StorageError> {
        let value = match self.writes.writes.get(key) {
            Some(value) => value.clone(),
            None => backend.get(self.namespace(), key)?,
        };
        Ok(value.map(|v| entry_size(key, &v)))
    }
}
