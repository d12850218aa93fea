//! What HTTP ingress counts, per route: requests by status, their durations (to the
//! response's head) and the requests in flight. The server owns the counters; `/metrics`
//! reads them at scrape time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use wasm_actor::DURATION_BUCKETS_NANOS;

/// The counters of one route.
#[derive(Debug)]
pub(crate) struct RouteStats {
    /// The route as written.
    pub(crate) route: String,
    pub(crate) in_flight: AtomicU64,
    by_status: Mutex<BTreeMap<u16, u64>>,
    /// Per bucket of [`DURATION_BUCKETS_NANOS`], and one more past the last.
    buckets: [AtomicU64; DURATION_BUCKETS_NANOS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A snapshot of one route's counters.
#[derive(Debug, Clone)]
pub(crate) struct RouteSnapshot {
    pub(crate) route: String,
    pub(crate) in_flight: u64,
    pub(crate) by_status: BTreeMap<u16, u64>,
    /// Counts per bucket (not cumulative), the last past the largest bound.
    pub(crate) buckets: Vec<u64>,
    pub(crate) sum: Duration,
}

impl RouteStats {
    pub(crate) fn new(route: &str) -> Self {
        Self {
            route: route.to_owned(),
            in_flight: AtomicU64::new(0),
            by_status: Mutex::new(BTreeMap::new()),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Counts a request in flight until the guard drops.
    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Counts an answered request.
    pub(crate) fn answered(&self, status: u16, took: Duration) {
        *self.by_status.lock().entry(status).or_insert(0) += 1;
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let bucket = DURATION_BUCKETS_NANOS
            .iter()
            .position(|bound| nanos <= *bound)
            .unwrap_or(DURATION_BUCKETS_NANOS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RouteSnapshot {
        RouteSnapshot {
            route: self.route.clone(),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            by_status: self.by_status.lock().clone(),
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            sum: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)),
        }
    }
}

/// A request in flight on a route.
pub(crate) struct InFlight<'a>(&'a RouteStats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
