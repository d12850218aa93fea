//! Request correlation: host-unique ids, the pending-request table, and the timer that turns
//! expired requests into timeout callbacks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio_util::time::DelayQueue;
use tokio_util::time::delay_queue::Key;
use wasm_core::{ComponentId, CorrelationId, ErrorCallback, MessagingError};

use crate::router::RouterInner;
use crate::stats::{Counters, WorkUnit, bump};

/// How a request ended: the reply payload, or why there is none.
pub(crate) type Outcome = Result<Vec<u8>, ErrorCallback>;

/// Who waits for an answer.
#[derive(Debug)]
pub(crate) enum Requester {
    /// A component: the answer becomes its `handle-callback`.
    Component(ComponentId),
    /// The embedding host, awaiting a future.
    Host(oneshot::Sender<Outcome>),
}

#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) requester: Requester,
    pub(crate) target: ComponentId,
    /// Held until the request is answered (after its callback is queued) or dropped.
    pub(crate) _work: WorkUnit,
}

const PREFIX: &str = "req-";

/// The text form of a correlation number.
pub(crate) fn format_id(n: u64) -> CorrelationId {
    CorrelationId::new(format!("{PREFIX}{n}"))
}

/// The correlation number of a text id, if it is one of ours.
pub(crate) fn parse_id(id: &CorrelationId) -> Option<u64> {
    id.as_str().strip_prefix(PREFIX)?.parse().ok()
}

#[derive(Debug)]
pub(crate) struct Correlations {
    next: AtomicU64,
    table: Mutex<HashMap<u64, Pending>>,
    timers: mpsc::UnboundedSender<Timer>,
    counters: Arc<Counters>,
    max_timeout: Duration,
}

/// What the timer task is told.
#[derive(Debug)]
pub(crate) enum Timer {
    /// Arm a deadline for request `n`.
    Arm(u64, Duration),
    /// Request `n` was answered or cancelled: drop its deadline.
    Disarm(u64),
}

/// The longest deadline the timer accepts whatever the configuration says: tokio-util's
/// `DelayQueue` panics for deadlines beyond about two years.
pub(crate) const TIMER_LIMIT: Duration = Duration::from_secs(365 * 24 * 3600);

impl Correlations {
    /// A table whose request timeouts are clamped to `max_timeout` (itself clamped to
    /// [`TIMER_LIMIT`]).
    pub(crate) fn new(
        counters: Arc<Counters>,
        max_timeout: Duration,
    ) -> (Self, mpsc::UnboundedReceiver<Timer>) {
        let (timers, rx) = mpsc::unbounded_channel();
        let table = Self {
            next: AtomicU64::new(1),
            table: Mutex::new(HashMap::new()),
            timers,
            counters,
            max_timeout: max_timeout.min(TIMER_LIMIT),
        };
        (table, rx)
    }

    /// Records a pending request and arms its deadline, clamped to the configured maximum.
    ///
    /// # Errors
    ///
    /// [`MessagingError::DeliveryFailed`] if the timer task is gone (the system is shut
    /// down): a request without a deadline is never registered.
    pub(crate) fn register(
        &self,
        requester: Requester,
        target: ComponentId,
        timeout: Duration,
    ) -> Result<u64, MessagingError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let pending = Pending {
            requester,
            target,
            _work: self.counters.unit(),
        };
        self.table.lock().insert(n, pending);
        if self
            .timers
            .send(Timer::Arm(n, timeout.min(self.max_timeout)))
            .is_err()
        {
            tracing::error!(
                correlation = n,
                "request timer task is gone; request refused"
            );
            self.table.lock().remove(&n);
            return Err(MessagingError::DeliveryFailed(
                "the request timer is not running (the system is shut down)".into(),
            ));
        }
        Ok(n)
    }

    /// Removes a pending request (to answer or cancel it) and drops its deadline.
    pub(crate) fn take(&self, n: u64) -> Option<Pending> {
        let pending = self.table.lock().remove(&n);
        if pending.is_some() {
            self.disarm(n);
        }
        pending
    }

    /// Removes a pending request whose deadline has fired.
    pub(crate) fn take_expired(&self, n: u64) -> Option<Pending> {
        self.table.lock().remove(&n)
    }

    fn disarm(&self, n: u64) {
        // After shutdown the timer task is gone and there is no deadline left to drop.
        if self.timers.send(Timer::Disarm(n)).is_err() {
            tracing::trace!(correlation = n, "timer task gone; nothing to disarm");
        }
    }

    /// Removes a pending request if `requester` made it.
    pub(crate) fn cancel(&self, requester: &ComponentId, n: u64) -> bool {
        let mut table = self.table.lock();
        let owned = matches!(
            table.get(&n),
            Some(Pending { requester: Requester::Component(id), .. }) if id == requester
        );
        if owned {
            table.remove(&n);
            drop(table);
            self.disarm(n);
        }
        owned
    }

    /// Removes every pending request addressed to `target`.
    pub(crate) fn take_for_target(&self, target: &ComponentId) -> Vec<(u64, Pending)> {
        let mut table = self.table.lock();
        let ids: Vec<u64> = table
            .iter()
            .filter(|(_, p)| &p.target == target)
            .map(|(n, _)| *n)
            .collect();
        let taken: Vec<(u64, Pending)> = ids
            .into_iter()
            .filter_map(|n| table.remove(&n).map(|p| (n, p)))
            .collect();
        drop(table);
        for (n, _) in &taken {
            self.disarm(*n);
        }
        taken
    }

    /// Removes every pending request (at shutdown).
    pub(crate) fn take_all(&self) -> Vec<(u64, Pending)> {
        let taken: Vec<(u64, Pending)> = self.table.lock().drain().collect();
        for (n, _) in &taken {
            self.disarm(*n);
        }
        taken
    }

    pub(crate) fn count_late(&self) {
        bump(&self.counters.late_replies);
    }

    pub(crate) fn late(&self) -> u64 {
        self.counters.late_replies.load(Ordering::Relaxed)
    }

    pub(crate) fn pending(&self) -> usize {
        self.table.lock().len()
    }
}

/// Fires request deadlines: each expired request still pending gets a timeout callback.
/// Ends when every sender is gone or the router is dropped.
pub(crate) async fn run_timers(
    mut requests: mpsc::UnboundedReceiver<Timer>,
    router: Weak<RouterInner>,
) {
    let mut deadlines: DelayQueue<u64> = DelayQueue::new();
    let mut keys: HashMap<u64, Key> = HashMap::new();
    loop {
        tokio::select! {
            next = requests.recv() => match next {
                Some(Timer::Arm(n, timeout)) => {
                    // Clamped again here: `DelayQueue::insert` panics past about two years.
                    keys.insert(n, deadlines.insert(n, timeout.min(TIMER_LIMIT)));
                }
                Some(Timer::Disarm(n)) => {
                    if let Some(key) = keys.remove(&n) {
                        deadlines.try_remove(&key);
                    }
                }
                None => break,
            },
            Some(expired) = std::future::poll_fn(|cx| deadlines.poll_expired(cx)), if !deadlines.is_empty() => {
                let n = expired.into_inner();
                keys.remove(&n);
                let Some(router) = router.upgrade() else { break };
                router.expire(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_foreign_ids_are_rejected() {
        assert_eq!(parse_id(&format_id(42)), Some(42));
        assert_eq!(parse_id(&CorrelationId::new("req-x")), None);
        assert_eq!(parse_id(&CorrelationId::new("other-1")), None);
    }

    #[test]
    fn only_the_requester_can_cancel() -> Result<(), Box<dyn std::error::Error>> {
        let (table, _rx) = Correlations::new(Arc::default(), Duration::from_secs(60));
        let a: ComponentId = "t/a/1".parse()?;
        let b: ComponentId = "t/b/1".parse()?;
        let n = table.register(
            Requester::Component(a.clone()),
            b.clone(),
            Duration::from_secs(1),
        )?;
        assert!(!table.cancel(&b, n));
        assert!(table.cancel(&a, n));
        assert!(table.take(n).is_none());
        assert_ne!(
            table.register(
                Requester::Component(a.clone()),
                b.clone(),
                Duration::from_secs(1)
            )?,
            n
        );
        assert_eq!(table.take_for_target(&b).len(), 1);
        assert_eq!(table.pending(), 0);
        Ok(())
    }

    #[tokio::test]
    async fn huge_timeouts_are_clamped_and_answered_entries_disarm_their_timer() {
        let (table, mut rx) = Correlations::new(Arc::default(), Duration::from_secs(30));
        let a: ComponentId = "t/a/1".parse().unwrap_or_else(|e| panic!("{e}"));
        let n = table
            .register(Requester::Component(a.clone()), a.clone(), Duration::MAX)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(rx.recv().await, Some(Timer::Arm(m, t)) if m == n && t == Duration::from_secs(30))
        );
        assert!(table.take(n).is_some());
        assert!(matches!(rx.recv().await, Some(Timer::Disarm(m)) if m == n));
        // A timer task that is gone refuses the request instead of losing its deadline.
        drop(rx);
        let refused = table.register(Requester::Component(a.clone()), a, Duration::from_secs(1));
        assert!(
            matches!(refused, Err(MessagingError::DeliveryFailed(_))),
            "{refused:?}"
        );
        assert_eq!(table.pending(), 0);
    }
}
