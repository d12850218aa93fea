//! What the transport did, counted with relaxed atomics.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of what a host's cluster transport has done since it connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClusterStats {
    /// Messages sent to components on other hosts (sends, requests and broadcast fills).
    pub sent: u64,
    /// NATS messages published to other hosts' inboxes: each carries every frame queued for
    /// its host since the last (messages, credit, answers).
    pub bundles: u64,
    /// Messages sent again because the other host had not acknowledged them (after a lost
    /// connection); its host takes each once.
    pub resent: u64,
    /// Messages from other hosts taken in (each once).
    pub received: u64,
    /// Messages from other hosts that came twice (sent again) and were dropped the second time.
    pub duplicates: u64,
    /// Requests from other hosts not queued because their requester's deadline had passed.
    pub expired: u64,
    /// Messages refused because their sender id does not belong to the host that sent them.
    pub forged: u64,
    /// Answers dropped because they did not come from the host that was asked.
    pub misrouted: u64,
    /// Messages this host sent that another host lost with itself (its lease lapsed before
    /// it was done with them): each reported here as a dead letter.
    pub lost_with_host: u64,
    /// Messages dropped unhandled because their host incarnation had ended by the time they
    /// arrived (its successor reports them, if it lives).
    pub from_ended: u64,
    /// Lease renewals that the server took.
    pub renewals: u64,
    /// Times this host lost its lease (it then took its name and its ids again).
    pub leases_lost: u64,
    /// Directory watches started again because they had stopped behind their bucket.
    pub watch_restarts: u64,
    /// Room other hosts take now in this host's mailboxes: slots held for their credit and
    /// broadcast holds, and their messages queued there.
    pub held: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) sent: AtomicU64,
    pub(crate) bundles: AtomicU64,
    pub(crate) resent: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) forged: AtomicU64,
    pub(crate) misrouted: AtomicU64,
    pub(crate) lost_with_host: AtomicU64,
    pub(crate) from_ended: AtomicU64,
    pub(crate) renewals: AtomicU64,
    pub(crate) leases_lost: AtomicU64,
    pub(crate) watch_restarts: AtomicU64,
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    pub(crate) fn snapshot(&self) -> ClusterStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ClusterStats {
            sent: get(&self.sent),
            bundles: get(&self.bundles),
            resent: get(&self.resent),
            received: get(&self.received),
            duplicates: get(&self.duplicates),
            expired: get(&self.expired),
            forged: get(&self.forged),
            misrouted: get(&self.misrouted),
            lost_with_host: get(&self.lost_with_host),
            from_ended: get(&self.from_ended),
            renewals: get(&self.renewals),
            leases_lost: get(&self.leases_lost),
            watch_restarts: get(&self.watch_restarts),
            held: 0,
        }
    }
}
