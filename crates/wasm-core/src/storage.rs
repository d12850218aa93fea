//! Storage quotas, usage, and the key rules every storage backend applies.

use crate::errors::StorageError;

/// The longest key a component may use, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// How much one component namespace may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageQuota {
    /// Total bytes of keys and values.
    pub max_bytes: u64,
    /// Number of keys.
    pub max_keys: u64,
}

impl Default for StorageQuota {
    /// 1 MiB in at most 1024 keys.
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            max_keys: 1024,
        }
    }
}

/// Bytes and keys used and allowed in one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageUsage {
    /// Bytes of keys and values stored.
    pub used_bytes: u64,
    /// The byte quota.
    pub quota_bytes: u64,
    /// Number of keys stored.
    pub key_count: u64,
}

/// Checks a key against the storage rules: non-empty, at most [`MAX_KEY_BYTES`] bytes, no
/// control characters.
///
/// # Errors
///
/// [`StorageError::InvalidKey`] naming what is wrong.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    if key.is_empty() {
        return Err(StorageError::InvalidKey("key is empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StorageError::InvalidKey(format!(
            "key is {} bytes, the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    if key.chars().any(char::is_control) {
        return Err(StorageError::InvalidKey(format!(
            "key {key:?} contains a control character"
        )));
    }
    Ok(())
}

/// The bytes one entry counts against the byte quota.
pub fn entry_size(key: &str, value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

/// Checks whether replacing an entry keeps the namespace within its quota.
///
/// `usage` is the namespace's usage before the write, `old` the size of the entry being
/// replaced (if the key exists) and `new` the size of the new entry.
///
/// # Errors
///
/// [`StorageError::QuotaExceeded`] if the byte or key quota would be exceeded.
pub fn check_quota(
    usage: &StorageUsage,
    quota: &StorageQuota,
    old: Option<u64>,
    new: u64,
) -> Result<(), StorageError> {
    let bytes = usage
        .used_bytes
        .saturating_sub(old.unwrap_or(0))
        .saturating_add(new);
    let keys = usage.key_count + u64::from(old.is_none());
    if bytes > quota.max_bytes || keys > quota.max_keys {
        return Err(StorageError::QuotaExceeded);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        assert!(validate_key("count").is_ok());
        assert!(validate_key("a/b/../c").is_ok());
        assert!(matches!(validate_key(""), Err(StorageError::InvalidKey(_))));
        assert!(matches!(
            validate_key(&"k".repeat(MAX_KEY_BYTES + 1)),
            Err(StorageError::InvalidKey(m)) if m.contains("1025")
        ));
        assert!(validate_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert!(validate_key("a\nb").is_err());
    }

    #[test]
    fn quota_counts_replaced_entries_once() {
        let quota = StorageQuota {
            max_bytes: 10,
            max_keys: 2,
        };
        let usage = StorageUsage {
            used_bytes: 8,
            quota_bytes: 10,
            key_count: 2,
        };
        // Replacing an 8-byte entry with a 10-byte one fits; a third key does not.
        assert!(check_quota(&usage, &quota, Some(8), 10).is_ok());
        assert_eq!(
            check_quota(&usage, &quota, Some(8), 11),
            Err(StorageError::QuotaExceeded)
        );
        assert_eq!(
            check_quota(&usage, &quota, None, 1),
            Err(StorageError::QuotaExceeded)
        );
    }
}
