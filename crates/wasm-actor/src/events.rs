//! System events the host can subscribe to, and the audit sink that feeds denials into them.

use std::sync::Arc;

use tokio::sync::broadcast;
use wasm_core::{ComponentId, MessagePayload};
use wasm_security::{AuditEvent, AuditSink, Decision, MemoryAuditLog};

use crate::registry::ComponentRegistry;
use crate::stats::{Counters, bump};
use crate::usage::ComponentState;

/// Something that happened in the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemEvent {
    /// A component instance started (first start or restart).
    Started {
        /// The component.
        id: ComponentId,
    },
    /// A component stopped for good (stopped by the host, or not restarted).
    Stopped {
        /// The component.
        id: ComponentId,
        /// Why.
        reason: String,
    },
    /// A component instance failed (trap, limit, timeout, `unhealthy`).
    Failed {
        /// The component.
        id: ComponentId,
        /// Why.
        reason: String,
    },
    /// A component was restarted by its supervisor.
    Restarted {
        /// The component.
        id: ComponentId,
        /// Restarts of its group within the current window, this one included.
        attempt: u32,
    },
    /// A message could not be handled and was dropped, with the reason.
    DeadLetter {
        /// The component it was addressed to.
        target: ComponentId,
        /// Its sender.
        sender: ComponentId,
        /// Its payload.
        payload: MessagePayload,
        /// Why it was not handled.
        reason: String,
    },
    /// A capability check refused a call.
    CapabilityDenied {
        /// The caller.
        component: ComponentId,
        /// The capability, e.g. `messaging.send`.
        capability: &'static str,
        /// What it tried to reach.
        resource: String,
    },
    /// Another host of the cluster was heard from for the first time (it joined or came back).
    HostUp {
        /// The host's name.
        host: String,
    },
    /// Another host of the cluster is gone; every request pending to its components was
    /// answered with an error callback.
    HostDown {
        /// The host's name.
        host: String,
        /// Why it is taken as gone (it left, its lease lapsed, or it came back as a new
        /// incarnation).
        reason: String,
    },
    /// A component switched to a new version of its code ([`crate::ActorSystem::upgrade`]);
    /// its mailbox, storage and pending callbacks went over to the new version.
    Upgraded {
        /// The component.
        id: ComponentId,
        /// The version it ran (its metadata's `version`).
        from: String,
        /// The version it runs now.
        to: String,
    },
    /// A supervision group exceeded its restart intensity and stopped.
    GroupFailed {
        /// The group.
        group: String,
        /// Why.
        reason: String,
    },
}

/// Publishes events to every subscriber. Publishing never blocks; a slow subscriber loses the
/// oldest events (tokio broadcast semantics) and is told how many it lost.
#[derive(Debug, Clone)]
pub(crate) struct EventBus {
    sender: broadcast::Sender<SystemEvent>,
    capacity: usize,
    counters: Arc<Counters>,
    registry: Arc<ComponentRegistry>,
}

impl EventBus {
    pub(crate) fn new(
        capacity: usize,
        counters: Arc<Counters>,
        registry: Arc<ComponentRegistry>,
    ) -> Self {
        let capacity = capacity.max(1);
        let (sender, _) = broadcast::channel(capacity);
        Self {
            sender,
            capacity,
            counters,
            registry,
        }
    }

    /// Publishes an event; counts restarts, dead letters and denials (for the system and
    /// for the component) and keeps the component's state.
    pub(crate) fn publish(&self, event: SystemEvent) {
        let slot = |id: &ComponentId| self.registry.get(id);
        match &event {
            SystemEvent::Started { id } | SystemEvent::Upgraded { id, .. } => {
                if let Some(slot) = slot(id) {
                    slot.usage.set_state(ComponentState::Running);
                }
            }
            SystemEvent::Failed { id, .. } => {
                if let Some(slot) = slot(id) {
                    slot.usage.set_state(ComponentState::Restarting);
                }
            }
            SystemEvent::Restarted { id, .. } => {
                bump(&self.counters.restarts);
                if let Some(slot) = slot(id) {
                    bump(&slot.usage.restarts);
                }
            }
            SystemEvent::DeadLetter { target, .. } => {
                bump(&self.counters.dead_letters);
                if let Some(slot) = slot(target) {
                    bump(&slot.usage.dead_letters);
                }
            }
            SystemEvent::CapabilityDenied {
                component,
                capability,
                ..
            } => {
                bump(&self.counters.capability_denials);
                if let Some(slot) = slot(component) {
                    slot.usage.denied(capability);
                }
            }
            _ => {}
        }
        tracing::debug!(?event, "system event");
        // The oldest event is overwritten when the channel is full: a subscriber that has not
        // read it loses it.
        if self.sender.receiver_count() > 0 && self.sender.len() >= self.capacity {
            bump(&self.counters.events_lost);
        }
        // No subscribers is fine: events are informational.
        let _ = self.sender.send(event);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<SystemEvent> {
        self.sender.subscribe()
    }
}

/// Keeps denials in an in-memory audit log and publishes them as events.
#[derive(Debug)]
pub(crate) struct EventAudit {
    pub(crate) log: Arc<MemoryAuditLog>,
    pub(crate) events: EventBus,
}

impl AuditSink for EventAudit {
    fn record(&self, event: AuditEvent) {
        if event.decision == Decision::Denied {
            self.events.publish(SystemEvent::CapabilityDenied {
                component: event.component.clone(),
                capability: event.capability.as_str(),
                resource: event.resource.clone(),
            });
        }
        self.log.record(event);
    }
}
