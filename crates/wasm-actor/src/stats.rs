//! Counters of what a system did, and the idle detector.
//!
//! Every counter is a relaxed atomic bumped on the hot path. Idleness is one atomic count of
//! outstanding work: each queued envelope, each actor call in progress and each pending
//! request is one unit. A hand-over always takes the new unit before it gives up the old one
//! (an actor keeps a popped envelope's unit until its call is over; a request's unit is given
//! up only after its callback is queued), so the count never touches zero while work is still
//! on its way. When it reaches zero, waiters are woken through a [`Notify`]: no polling.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// A snapshot of what a system has done since it was created.
///
/// Counters are read one after another without a global lock, so a snapshot taken while
/// messages flow may be a few events apart between fields; once the system is idle
/// ([`ActorSystem::wait_idle`](crate::ActorSystem::wait_idle)) it is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SystemStats {
    /// `handle-message` calls that returned (with a reply, no reply or an error), for
    /// messages and requests alike. A call that trapped is not counted.
    pub messages_handled: u64,
    /// `handle-callback` calls that returned. A call that trapped is not counted.
    pub callbacks_handled: u64,
    /// Requests answered: with the target's reply, or with an error callback (timeout, error
    /// reply, target failed, stopped, gone, shut down). A cancelled request is not answered.
    pub requests_answered: u64,
    /// Components restarted by their supervisors.
    pub restarts: u64,
    /// Messages reported as dead letters.
    pub dead_letters: u64,
    /// Capability checks that refused a call.
    pub capability_denials: u64,
    /// Replies dropped because their request had timed out or was cancelled.
    pub late_replies: u64,
    /// Requests waiting for an answer right now.
    pub pending_requests: u64,
    /// Events that at least one subscriber lost because it read too slowly (each was
    /// overwritten in a full event channel before it read it).
    pub events_lost: u64,
    /// Requests from other hosts not started because their requester's deadline had passed
    /// by the time they were taken from the mailbox (the requester had its timeout).
    pub remote_expired: u64,
    /// Messages from other hosts dropped unhandled when this host lost its cluster lease
    /// (their senders report them: they take this host's incarnation as ended).
    pub remote_dropped: u64,
}

/// The live counters behind [`SystemStats`], shared by every part of a system.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) messages_handled: AtomicU64,
    pub(crate) callbacks_handled: AtomicU64,
    pub(crate) requests_answered: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) dead_letters: AtomicU64,
    pub(crate) capability_denials: AtomicU64,
    pub(crate) late_replies: AtomicU64,
    pub(crate) events_lost: AtomicU64,
    pub(crate) remote_expired: AtomicU64,
    pub(crate) remote_dropped: AtomicU64,
    /// Queued envelopes + actor calls in progress + pending requests.
    work: AtomicUsize,
    idle: Notify,
}

/// Bumps a counter by one.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// The counters; `pending_requests` is left at 0 for the caller to fill in.
    pub(crate) fn snapshot(&self) -> SystemStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SystemStats {
            messages_handled: get(&self.messages_handled),
            callbacks_handled: get(&self.callbacks_handled),
            requests_answered: get(&self.requests_answered),
            restarts: get(&self.restarts),
            dead_letters: get(&self.dead_letters),
            capability_denials: get(&self.capability_denials),
            late_replies: get(&self.late_replies),
            pending_requests: 0,
            events_lost: get(&self.events_lost),
            remote_expired: get(&self.remote_expired),
            remote_dropped: get(&self.remote_dropped),
        }
    }

    /// Takes `n` units of work.
    pub(crate) fn add_work(&self, n: usize) {
        self.work.fetch_add(n, Ordering::AcqRel);
    }

    /// Gives up `n` units of work; wakes idle waiters when none is left.
    pub(crate) fn done_work(&self, n: usize) {
        if n == 0 {
            return;
        }
        if self.work.fetch_sub(n, Ordering::AcqRel) == n {
            self.idle.notify_waiters();
        }
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.work.load(Ordering::Acquire) == 0
    }

    /// Resolves once no work is outstanding.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered before the check, so a wake-up between check and await is not lost.
            notified.as_mut().enable();
            if self.is_idle() {
                return;
            }
            notified.await;
        }
    }

    /// One unit of work held until the guard is dropped.
    pub(crate) fn unit(self: &Arc<Self>) -> WorkUnit {
        self.add_work(1);
        WorkUnit(self.clone())
    }
}

/// A unit of work already taken (a popped envelope's), given up on drop.
#[derive(Debug)]
pub(crate) struct Held<'a>(&'a Counters);

impl<'a> Held<'a> {
    /// Takes over one unit of `counters` that is already counted.
    pub(crate) fn new(counters: &'a Counters) -> Self {
        Self(counters)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.done_work(1);
    }
}

/// One unit of outstanding work, given up on drop (also when the future holding it is
/// dropped, e.g. when an actor is killed in the middle of a call).
#[derive(Debug)]
pub(crate) struct WorkUnit(Arc<Counters>);

impl Drop for WorkUnit {
    fn drop(&mut self) {
        self.0.done_work(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_idle_resolves_when_the_last_unit_is_given_up() {
        let counters = Arc::new(Counters::default());
        assert!(counters.is_idle());
        counters.wait_idle().await;
        let first = counters.unit();
        let second = counters.unit();
        assert!(!counters.is_idle());
        let waiter = tokio::spawn({
            let counters = counters.clone();
            async move { counters.wait_idle().await }
        });
        drop(first);
        tokio::task::yield_now().await;
        assert!(!counters.is_idle());
        assert!(!waiter.is_finished());
        drop(second);
        waiter.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(counters.is_idle());
    }

    #[test]
    fn a_snapshot_reads_every_counter() {
        let counters = Counters::default();
        bump(&counters.messages_handled);
        bump(&counters.late_replies);
        bump(&counters.late_replies);
        let stats = counters.snapshot();
        assert_eq!((stats.messages_handled, stats.late_replies), (1, 2));
        assert_eq!(stats.restarts, 0);
    }
}
