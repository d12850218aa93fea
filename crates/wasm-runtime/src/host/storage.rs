//! `airssys:core/storage`: per-component key-value storage within the granted quota.
//!
//! The namespace is always the calling component's own id, so a component cannot name
//! another's keys. The writes of one call are buffered in the store's [`StorageTxn`]: the
//! call reads them back at once, and they are committed together when the call returns (see
//! [`crate::ComponentInstance`]), or dropped with it when it fails. Reads that find the data
//! in the backend are not counted against the guest's CPU time. A missing capability is reported as `io-error("permission denied: ...")`,
//! the WIT contract having no storage variant for it.

use wasm_core::{StorageError, StorageQuota, StorageTxn};
use wasm_security::StorageOp;

use crate::bindings::airssys::core::errors::StorageError as WitStorageError;
use crate::bindings::airssys::core::storage::{Host, StorageUsage};
use crate::convert::{storage_error_to_wit, usage_to_wit};
use crate::state::ComponentState;

type Reply<T> = wasmtime::Result<Result<T, WitStorageError>>;

impl ComponentState {
    /// Checks the storage capability for `op`, returning the namespace quota.
    fn storage_quota(&self, op: StorageOp) -> Result<StorageQuota, StorageError> {
        self.caps.check_storage(op).copied().map_err(|denial| {
            StorageError::IoError(format!(
                "permission denied: {}",
                self.deny(denial, &"storage")
            ))
        })
    }
}

fn reply<T>(result: Result<T, StorageError>) -> Reply<T> {
    Ok(result.map_err(storage_error_to_wit))
}

impl Host for ComponentState {
    fn get(&mut self, key: String) -> Reply<Option<Vec<u8>>> {
        reply(self.storage_quota(StorageOp::Read).and_then(|_| {
            let storage = self.services.storage.as_ref();
            match &self.txn {
                Some(txn) => self.meter.off_guest(|| txn.get(storage, &key)),
                None => self.meter.off_guest(|| storage.get(&self.id, &key)),
            }
        }))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Reply<()> {
        reply(self.storage_quota(StorageOp::Write).and_then(|quota| {
            let storage = self.services.storage.as_ref();
            let txn = self
                .txn
                .get_or_insert_with(|| StorageTxn::new(self.id.clone()));
            self.meter
                .off_guest(|| txn.set(storage, &key, &value, &quota))
        }))
    }

    fn delete(&mut self, key: String) -> Reply<()> {
        reply(self.storage_quota(StorageOp::Delete).and_then(|_| {
            let storage = self.services.storage.as_ref();
            let txn = self
                .txn
                .get_or_insert_with(|| StorageTxn::new(self.id.clone()));
            self.meter.off_guest(|| txn.delete(storage, &key))
        }))
    }

    fn exists(&mut self, key: String) -> Reply<bool> {
        reply(self.storage_quota(StorageOp::Read).and_then(|_| {
            let storage = self.services.storage.as_ref();
            match &self.txn {
                Some(txn) => self.meter.off_guest(|| txn.exists(storage, &key)),
                None => self.meter.off_guest(|| storage.exists(&self.id, &key)),
            }
        }))
    }

    fn list_keys(&mut self, prefix: Option<String>) -> Reply<Vec<String>> {
        reply(self.storage_quota(StorageOp::Read).and_then(|_| {
            let storage = self.services.storage.as_ref();
            let prefix = prefix.as_deref();
            match &self.txn {
                Some(txn) => self.meter.off_guest(|| txn.list_keys(storage, prefix)),
                None => self.meter.off_guest(|| storage.list_keys(&self.id, prefix)),
            }
        }))
    }

    fn usage(&mut self) -> Reply<StorageUsage> {
        reply(
            self.storage_quota(StorageOp::Read)
                .and_then(|quota| {
                    let storage = self.services.storage.as_ref();
                    match &self.txn {
                        Some(txn) => self.meter.off_guest(|| txn.usage(storage, &quota)),
                        None => self.meter.off_guest(|| storage.usage(&self.id, &quota)),
                    }
                })
                .map(usage_to_wit),
        )
    }
}
