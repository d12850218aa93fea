//! Request correlation: host-unique ids and the pending-request table with a deadline per
//! request, owned by delivery (its timer task, `timer.rs`, expires the deadlines).
//!
//! The deadlines live in the table, ordered, under the same lock as the requests: answering
//! or cancelling a request removes its deadline with it, and the timer task sleeps until the
//! earliest deadline. It is woken early only when a new request has an earlier deadline than
//! the one it sleeps until, so a request costs the timer task nothing in the common case.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};
use wasm_core::{ComponentId, CorrelationId, MessagingError, TraceContext};

use crate::seam::{Outcome, RemoteReply};
use crate::stats::{Counters, WorkUnit, bump};

/// Who waits for an answer.
#[derive(Debug)]
pub(crate) enum Requester {
    /// A component: the answer becomes its `handle-callback`.
    Component(ComponentId),
    /// The embedding host, awaiting a future.
    Host(oneshot::Sender<Outcome>),
    /// A component of another host: the answer goes back through the transport.
    Remote(Box<dyn RemoteReply>),
}

#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) requester: Requester,
    pub(crate) target: ComponentId,
    /// When it times out.
    pub(crate) deadline: Instant,
    /// The trace of the requesting span, carried by the callback.
    pub(crate) trace: Option<TraceContext>,
    /// Held until the request is answered (after its callback is queued) or dropped.
    pub(crate) _work: WorkUnit,
}

const PREFIX: &str = "req-";

/// The text form of a correlation number (one allocation, no `fmt` machinery: it is made
/// for every request and every callback).
pub(crate) fn format_id(n: u64) -> CorrelationId {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n);
    let mut text = String::with_capacity(PREFIX.len() + digits.len());
    text.push_str(PREFIX);
    text.push_str(digits);
    CorrelationId::new(text)
}

/// The correlation number of a text id, if it is one of ours.
pub(crate) fn parse_id(id: &CorrelationId) -> Option<u64> {
    id.as_str().strip_prefix(PREFIX)?.parse().ok()
}

#[derive(Debug)]
pub(crate) struct Correlations {
    next: AtomicU64,
    table: Mutex<Table>,
    timer: Arc<TimerSignal>,
    counters: Arc<Counters>,
    max_timeout: Duration,
}

/// The pending requests and their deadlines, under one lock.
#[derive(Debug, Default)]
struct Table {
    /// Keyed by correlation number, hashed with foldhash (SipHash costs more than the rest
    /// of an insert here, and the numbers are ours, not a caller's).
    pending: HashMap<u64, Pending, foldhash::fast::RandomState>,
    /// Every pending request's deadline, earliest first.
    deadlines: BTreeSet<(Instant, u64)>,
    /// When the timer task will next look at the deadlines; `None` while it waits for a
    /// first one. A new deadline earlier than this wakes it; any later one does not.
    timer_wakes_at: Option<Instant>,
}

/// Shared between the table and the timer task.
#[derive(Debug)]
pub(crate) struct TimerSignal {
    /// Wakes the timer task for a deadline earlier than the one it sleeps until.
    pub(super) earlier: Notify,
    /// Cleared when the timer task ends (shutdown): requests are then refused.
    pub(super) alive: AtomicBool,
}

/// The longest deadline accepted whatever the configuration says (tokio's timer wheel
/// covers about two years).
pub(crate) const TIMER_LIMIT: Duration = Duration::from_secs(365 * 24 * 3600);

impl Correlations {
    /// A table whose request timeouts are clamped to `max_timeout` (itself clamped to
    /// [`TIMER_LIMIT`]), and the signal its timer task ([`run_timers`]) listens to.
    pub(crate) fn new(counters: Arc<Counters>, max_timeout: Duration) -> (Self, Arc<TimerSignal>) {
        let timer = Arc::new(TimerSignal {
            earlier: Notify::new(),
            alive: AtomicBool::new(true),
        });
        let table = Self {
            next: AtomicU64::new(1),
            table: Mutex::new(Table::default()),
            timer: Arc::clone(&timer),
            counters,
            max_timeout: max_timeout.min(TIMER_LIMIT),
        };
        (table, timer)
    }

    /// Records a pending request with its deadline, clamped to the configured maximum. The
    /// timer task is woken only if this deadline is earlier than the one it sleeps until.
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
        self.register_traced(requester, target, timeout, None)
    }

    /// As [`Correlations::register`], keeping the requesting span's trace for the callback.
    pub(crate) fn register_traced(
        &self,
        requester: Requester,
        target: ComponentId,
        timeout: Duration,
        trace: Option<TraceContext>,
    ) -> Result<u64, MessagingError> {
        if !self.timer.alive.load(Ordering::Acquire) {
            tracing::error!("request timer task is gone; request refused");
            return Err(MessagingError::DeliveryFailed(
                "the request timer is not running (the system is shut down)".into(),
            ));
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let timeout = timeout.min(self.max_timeout);
        let deadline = now.checked_add(timeout).unwrap_or(now + TIMER_LIMIT);
        let pending = Pending {
            requester,
            target,
            deadline,
            trace,
            _work: self.counters.unit(),
        };
        let wake = {
            let mut table = self.table.lock();
            table.pending.insert(n, pending);
            table.deadlines.insert((deadline, n));
            let earlier = table.timer_wakes_at.is_none_or(|at| deadline < at);
            if earlier {
                table.timer_wakes_at = Some(deadline);
            }
            earlier
        };
        if wake {
            self.timer.earlier.notify_one();
        }
        Ok(n)
    }

    /// Removes a pending request (to answer or cancel it) with its deadline.
    pub(crate) fn take(&self, n: u64) -> Option<Pending> {
        self.table.lock().remove(n)
    }

    /// Removes the requests whose deadline is at or before `now`; returns them and the next
    /// deadline, which the timer task sleeps until.
    pub(crate) fn take_expired(&self, now: Instant) -> (Vec<(u64, Pending)>, Option<Instant>) {
        let mut table = self.table.lock();
        let mut expired = Vec::new();
        while let Some(&(deadline, n)) = table.deadlines.first() {
            if deadline > now {
                break;
            }
            if let Some(pending) = table.remove(n) {
                expired.push((n, pending));
            }
        }
        let next = table.deadlines.first().map(|&(deadline, _)| deadline);
        table.timer_wakes_at = next;
        (expired, next)
    }

    /// Removes a pending request if `requester` made it.
    pub(crate) fn cancel(&self, requester: &ComponentId, n: u64) -> bool {
        let mut table = self.table.lock();
        let owned = matches!(
            table.pending.get(&n),
            Some(Pending { requester: Requester::Component(id), .. }) if id == requester
        );
        if owned {
            table.remove(n);
        }
        owned
    }

    /// Removes every pending request whose target `gone` selects.
    pub(crate) fn take_where(&self, gone: impl Fn(&ComponentId) -> bool) -> Vec<(u64, Pending)> {
        self.take_matching(|pending| gone(&pending.target))
    }

    /// Removes every pending request that `matches` selects.
    pub(crate) fn take_matching(&self, matches: impl Fn(&Pending) -> bool) -> Vec<(u64, Pending)> {
        let mut table = self.table.lock();
        let ids: Vec<u64> = table
            .pending
            .iter()
            .filter(|(_, p)| matches(p))
            .map(|(n, _)| *n)
            .collect();
        ids.into_iter()
            .filter_map(|n| table.remove(n).map(|p| (n, p)))
            .collect()
    }

    /// Whether request `n` is pending.
    pub(crate) fn contains(&self, n: u64) -> bool {
        self.table.lock().pending.contains_key(&n)
    }

    /// Removes every pending request (at shutdown).
    pub(crate) fn take_all(&self) -> Vec<(u64, Pending)> {
        let mut table = self.table.lock();
        table.deadlines.clear();
        table.pending.drain().collect()
    }

    pub(crate) fn count_late(&self) {
        bump(&self.counters.late_replies);
    }

    pub(crate) fn late(&self) -> u64 {
        self.counters.late_replies.load(Ordering::Relaxed)
    }

    pub(crate) fn pending(&self) -> usize {
        self.table.lock().pending.len()
    }
}

impl Table {
    fn remove(&mut self, n: u64) -> Option<Pending> {
        let pending = self.pending.remove(&n)?;
        self.deadlines.remove(&(pending.deadline, n));
        Some(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_foreign_ids_are_rejected() {
        assert_eq!(parse_id(&format_id(42)), Some(42));
        assert_eq!(format_id(0).as_str(), "req-0");
        assert_eq!(format_id(u64::MAX).as_str(), "req-18446744073709551615");
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
        assert_eq!(table.take_where(|t| t == &b).len(), 1);
        assert_eq!(table.pending(), 0);
        Ok(())
    }

    #[test]
    fn huge_timeouts_are_clamped_and_answered_entries_leave_no_deadline() {
        let (table, signal) = Correlations::new(Arc::default(), Duration::from_secs(30));
        let a: ComponentId = "t/a/1".parse().unwrap_or_else(|e| panic!("{e}"));
        let before = Instant::now();
        let n = table
            .register(Requester::Component(a.clone()), a.clone(), Duration::MAX)
            .unwrap_or_else(|e| panic!("{e}"));
        let later = table
            .register(
                Requester::Component(a.clone()),
                a.clone(),
                Duration::from_secs(10),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        {
            let t = table.table.lock();
            let deadline = t.pending[&n].deadline;
            assert!(deadline <= Instant::now() + Duration::from_secs(30));
            assert!(deadline >= before + Duration::from_secs(30));
            // The 10 s request is due first: the timer was told to wake for it.
            assert_eq!(t.timer_wakes_at, Some(t.pending[&later].deadline));
        }
        assert!(table.take(n).is_some());
        assert!(table.take(later).is_some());
        assert!(table.table.lock().deadlines.is_empty());
        // Nothing expired yet, nothing left to wait for.
        let (expired, next) = table.take_expired(Instant::now());
        assert!(expired.is_empty());
        assert_eq!(next, None);
        // A timer task that is gone refuses the request instead of losing its deadline.
        drop(super::super::timer::Alive(signal));
        let refused = table.register(Requester::Component(a.clone()), a, Duration::from_secs(1));
        assert!(
            matches!(refused, Err(MessagingError::DeliveryFailed(_))),
            "{refused:?}"
        );
        assert_eq!(table.pending(), 0);
    }

    #[test]
    fn expired_requests_are_taken_in_deadline_order() {
        let (table, _signal) = Correlations::new(Arc::default(), Duration::from_secs(60));
        let a: ComponentId = "t/a/1".parse().unwrap_or_else(|e| panic!("{e}"));
        let register = |secs| {
            table
                .register(
                    Requester::Component(a.clone()),
                    a.clone(),
                    Duration::from_secs(secs),
                )
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let (late, early, middle) = (register(30), register(10), register(20));
        let (expired, next) = table.take_expired(Instant::now() + Duration::from_secs(25));
        let taken: Vec<u64> = expired.iter().map(|(n, _)| *n).collect();
        assert_eq!(taken, vec![early, middle]);
        assert_eq!(next, Some(table.table.lock().pending[&late].deadline));
        assert_eq!(table.pending(), 1);
    }
}
