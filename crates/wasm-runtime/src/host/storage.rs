//! `airssys:core/storage`: per-component key-value storage within the granted quota.
//!
//! The namespace is always the calling component's own id, so a component cannot name
//! another's keys. The backend's work (a commit waits for the disk) is not counted against the
//! guest's CPU time. A missing capability is reported as `io-error("permission denied: ...")`,
//! the WIT contract having no storage variant for it.

use wasm_core::{StorageError, StorageQuota};
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
            self.meter
                .off_guest(|| self.services.storage.get(&self.id, &key))
        }))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Reply<()> {
        reply(self.storage_quota(StorageOp::Write).and_then(|quota| {
            self.meter
                .off_guest(|| self.services.storage.set(&self.id, &key, &value, &quota))
        }))
    }

    fn delete(&mut self, key: String) -> Reply<()> {
        reply(self.storage_quota(StorageOp::Delete).and_then(|_| {
            self.meter
                .off_guest(|| self.services.storage.delete(&self.id, &key))
        }))
    }

    fn exists(&mut self, key: String) -> Reply<bool> {
        reply(self.storage_quota(StorageOp::Read).and_then(|_| {
            self.meter
                .off_guest(|| self.services.storage.exists(&self.id, &key))
        }))
    }

    fn list_keys(&mut self, prefix: Option<String>) -> Reply<Vec<String>> {
        reply(self.storage_quota(StorageOp::Read).and_then(|_| {
            self.meter
                .off_guest(|| self.services.storage.list_keys(&self.id, prefix.as_deref()))
        }))
    }

    fn usage(&mut self) -> Reply<StorageUsage> {
        reply(
            self.storage_quota(StorageOp::Read)
                .and_then(|quota| {
                    self.meter
                        .off_guest(|| self.services.storage.usage(&self.id, &quota))
                })
                .map(usage_to_wit),
        )
    }
}
