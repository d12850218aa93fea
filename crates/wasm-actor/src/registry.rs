//! The registry: component id to its slot (mailbox, compiled spec, metadata, health).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;
use wasm_core::{
    ComponentId, ComponentInfo, ComponentMessage, ComponentMetadata, HealthStatus, ResourceLimits,
};
use wasm_runtime::LoadedComponent;
use wasm_security::{CapabilitySet, Grants};

use crate::mailbox::Mailbox;
use crate::shard::Seat;
use crate::spec::ComponentSpec;
use crate::stats::Counters;
use crate::upgrade::{Upgrade, UpgradeError};
use crate::usage::ComponentCounters;

/// Everything about one registered component that outlives its actor instances.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The spec it was started with: its id, mailbox and restart policy hold for its life;
    /// the code, grants, limits and config of new instances are `version`'s.
    pub(crate) spec: ComponentSpec,
    pub(crate) mailbox: Mailbox,
    pub(crate) metadata: RwLock<Option<ComponentMetadata>>,
    pub(crate) health: Mutex<HealthStatus>,
    /// Set by the supervisor before it stops the instance: draining ends after the current
    /// message. Cleared when a new instance starts.
    pub(crate) stopping: AtomicBool,
    /// The envelope the instance is handling, if any: reported by the supervisor when the
    /// instance had to be killed in the middle of the call.
    pub(crate) in_flight: Mutex<Option<InFlight>>,
    /// What this component did (across its instances) and where it is in its life.
    pub(crate) usage: ComponentCounters,
    /// What new instances start from: the spec's until an upgrade replaces it.
    pub(crate) version: RwLock<Arc<Version>>,
    /// An upgrade waiting for the instance to take it between two messages.
    pub(crate) upgrade: Mutex<Option<PendingUpgrade>>,
    /// Set while `upgrade` holds one: the draining loop reads this flag, not the lock.
    pub(crate) upgrade_pending: AtomicBool,
    /// Its shard, with [`crate::Placement::Shards`]; given back when the slot drops.
    pub(crate) seat: Option<Seat>,
    /// Why it was evicted (another host of the cluster holds its id now): its supervisor
    /// retires it rather than restart it.
    pub(crate) evicted: Mutex<Option<String>>,
    /// Set once its first instance has told the cluster transport its name and version.
    pub(crate) announced: AtomicBool,
}

/// What a component's instances are made from; an upgrade replaces it as a whole.
#[derive(Debug)]
pub(crate) struct Version {
    pub(crate) code: LoadedComponent,
    pub(crate) grants: Grants,
    /// `grants`, compiled.
    pub(crate) caps: Arc<CapabilitySet>,
    pub(crate) limits: ResourceLimits,
    pub(crate) config_data: Option<Vec<u8>>,
}

impl Version {
    pub(crate) fn of(spec: &ComponentSpec, caps: Arc<CapabilitySet>) -> Self {
        Self {
            code: spec.component.clone(),
            grants: spec.grants.clone(),
            caps,
            limits: spec.limits,
            config_data: spec.config_data.clone(),
        }
    }
}

/// An upgrade handed to a component's instance.
#[derive(Debug)]
pub(crate) struct PendingUpgrade {
    pub(crate) version: Arc<Version>,
    pub(crate) done: oneshot::Sender<Result<Upgrade, UpgradeError>>,
}

/// A message (or callback, with no request) being handled.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub(crate) message: ComponentMessage,
    pub(crate) request: Option<u64>,
}

impl Slot {
    pub(crate) fn new(
        spec: ComponentSpec,
        caps: Arc<CapabilitySet>,
        capacity: usize,
        counters: Arc<Counters>,
        seat: Option<Seat>,
    ) -> Self {
        Self {
            seat,
            version: RwLock::new(Arc::new(Version::of(&spec, caps))),
            spec,
            mailbox: Mailbox::new(capacity, counters),
            metadata: RwLock::new(None),
            health: Mutex::new(HealthStatus::Unknown),
            stopping: AtomicBool::new(false),
            in_flight: Mutex::new(None),
            usage: ComponentCounters::default(),
            upgrade: Mutex::new(None),
            upgrade_pending: AtomicBool::new(false),
            evicted: Mutex::new(None),
            announced: AtomicBool::new(false),
        }
    }

    /// What new instances start from now.
    pub(crate) fn version(&self) -> Arc<Version> {
        self.version.read().clone()
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

/// How many independently locked parts the registry is split into. A lookup takes the read
/// lock of one part only, so lookups of different components from different cores do not
/// bounce one lock word between them.
const SHARDS: usize = 64;

type Shard = RwLock<HashMap<ComponentId, Arc<Slot>, foldhash::fast::RandomState>>;

/// Maps component ids to their slots. A lookup hashes the id's text (foldhash, seeded per
/// registry), takes the read lock of the one shard the hash picks and clones an `Arc`.
#[derive(Debug)]
pub struct ComponentRegistry {
    hasher: foldhash::fast::RandomState,
    shards: Box<[Shard]>,
}

impl Default for ComponentRegistry {
    fn default() -> Self {
        let hasher = foldhash::fast::RandomState::default();
        let shards = (0..SHARDS)
            .map(|_| RwLock::new(HashMap::with_hasher(hasher.clone())))
            .collect();
        Self { hasher, shards }
    }
}

impl ComponentRegistry {
    /// The ids of the registered components, sorted.
    pub fn ids(&self) -> Vec<ComponentId> {
        let mut ids: Vec<ComponentId> = self
            .shards
            .iter()
            .flat_map(|shard| shard.read().keys().cloned().collect::<Vec<_>>())
            .collect();
        ids.sort();
        ids
    }

    /// Whether a component is registered.
    pub fn contains(&self, id: &ComponentId) -> bool {
        self.shard(id).read().contains_key(id)
    }

    /// How many components are registered.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.read().len()).sum()
    }

    /// Whether no component is registered.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|shard| shard.read().is_empty())
    }

    /// How many messages and callbacks wait in a component's mailbox (not counting the one
    /// being handled); `None` if it is not registered.
    pub fn queued(&self, id: &ComponentId) -> Option<usize> {
        self.get(id).map(|slot| slot.mailbox.len())
    }

    fn shard(&self, id: &ComponentId) -> &Shard {
        use std::hash::BuildHasher;
        // The high bits: the map inside the shard uses the low ones of the same hash.
        let hash = self.hasher.hash_one(id);
        let index = usize::try_from(hash >> 58).unwrap_or(0) % SHARDS;
        &self.shards[index]
    }

    pub(crate) fn get(&self, id: &ComponentId) -> Option<Arc<Slot>> {
        self.shard(id).read().get(id).cloned()
    }

    /// Registers a slot; `false` if the id is taken.
    pub(crate) fn insert(&self, slot: Arc<Slot>) -> bool {
        let mut slots = self.shard(slot.id()).write();
        if slots.contains_key(slot.id()) {
            return false;
        }
        slots.insert(slot.id().clone(), slot);
        true
    }

    pub(crate) fn remove(&self, id: &ComponentId) -> Option<Arc<Slot>> {
        self.shard(id).write().remove(id)
    }

    /// Unregisters `slot` if it is the one registered under its id; whether it was.
    pub(crate) fn remove_slot(&self, slot: &Slot) -> bool {
        let mut slots = self.shard(slot.id()).write();
        let same = slots
            .get(slot.id())
            .is_some_and(|registered| std::ptr::eq(Arc::as_ptr(registered), slot));
        if same {
            slots.remove(slot.id());
        }
        same
    }
}
