//! The audit trail: every denial is a structured `tracing` event and an [`AuditEvent`] in a
//! sink the host can query.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use wasm_core::{ComponentId, Timestamp};

use crate::capability_set::{Capability, Denial};

/// Whether a check allowed or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The call was allowed.
    Allowed,
    /// The call was refused.
    Denied,
}

/// One audited decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When.
    pub time: Timestamp,
    /// Who asked.
    pub component: ComponentId,
    /// For what.
    pub capability: Capability,
    /// Towards what: a target id, `storage`, an address.
    pub resource: String,
    /// The outcome.
    pub decision: Decision,
}

/// Receives audit events.
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Records one event. Must not block for long: it runs inside host calls.
    fn record(&self, event: AuditEvent);
}

/// The last `capacity` audit events, in memory.
#[derive(Debug)]
pub struct MemoryAuditLog {
    capacity: usize,
    events: Mutex<VecDeque<AuditEvent>>,
    total: AtomicU64,
}

impl MemoryAuditLog {
    /// A log keeping at most `capacity` events (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            events: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            total: AtomicU64::new(0),
        }
    }

    /// The kept events, oldest first.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().iter().cloned().collect()
    }

    /// The kept denials of one component, oldest first.
    pub fn denials_of(&self, component: &ComponentId) -> Vec<AuditEvent> {
        self.events
            .lock()
            .iter()
            .filter(|e| e.decision == Decision::Denied && &e.component == component)
            .cloned()
            .collect()
    }

    /// How many events are kept.
    pub fn len(&self) -> usize {
        self.events.lock().len()
    }

    /// Whether no event is kept.
    pub fn is_empty(&self) -> bool {
        self.events.lock().is_empty()
    }

    /// How many events were ever recorded, evicted ones included.
    pub fn total_recorded(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

impl AuditSink for MemoryAuditLog {
    fn record(&self, event: AuditEvent) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut events = self.events.lock();
        if events.len() == self.capacity {
            events.pop_front();
        }
        events.push_back(event);
    }
}

/// Records a denial: a `tracing` warning (target `airssys::audit`) and an event in `sink`.
pub fn audit_denial(sink: &dyn AuditSink, component: &ComponentId, denial: Denial, resource: &str) {
    tracing::warn!(
        target: "airssys::audit",
        component = %component,
        capability = denial.capability.as_str(),
        resource,
        "capability denied"
    );
    sink.record(AuditEvent {
        time: Timestamp::now(),
        component: component.clone(),
        capability: denial.capability,
        resource: resource.to_owned(),
        decision: Decision::Denied,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::MessagingAction;

    fn id(text: &str) -> ComponentId {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_ring_keeps_the_last_events_and_counts_all() {
        let log = MemoryAuditLog::new(2);
        let denial = Denial {
            capability: Capability::Messaging(MessagingAction::Send),
        };
        for n in 0..5 {
            audit_denial(&log, &id("a/b/1"), denial, &format!("t/{n}/1"));
        }
        assert_eq!(log.len(), 2);
        assert_eq!(log.total_recorded(), 5);
        let resources: Vec<String> = log.events().into_iter().map(|e| e.resource).collect();
        assert_eq!(resources, vec!["t/3/1", "t/4/1"]);
        assert_eq!(log.denials_of(&id("a/b/1")).len(), 2);
        assert!(log.denials_of(&id("x/y/1")).is_empty());
        assert_eq!(log.events()[0].decision, Decision::Denied);
    }
}
