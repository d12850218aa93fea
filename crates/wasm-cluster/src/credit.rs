//! The receiving host's account of the room other hosts take in its components' mailboxes:
//! slots held for their windows of credit and broadcast holds, and their messages queued and
//! not yet taken. Together they never take more than half of a mailbox, so local senders
//! always find room.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use wasm_actor::Router;
use wasm_core::ComponentId;

use crate::transport::Inner;

/// The most one window may hold of a mailbox of `capacity`: a quarter (at least one).
pub(crate) fn window_share(capacity: usize) -> u64 {
    u64::try_from((capacity / 4).max(1)).unwrap_or(u64::MAX)
}

/// The most all other hosts together may take of a mailbox of `capacity`: a half (at least
/// one).
fn total_share(capacity: usize) -> u64 {
    u64::try_from((capacity / 2).max(1)).unwrap_or(u64::MAX)
}

/// The room other hosts take in one mailbox. A message that came into a held slot keeps
/// its room until it is taken from the mailbox (its receipt gives it back).
pub(crate) type Share = Arc<AtomicU64>;

/// Every local component's share.
#[derive(Debug, Default)]
pub(crate) struct Shares {
    map: Mutex<HashMap<ComponentId, Share>>,
}

impl Shares {
    /// All the room other hosts take now.
    pub(crate) fn total(&self) -> u64 {
        self.map
            .lock()
            .values()
            .map(|s| s.load(Ordering::Acquire))
            .sum()
    }

    /// The share of `target` (made on first use).
    pub(crate) fn of(&self, target: &ComponentId) -> Share {
        self.map.lock().entry(target.clone()).or_default().clone()
    }

    /// `target` stopped here: its account goes.
    pub(crate) fn forget(&self, target: &ComponentId) {
        self.map.lock().remove(target);
    }
}

impl Inner {
    /// Holds up to `wanted` free slots in the mailbox of `target` for another host, within
    /// the share all other hosts may take; returns how many it holds, and the share they
    /// count in.
    pub(crate) fn hold(
        &self,
        router: &Router,
        target: &ComponentId,
        wanted: u64,
    ) -> (u64, Option<Share>) {
        let Some(capacity) = router.mailbox_capacity(target) else {
            return (0, None);
        };
        let mut map = self.shares.map.lock();
        let share = map.entry(target.clone()).or_default().clone();
        let give = wanted.min(total_share(capacity).saturating_sub(share.load(Ordering::Acquire)));
        if give == 0 {
            return (0, Some(share));
        }
        let got = router
            .hold_for_remote(target, usize::try_from(give).unwrap_or(usize::MAX))
            .map_or(0, |n| u64::try_from(n).unwrap_or(0));
        share.fetch_add(got, Ordering::AcqRel);
        drop(map);
        (got, Some(share))
    }

    /// Gives `n` held slots of `target`'s mailbox back (unused).
    pub(crate) fn unhold(&self, router: Option<&Router>, target: &ComponentId, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(router) = router {
            router.release_for_remote(target, usize::try_from(n).unwrap_or(usize::MAX));
        }
        if let Some(share) = self.shares.map.lock().get(target) {
            release(share, n);
        }
    }
}

/// Gives `n` of a share back.
pub(crate) fn release(share: &AtomicU64, n: u64) {
    let _ = share.try_update(Ordering::AcqRel, Ordering::Acquire, |now| {
        Some(now.saturating_sub(n))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_leave_room_even_in_tiny_mailboxes() {
        assert_eq!(window_share(1024), 256);
        assert_eq!(total_share(1024), 512);
        assert_eq!(window_share(2), 1);
        assert_eq!(total_share(1), 1);
        let share = AtomicU64::new(3);
        release(&share, 5);
        assert_eq!(share.load(Ordering::Acquire), 0);
    }
}
