//! The fence of a host in a cluster: until when it may serve its components.
//!
//! A cluster transport holds a lease on this host's membership and moves the fence forward
//! each time it renews it ([`crate::Router::serve_until`]), to a moment safely before the
//! lease could lapse on the server. Past that moment no component of this host starts a new
//! call (a call in hand finishes): another host may take its ids once the lease lapses, and
//! an id is never served by two hosts at once. The check is one clock read and one atomic
//! load per envelope, and only a system with a transport has a fence.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::Notify;

#[derive(Debug)]
pub(crate) struct Fence {
    base: Instant,
    /// Nanoseconds after `base` until which components may be served; 0 until the first
    /// lease.
    until: AtomicU64,
    /// Woken whenever the fence moves.
    moved: Notify,
}

impl Fence {
    /// A closed fence: nothing is served until the transport first moves it.
    pub(crate) fn new() -> Self {
        Self {
            base: Instant::now(),
            until: AtomicU64::new(0),
            moved: Notify::new(),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether components may be served now.
    pub(crate) fn open(&self) -> bool {
        self.nanos(Instant::now()) < self.until.load(Ordering::Acquire)
    }

    /// Components may be served until `deadline` (earlier than now: not any more).
    pub(crate) fn serve_until(&self, deadline: Instant) {
        self.until.store(self.nanos(deadline), Ordering::Release);
        self.moved.notify_waiters();
    }

    /// Resolves at once if the fence is open, else when it next moves (the caller looks
    /// again: it may have moved to a moment already past).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub(crate) async fn moved(&self) {
        let moved = self.moved.notified();
        tokio::pin!(moved);
        // Registered before the check: a move between the check and the wait is seen.
        moved.as_mut().enable();
        if self.open() {
            return;
        }
        moved.await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn closed_until_moved_and_closed_again_once_its_deadline_passes() {
        let fence = std::sync::Arc::new(Fence::new());
        assert!(!fence.open());
        let waiter = tokio::spawn({
            let fence = fence.clone();
            async move { fence.moved().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        fence.serve_until(Instant::now() + Duration::from_secs(60));
        waiter.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(fence.open());
        fence.moved().await;
        fence.serve_until(Instant::now() + Duration::from_millis(20));
        assert!(fence.open());
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(!fence.open());
        // A deadline in the past closes it at once.
        fence.serve_until(Instant::now() - Duration::from_millis(1));
        assert!(!fence.open());
    }
}
