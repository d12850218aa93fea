//! What every actor of a system shares.

use std::sync::Arc;
use std::time::Duration;

use wasm_core::{ComponentDirectory, ComponentId, ComponentInfo, StorageBackend, SystemClock};
use wasm_runtime::{HostServices, WasmEngine};

use crate::delivery::Delivery;
use crate::events::{EventAudit, EventBus};
use crate::registry::ComponentRegistry;
use crate::router::Router;
use crate::seam::RemoteLink;
use crate::shard::Shards;
use crate::stats::Counters;

/// Settings of an actor system.
#[derive(Debug, Clone)]
pub struct SystemConfig {
    /// The id the host itself uses as sender of its messages and requests.
    pub host_id: ComponentId,
    /// Mailbox capacity of components whose spec sets none.
    pub mailbox_capacity: usize,
    /// How often each component's `health` export is polled; `None` for never.
    pub health_interval: Option<Duration>,
    /// How long a component's `shutdown` export may take when it is stopped.
    pub shutdown_deadline: Duration,
    /// How many events a slow subscriber may lag behind before it loses the oldest.
    pub event_capacity: usize,
    /// How many audit events are kept in memory.
    pub audit_capacity: usize,
    /// The longest request timeout; a longer one (a guest may ask for `u64::MAX` ms) is
    /// clamped to it. Default 5 minutes; at most one year is ever used.
    pub max_request_timeout: Duration,
    /// Per-message observability: each component's handle counts, error kinds, duration
    /// histogram, CPU time and memory ([`crate::ActorSystem::status`]), and one `tracing`
    /// span per handled message with its trace context. On by default; off, only the
    /// system-wide counters ([`crate::SystemStats`]) are kept, for the last few percent of
    /// throughput on very small messages.
    pub observe: bool,
    /// Joins traced spans to another tracing system (see [`crate::SpanLink`]); none by
    /// default.
    pub span_link: Option<Arc<dyn crate::SpanLink>>,
    /// Which threads component actors run on: by default one shard per core (see
    /// [`Placement::Shards`]).
    pub placement: Placement,
}

/// Which threads a system's component actors run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// On the tokio runtime each component was started from (the embedder's).
    Caller,
    /// On this many shards: threads of the system's own, each running a current-thread tokio
    /// runtime. A component stays on one shard for its life; it goes to the shard of the
    /// neighbour its spec names ([`crate::ComponentSpec::with_neighbour`]) if that one runs
    /// here, else to the shard carrying the fewest components. A conversation between
    /// neighbours then never leaves one thread, and independent components spread over the
    /// cores. Zero means one per core the machine offers.
    Shards(usize),
}

impl Placement {
    /// How many shards this asks for (`None` for [`Placement::Caller`]).
    pub(crate) fn shard_count(self) -> Option<usize> {
        match self {
            Placement::Caller => None,
            Placement::Shards(0) => {
                Some(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
            }
            Placement::Shards(n) => Some(n),
        }
    }
}

impl Default for SystemConfig {
    fn default() -> Self {
        Self {
            host_id: ComponentId::host(),
            mailbox_capacity: 1024,
            health_interval: None,
            shutdown_deadline: Duration::from_secs(1),
            event_capacity: 4096,
            audit_capacity: 4096,
            max_request_timeout: Duration::from_secs(300),
            observe: true,
            span_link: None,
            placement: Placement::Shards(0),
        }
    }
}

#[derive(Debug)]
pub(crate) struct SystemContext {
    pub(crate) engine: WasmEngine,
    pub(crate) config: SystemConfig,
    pub(crate) registry: Arc<ComponentRegistry>,
    pub(crate) router: Router,
    pub(crate) delivery: Arc<Delivery>,
    pub(crate) events: EventBus,
    pub(crate) audit: Arc<EventAudit>,
    pub(crate) storage: Arc<dyn StorageBackend>,
    pub(crate) directory: Arc<Directory>,
    pub(crate) counters: Arc<Counters>,
    /// The shards components are placed on; `None` for [`Placement::Caller`].
    pub(crate) shards: Option<Shards>,
}

impl SystemContext {
    /// The services a component instance's host functions reach.
    pub(crate) fn services(&self) -> HostServices {
        HostServices {
            router: Arc::new(self.router.clone()),
            directory: self.directory.clone(),
            storage: self.storage.clone(),
            clock: Arc::new(SystemClock),
            audit: self.audit.clone(),
        }
    }
}

/// `list-components` and `get-component-metadata`, served from the registry and, in a
/// cluster, from the transport's view of the other hosts.
#[derive(Debug)]
pub(crate) struct Directory {
    pub(crate) registry: Arc<ComponentRegistry>,
    pub(crate) remote: Option<Arc<dyn RemoteLink>>,
}

impl ComponentDirectory for Directory {
    fn components(&self) -> Vec<ComponentId> {
        let mut ids = self.registry.ids();
        if let Some(remote) = &self.remote {
            ids.extend(remote.components());
            ids.sort();
            ids.dedup();
        }
        ids
    }

    fn info(&self, id: &ComponentId) -> Option<ComponentInfo> {
        match self.registry.get(id) {
            Some(slot) => Some(slot.info()),
            None => self.remote.as_ref().and_then(|remote| remote.info(id)),
        }
    }
}
