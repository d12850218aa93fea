//! What the embedder reads of a running system: events, components, counters, idleness.

use tokio::sync::broadcast;
use wasm_core::{ComponentId, ComponentInfo};
use wasm_runtime::WasmEngine;
use wasm_security::MemoryAuditLog;

use crate::events::SystemEvent;
use crate::registry::ComponentRegistry;
use crate::router::Router;
use crate::shard::Seat;
use crate::spec::ComponentSpec;
use crate::stats::SystemStats;
use crate::usage::ComponentStatus;

use super::ActorSystem;

impl ActorSystem {
    /// Subscribes to system events from now on.
    pub fn events(&self) -> broadcast::Receiver<SystemEvent> {
        self.ctx.events.subscribe()
    }

    /// The registry of running components.
    pub fn registry(&self) -> &ComponentRegistry {
        &self.ctx.registry
    }

    /// What is known about a running component.
    pub fn info(&self, id: &ComponentId) -> Option<ComponentInfo> {
        self.ctx.registry.get(id).map(|slot| slot.info())
    }

    /// The spec a running component was started from, with the code, grants, limits and
    /// config it runs with now (an upgrade replaces those).
    pub fn spec(&self, id: &ComponentId) -> Option<ComponentSpec> {
        let slot = self.ctx.registry.get(id)?;
        let version = slot.version();
        let mut spec = slot.spec.clone();
        spec.component = version.code.clone();
        spec.grants = version.grants.clone();
        spec.limits = version.limits;
        spec.config_data = version.config_data.clone();
        Some(spec)
    }

    /// Everything known about a running component: state, mailbox, counts, grants.
    pub fn status(&self, id: &ComponentId) -> Option<ComponentStatus> {
        let slot = self.ctx.registry.get(id)?;
        Some(ComponentStatus {
            info: slot.info(),
            state: slot.usage.state(),
            queued: slot.mailbox.len(),
            capacity: slot.mailbox.capacity(),
            stats: slot.usage.snapshot(),
            grants: slot.version().grants.clone(),
            shard: slot.seat.as_ref().map(Seat::index),
        })
    }

    /// The audit log of capability decisions.
    pub fn audit(&self) -> &MemoryAuditLog {
        &self.ctx.audit.log
    }

    /// The router (counters of late replies and pending requests).
    pub fn router(&self) -> &Router {
        &self.ctx.router
    }

    /// What the system has done so far; cheap (a few atomic loads and one short lock).
    pub fn stats(&self) -> SystemStats {
        let pending = self.ctx.router.pending_requests();
        SystemStats {
            pending_requests: u64::try_from(pending).unwrap_or(u64::MAX),
            ..self.ctx.counters.snapshot()
        }
    }

    /// Whether nothing is in flight: every mailbox is empty, no component is in a call
    /// (`handle-message`, `handle-callback`, `health`) and no request is pending.
    ///
    /// A component waiting out its restart backoff with an empty mailbox counts as idle.
    pub fn is_idle(&self) -> bool {
        self.ctx.counters.is_idle()
    }

    /// Resolves when the system is idle (see [`ActorSystem::is_idle`]). It is woken by the
    /// last piece of work ending, with no polling. A pending request keeps the system busy
    /// until it is answered, cancelled or times out.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future has no effect on the system.
    pub async fn wait_idle(&self) {
        self.ctx.counters.wait_idle().await;
    }

    /// The engine components run on.
    pub fn engine(&self) -> &WasmEngine {
        &self.ctx.engine
    }

    /// The services this system's components reach (its router, directory, storage, clock
    /// and audit): for an instance run outside an actor, such as an HTTP handler's.
    pub fn host_services(&self) -> wasm_runtime::HostServices {
        self.ctx.services()
    }
}
