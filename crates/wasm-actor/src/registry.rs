//! The registry: component id to its slot (mailbox, compiled spec, metadata, health).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use parking_lot::{Mutex, RwLock};
use wasm_core::{ComponentId, ComponentInfo, ComponentMessage, ComponentMetadata, HealthStatus};
use wasm_security::CapabilitySet;

use crate::mailbox::Mailbox;
use crate::spec::ComponentSpec;
use crate::stats::Counters;

/// Everything about one registered component that outlives its actor instances.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) spec: ComponentSpec,
    pub(crate) caps: Arc<CapabilitySet>,
    pub(crate) mailbox: Mailbox,
    pub(crate) metadata: RwLock<Option<ComponentMetadata>>,
    pub(crate) health: Mutex<HealthStatus>,
    /// Set by the supervisor before it stops the instance: draining ends after the current
    /// message. Cleared when a new instance starts.
    pub(crate) stopping: AtomicBool,
    /// The envelope the instance is handling, if any: reported by the supervisor when the
    /// instance had to be killed in the middle of the call.
    pub(crate) in_flight: Mutex<Option<InFlight>>,
}

/// A message (or callback, with no request) being handled.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub(crate) message: Arc<ComponentMessage>,
    pub(crate) request: Option<u64>,
}

impl Slot {
    pub(crate) fn new(
        spec: ComponentSpec,
        caps: Arc<CapabilitySet>,
        capacity: usize,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            spec,
            caps,
            mailbox: Mailbox::new(capacity, counters),
            metadata: RwLock::new(None),
            health: Mutex::new(HealthStatus::Unknown),
            stopping: AtomicBool::new(false),
            in_flight: Mutex::new(None),
        }
    }

    pub(crate) fn id(&self) -> &ComponentId {
        &self.spec.id
    }

    pub(crate) fn info(&self) -> ComponentInfo {
        let metadata = self.metadata.read();
        ComponentInfo {
            id: self.spec.id.clone(),
            name: metadata
                .as_ref()
                .map(|m| m.name.clone())
                .unwrap_or_default(),
            version: metadata
                .as_ref()
                .map(|m| m.version.clone())
                .unwrap_or_default(),
            health: self.health.lock().as_str().to_owned(),
        }
    }
}

/// Maps component ids to their slots. A lookup takes a read lock, hashes the id's text once
/// (foldhash, seeded per registry) and clones an `Arc`.
#[derive(Debug, Default)]
pub struct ComponentRegistry {
    slots: RwLock<HashMap<ComponentId, Arc<Slot>, foldhash::fast::RandomState>>,
}

impl ComponentRegistry {
    /// The ids of the registered components, sorted.
    pub fn ids(&self) -> Vec<ComponentId> {
        let mut ids: Vec<ComponentId> = self.slots.read().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Whether a component is registered.
    pub fn contains(&self, id: &ComponentId) -> bool {
        self.slots.read().contains_key(id)
    }

    /// How many components are registered.
    pub fn len(&self) -> usize {
        self.slots.read().len()
    }

    /// Whether no component is registered.
    pub fn is_empty(&self) -> bool {
        self.slots.read().is_empty()
    }

    /// How many messages and callbacks wait in a component's mailbox (not counting the one
    /// being handled); `None` if it is not registered.
    pub fn queued(&self, id: &ComponentId) -> Option<usize> {
        self.get(id).map(|slot| slot.mailbox.len())
    }

    pub(crate) fn get(&self, id: &ComponentId) -> Option<Arc<Slot>> {
        self.slots.read().get(id).cloned()
    }

    /// Registers a slot; `false` if the id is taken.
    pub(crate) fn insert(&self, slot: Arc<Slot>) -> bool {
        let mut slots = self.slots.write();
        if slots.contains_key(slot.id()) {
            return false;
        }
        slots.insert(slot.id().clone(), slot);
        true
    }

    pub(crate) fn remove(&self, id: &ComponentId) -> Option<Arc<Slot>> {
        self.slots.write().remove(id)
    }
}
