//! Request correlation: host-unique ids, the pending-request table, and the timer that turns
//! expired requests into timeout callbacks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio_util::time::DelayQueue;
use wasm_core::{ComponentId, CorrelationId, ErrorCallback};

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
    timers: mpsc::UnboundedSender<(u64, Duration)>,
    counters: Arc<Counters>,
}

impl Correlations {
    pub(crate) fn new(counters: Arc<Counters>) -> (Self, mpsc::UnboundedReceiver<(u64, Duration)>) {
        let (timers, rx) = mpsc::unbounded_channel();
        let table = Self {
            next: AtomicU64::new(1),
            table: Mutex::new(HashMap::new()),
            timers,
            counters,
        };
        (table, rx)
    }

    /// Records a pending request and arms its deadline.
    pub(crate) fn register(
        &self,
        requester: Requester,
        target: ComponentId,
        timeout: Duration,
    ) -> u64 {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let pending = Pending {
            requester,
            target,
            _work: self.counters.unit(),
        };
        self.table.lock().insert(n, pending);
        // The timer task ends only at shutdown, after which no request is registered.
        let _ = self.timers.send((n, timeout));
        n
    }

    /// Removes a pending request (to answer, expire or cancel it).
    pub(crate) fn take(&self, n: u64) -> Option<Pending> {
        self.table.lock().remove(&n)
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
        ids.into_iter()
            .filter_map(|n| table.remove(&n).map(|p| (n, p)))
            .collect()
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
    mut requests: mpsc::UnboundedReceiver<(u64, Duration)>,
    router: Weak<RouterInner>,
) {
    let mut deadlines: DelayQueue<u64> = DelayQueue::new();
    loop {
        tokio::select! {
            next = requests.recv() => match next {
                Some((n, timeout)) => {
                    deadlines.insert(n, timeout);
                }
                None => break,
            },
            Some(expired) = std::future::poll_fn(|cx| deadlines.poll_expired(cx)), if !deadlines.is_empty() => {
                let Some(router) = router.upgrade() else { break };
                router.expire(expired.into_inner());
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
    fn only_the_requester_can_cancel() -> Result<(), wasm_core::Error> {
        let (table, _rx) = Correlations::new(Arc::default());
        let a: ComponentId = "t/a/1".parse()?;
        let b: ComponentId = "t/b/1".parse()?;
        let n = table.register(
            Requester::Component(a.clone()),
            b.clone(),
            Duration::from_secs(1),
        );
        assert!(!table.cancel(&b, n));
        assert!(table.cancel(&a, n));
        assert!(table.take(n).is_none());
        assert_ne!(
            table.register(
                Requester::Component(a.clone()),
                b.clone(),
                Duration::from_secs(1)
            ),
            n
        );
        assert_eq!(table.take_for_target(&b).len(), 1);
        assert_eq!(table.pending(), 0);
        Ok(())
    }
}
