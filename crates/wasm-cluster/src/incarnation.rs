//! Incarnation ids: one per process start (and per lease lost), never 0, random enough that
//! two processes never share one.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// A new incarnation id: the std library's per-process random hash keys, mixed with the
/// time and the process id.
pub(crate) fn new() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.finish().max(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn incarnations_differ_and_are_never_zero() {
        let ids: std::collections::HashSet<u64> = (0..1000).map(|_| super::new()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(!ids.contains(&0));
    }
}
