//! This host's copy of one component's storage, built from its subject's records.

use std::collections::BTreeMap;

use parking_lot::RwLock;
use wasm_core::storage::entry_size;
use wasm_core::{StorageQuota, StorageUsage};

use super::record::{Kind, Record};

/// The copy of one namespace.
#[derive(Debug, Default)]
pub(crate) struct Copy {
    entries: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl Copy {
    /// Applies a record: a snapshot replaces everything, a write set changes its keys.
    pub(crate) fn apply(&self, record: Record) {
        let mut entries = self.entries.write();
        if record.kind == Kind::Snapshot {
            entries.clear();
        }
        for (key, value) in record.entries {
            match value {
                Some(value) => {
                    entries.insert(key, value);
                }
                None => {
                    entries.remove(&key);
                }
            }
        }
    }

    /// Applies one call's writes.
    pub(crate) fn write<'a>(&self, writes: impl Iterator<Item = (&'a str, Option<&'a [u8]>)>) {
        let mut entries = self.entries.write();
        for (key, value) in writes {
            match value {
                Some(value) => {
                    entries.insert(key.to_owned(), value.to_vec());
                }
                None => {
                    entries.remove(key);
                }
            }
        }
    }

    /// Everything, as a snapshot would hold it, with `writes` applied on top.
    pub(crate) fn with<'a>(
        &self,
        writes: impl Iterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) -> BTreeMap<String, Vec<u8>> {
        let mut entries = self.entries.read().clone();
        for (key, value) in writes {
            match value {
                Some(value) => {
                    entries.insert(key.to_owned(), value.to_vec());
                }
                None => {
                    entries.remove(key);
                }
            }
        }
        entries
    }

    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.entries.read().get(key).cloned()
    }

    pub(crate) fn keys(&self, prefix: &str) -> Vec<String> {
        self.entries
            .read()
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub(crate) fn usage(&self, quota: &StorageQuota) -> StorageUsage {
        let entries = self.entries.read();
        StorageUsage {
            used_bytes: entries.iter().map(|(k, v)| entry_size(k, v)).sum(),
            quota_bytes: quota.max_bytes,
            key_count: entries.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_replaces_and_a_write_set_changes() {
        let copy = Copy::default();
        copy.apply(Record {
            kind: Kind::WriteSet,
            epoch: 1,
            entries: vec![
                ("a".into(), Some(b"1".to_vec())),
                ("b".into(), Some(b"2".to_vec())),
            ],
        });
        copy.apply(Record {
            kind: Kind::WriteSet,
            epoch: 1,
            entries: vec![("a".into(), None)],
        });
        assert_eq!(copy.keys(""), vec!["b"]);
        copy.apply(Record {
            kind: Kind::Snapshot,
            epoch: 2,
            entries: vec![("c".into(), Some(b"3".to_vec()))],
        });
        assert_eq!(copy.keys(""), vec!["c"]);
        let usage = copy.usage(&StorageQuota::default());
        assert_eq!((usage.key_count, usage.used_bytes), (1, 2));
    }
}
