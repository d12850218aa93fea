//! Per-component counters: what one component did, for metrics and the admin inventory.
//!
//! Each component's slot owns one [`ComponentCounters`]; it outlives the component's instances,
//! so counts survive restarts and upgrades. Every count is a relaxed atomic written by the one
//! place that does the thing: the actor for calls (its counters have one writer, so a plain
//! load and store suffices), the event bus for restarts, dead letters and denials (atomic
//! adds). Nothing on the message path allocates or takes a lock.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use wasm_core::{ComponentInfo, WasmError};
use wasm_runtime::InstanceUsage;
use wasm_security::Grants;

/// Upper bounds (inclusive, in nanoseconds) of the handle-duration histogram's buckets; one
/// more bucket counts everything above the last.
pub const DURATION_BUCKETS_NANOS: [u64; 16] = [
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    100_000_000,
    500_000_000,
    1_000_000_000,
    5_000_000_000,
];

/// The kinds an error is counted under: the contract's `wasm-error` kinds a component
/// returns, and `trap` for a call that trapped. A call stopped by the host is counted as the
/// kind it would be reported as (`timeout`, `resource-limit-exceeded`).
pub const ERROR_KINDS: [&str; 8] = [
    "component-not-found",
    "instantiation-failed",
    "export-not-found",
    "timeout",
    "resource-limit-exceeded",
    "invalid-component",
    "runtime-error",
    "trap",
];

/// Where a component is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ComponentState {
    /// Being instantiated and initialized for the first time.
    Starting,
    /// An instance is running and draining the mailbox.
    Running,
    /// The instance failed; the supervisor is restarting it (its mailbox waits).
    Restarting,
    /// Stopped for good: by the host, or not restarted.
    Stopped,
}

impl ComponentState {
    /// The state's name: `starting`, `running`, `restarting` or `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentState::Starting => "starting",
            ComponentState::Running => "running",
            ComponentState::Restarting => "restarting",
            ComponentState::Stopped => "stopped",
        }
    }

    /// The state stored as `state as u8`.
    fn from_u8(n: u8) -> Self {
        [
            ComponentState::Starting,
            ComponentState::Running,
            ComponentState::Restarting,
            ComponentState::Stopped,
        ]
        .into_iter()
        .find(|s| *s as u8 == n)
        .unwrap_or(ComponentState::Starting)
    }
}

/// A snapshot of what one component did since it was first started.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComponentStats {
    /// `handle-message` calls that returned.
    pub messages_handled: u64,
    /// `handle-callback` calls that returned.
    pub callbacks_handled: u64,
    /// Requests to this component that were answered (its reply, its error, or its failure).
    pub requests_answered: u64,
    /// Errors by kind, one count per entry of [`ERROR_KINDS`], in that order.
    pub errors: [u64; ERROR_KINDS.len()],
    /// Times its supervisor restarted it.
    pub restarts: u64,
    /// Messages to it reported as dead letters.
    pub dead_letters: u64,
    /// Capability checks that refused it, by capability (sorted).
    pub capability_denials: Vec<(&'static str, u64)>,
    /// Handle-message and handle-callback durations: one count per bucket of
    /// [`DURATION_BUCKETS_NANOS`] plus one above the last (not cumulative).
    pub duration_buckets: [u64; DURATION_BUCKETS_NANOS.len() + 1],
    /// The sum of those durations.
    pub duration_sum: Duration,
    /// The guest's running time over all its instances.
    pub cpu_time: Duration,
    /// Bytes of the current instance's linear memories.
    pub memory_bytes: u64,
}

impl ComponentStats {
    /// How many calls the duration histogram holds.
    pub fn duration_count(&self) -> u64 {
        self.duration_buckets.iter().sum()
    }
}

/// Everything the host knows about one registered component, at one moment.
#[derive(Debug, Clone)]
pub struct ComponentStatus {
    /// Id, metadata (name, version) and health.
    pub info: ComponentInfo,
    /// Where it is in its life.
    pub state: ComponentState,
    /// Messages and callbacks waiting in its mailbox (not the one in hand).
    pub queued: usize,
    /// Its mailbox's capacity.
    pub capacity: usize,
    /// What it did so far.
    pub stats: ComponentStats,
    /// What it is allowed to do.
    pub grants: Grants,
    /// The shard it runs on, with [`crate::Placement::Shards`].
    pub shard: Option<usize>,
}

/// The live counters behind [`ComponentStats`].
#[derive(Debug, Default)]
pub(crate) struct ComponentCounters {
    state: AtomicU8,
    messages_handled: AtomicU64,
    callbacks_handled: AtomicU64,
    requests_answered: AtomicU64,
    errors: [AtomicU64; ERROR_KINDS.len()],
    pub(crate) restarts: AtomicU64,
    pub(crate) dead_letters: AtomicU64,
    denials: Mutex<Vec<(&'static str, u64)>>,
    buckets: [AtomicU64; DURATION_BUCKETS_NANOS.len() + 1],
    duration_sum_nanos: AtomicU64,
    /// CPU time of instances before the current one.
    cpu_before_nanos: AtomicU64,
    /// CPU time of the current instance.
    cpu_current_nanos: AtomicU64,
    memory_bytes: AtomicU64,
}

/// Adds to a counter that only the component's actor writes (one instance at a time, each
/// started after the last ended): a plain load and store, no locked read-modify-write.
/// Readers on other threads see each value whole (relaxed atomics), never a torn one.
fn add_owned(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl ComponentCounters {
    pub(crate) fn state(&self) -> ComponentState {
        ComponentState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn set_state(&self, state: ComponentState) {
        self.state.store(state as u8, Ordering::Release);
    }

    /// Records one call's usage (after every handle call of the instance).
    pub(crate) fn record_call(&self, usage: &InstanceUsage) {
        let took = nanos(usage.last_call);
        let bucket = DURATION_BUCKETS_NANOS
            .iter()
            .position(|&bound| took <= bound)
            .unwrap_or(DURATION_BUCKETS_NANOS.len());
        if let Some(count) = self.buckets.get(bucket) {
            add_owned(count, 1);
        }
        add_owned(&self.duration_sum_nanos, took);
        self.record_usage(usage);
    }

    /// Records an instance's totals (CPU time, memory) without counting a call.
    pub(crate) fn record_usage(&self, usage: &InstanceUsage) {
        self.cpu_current_nanos
            .store(nanos(usage.cpu_time), Ordering::Relaxed);
        self.memory_bytes
            .store(usage.memory_bytes, Ordering::Relaxed);
    }

    /// A new instance replaces the current one: its CPU time is carried into the total.
    pub(crate) fn new_instance(&self) {
        let current = self.cpu_current_nanos.swap(0, Ordering::Relaxed);
        self.cpu_before_nanos.fetch_add(current, Ordering::Relaxed);
        self.memory_bytes.store(0, Ordering::Relaxed);
    }

    /// Counts a handle call that returned.
    pub(crate) fn handled(&self, callback: bool) {
        let counter = if callback {
            &self.callbacks_handled
        } else {
            &self.messages_handled
        };
        add_owned(counter, 1);
    }

    /// Counts a request to it that was answered.
    pub(crate) fn answered(&self) {
        add_owned(&self.requests_answered, 1);
    }

    /// Counts an error the component returned.
    pub(crate) fn returned(&self, error: &WasmError) {
        let kind = match error {
            WasmError::ComponentNotFound(_) => 0,
            WasmError::InstantiationFailed(_) => 1,
            WasmError::ExportNotFound(_) => 2,
            WasmError::Timeout => 3,
            WasmError::ResourceLimitExceeded(_) => 4,
            WasmError::InvalidComponent(_) => 5,
            WasmError::RuntimeError(_) => 6,
        };
        self.count_error(kind);
    }

    /// Counts a call that failed in the runtime (trap, limit, timeout).
    pub(crate) fn failed(&self, error: &wasm_runtime::Error) {
        let kind = match error {
            wasm_runtime::Error::Timeout { .. } => 3,
            wasm_runtime::Error::LimitExceeded { .. } => 4,
            wasm_runtime::Error::Trapped { .. } => 7,
            _ => 6,
        };
        self.count_error(kind);
    }

    fn count_error(&self, kind: usize) {
        if let Some(count) = self.errors.get(kind) {
            add_owned(count, 1);
        }
    }

    /// Counts a capability check that refused the component.
    pub(crate) fn denied(&self, capability: &'static str) {
        let mut denials = self.denials.lock();
        match denials.iter_mut().find(|(name, _)| *name == capability) {
            Some((_, count)) => *count += 1,
            None => {
                denials.push((capability, 1));
                denials.sort_unstable();
            }
        }
    }

    pub(crate) fn snapshot(&self) -> ComponentStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ComponentStats {
            messages_handled: get(&self.messages_handled),
            callbacks_handled: get(&self.callbacks_handled),
            requests_answered: get(&self.requests_answered),
            errors: std::array::from_fn(|i| self.errors.get(i).map_or(0, get)),
            restarts: get(&self.restarts),
            dead_letters: get(&self.dead_letters),
            capability_denials: self.denials.lock().clone(),
            duration_buckets: std::array::from_fn(|i| self.buckets.get(i).map_or(0, get)),
            duration_sum: Duration::from_nanos(get(&self.duration_sum_nanos)),
            cpu_time: Duration::from_nanos(
                get(&self.cpu_before_nanos).saturating_add(get(&self.cpu_current_nanos)),
            ),
            memory_bytes: get(&self.memory_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(micros: u64) -> InstanceUsage {
        InstanceUsage {
            last_call: Duration::from_micros(micros),
            cpu_time: Duration::from_micros(micros),
            memory_bytes: 65_536,
        }
    }

    #[test]
    fn durations_fall_in_their_buckets_and_sum() {
        let counters = ComponentCounters::default();
        counters.record_call(&call(3));
        counters.record_call(&call(5));
        counters.record_call(&call(6));
        counters.record_call(&call(60_000_000));
        let stats = counters.snapshot();
        assert_eq!(stats.duration_buckets[0], 2, "3 us and 5 us are <= 5 us");
        assert_eq!(stats.duration_buckets[1], 1, "6 us is <= 10 us");
        assert_eq!(stats.duration_buckets[DURATION_BUCKETS_NANOS.len()], 1);
        assert_eq!(stats.duration_count(), 4);
        assert_eq!(stats.duration_sum, Duration::from_micros(60_000_014));
        assert_eq!(stats.memory_bytes, 65_536);
    }

    #[test]
    fn cpu_time_adds_up_over_instances() {
        let counters = ComponentCounters::default();
        counters.record_usage(&call(10));
        counters.new_instance();
        counters.record_usage(&call(7));
        assert_eq!(counters.snapshot().cpu_time, Duration::from_micros(17));
        assert_eq!(counters.snapshot().memory_bytes, 65_536);
    }

    #[test]
    fn errors_and_denials_are_counted_by_kind() {
        let counters = ComponentCounters::default();
        counters.returned(&WasmError::RuntimeError("x".into()));
        counters.returned(&WasmError::Timeout);
        counters.denied("storage.write");
        counters.denied("messaging.send");
        counters.denied("storage.write");
        let stats = counters.snapshot();
        assert_eq!(stats.errors[3], 1);
        assert_eq!(stats.errors[6], 1);
        assert_eq!(
            stats.capability_denials,
            vec![("messaging.send", 1), ("storage.write", 2)]
        );
    }

    #[test]
    fn the_state_reads_back() {
        let counters = ComponentCounters::default();
        assert_eq!(counters.state(), ComponentState::Starting);
        for state in [
            ComponentState::Running,
            ComponentState::Restarting,
            ComponentState::Stopped,
        ] {
            counters.set_state(state);
            assert_eq!(counters.state(), state);
        }
    }
}
