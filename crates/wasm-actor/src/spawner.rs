//! `ComponentSpawner`: creates a component's mailbox and registers it, starts actor instances
//! on it, and retires it (unregister, close, answer what was queued).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ractor::{Actor, ActorCell, ActorRef, SpawnErr};
use tokio::task::JoinHandle;
use wasm_security::CapabilitySet;

use crate::actor::{ActorArgs, ActorMsg, ComponentActor};
use crate::context::SystemContext;
use crate::error::{Error, Result, with_causes};
use crate::events::SystemEvent;
use crate::registry::{InFlight, Slot};
use crate::shard::{Seat, on_shard};
use crate::spec::ComponentSpec;
use crate::usage::ComponentState;

/// A started component actor.
pub(crate) type Running = (ActorRef<ActorMsg>, JoinHandle<()>);

#[derive(Debug, Clone)]
pub(crate) struct ComponentSpawner {
    pub(crate) ctx: Arc<SystemContext>,
}

impl ComponentSpawner {
    /// Compiles the grants, creates the mailbox and registers the component (in a cluster,
    /// claims its id there too).
    pub(crate) async fn prepare(&self, spec: ComponentSpec) -> Result<Arc<Slot>> {
        let caps = CapabilitySet::compile(spec.id.clone(), &spec.grants).map_err(|source| {
            Error::Grants {
                component: spec.id.clone(),
                source: Box::new(source),
            }
        })?;
        let capacity = spec
            .mailbox_capacity
            .unwrap_or(self.ctx.config.mailbox_capacity);
        let seat = self.ctx.shards.as_ref().map(|shards| {
            let near = spec
                .neighbour
                .as_ref()
                .and_then(|n| self.ctx.registry.get(n))
                .and_then(|n| n.seat.as_ref().map(Seat::index));
            shards.place(near)
        });
        let slot = Arc::new(Slot::new(
            spec,
            Arc::new(caps),
            capacity,
            self.ctx.counters.clone(),
            seat,
        ));
        if !self.ctx.registry.insert(slot.clone()) {
            return Err(Error::AlreadyRunning(slot.id().clone()));
        }
        if let Some(remote) = self.ctx.delivery.remote()
            && let Err(reason) = remote.register(slot.id()).await
        {
            self.ctx.registry.remove(slot.id());
            return Err(Error::Claimed {
                component: slot.id().clone(),
                reason,
            });
        }
        Ok(slot)
    }

    /// Starts an actor instance on a registered slot, linked to `supervisor`.
    pub(crate) async fn start(
        &self,
        slot: &Arc<Slot>,
        supervisor: ActorCell,
    ) -> std::result::Result<Running, String> {
        let args = ActorArgs {
            slot: slot.clone(),
            ctx: self.ctx.clone(),
        };
        let spawn = Actor::spawn_linked(None, ComponentActor, args, supervisor);
        let shard = slot.seat.as_ref().and_then(|seat| {
            let shards = self.ctx.shards.as_ref()?;
            shards.handle(seat.index())
        });
        let started = match shard {
            Some(handle) => on_shard(handle, spawn).await,
            None => spawn.await,
        };
        started.map_err(|e| match e {
            SpawnErr::StartupFailed(inner) => with_causes(inner.as_ref()),
            other => other.to_string(),
        })
    }

    /// Stops an actor instance (graceful: `shutdown` runs) without retiring its slot. The
    /// stop takes effect after the message in hand; an instance still busy after twice the
    /// shutdown deadline is killed, and the message it was handling is reported as a dead
    /// letter (its request, if any, is answered `target-failed`).
    pub(crate) async fn stop(&self, slot: &Slot, (actor, handle): Running) {
        slot.stopping.store(true, Ordering::Release);
        // The draining actor may be waiting on an empty mailbox: let it see the flag.
        slot.mailbox.wake();
        let deadline = self.ctx.config.shutdown_deadline.saturating_mul(2);
        if let Err(e) = actor.stop_and_wait(None, Some(deadline)).await {
            tracing::warn!(component = %slot.id(), error = %e, "component did not stop in time");
            actor.kill();
        }
        let _ = handle.await;
        let killed_in_call = slot.in_flight.lock().take();
        if let Some(InFlight { message, request }) = killed_in_call {
            let reason = format!(
                "{} was killed: it did not stop within {deadline:?}",
                slot.id()
            );
            self.ctx
                .delivery
                .failed_in_call(slot.id(), &message, request, &reason);
        }
    }

    /// Unregisters a component for good: later messages find no target, queued requests get
    /// `target-stopped` callbacks and queued messages become dead letters.
    pub(crate) fn retire(&self, slot: &Slot, reason: &str) {
        slot.usage.set_state(ComponentState::Stopped);
        // An upgrade it never took is answered now (its sender dropped), not left waiting.
        drop(slot.upgrade.lock().take());
        self.ctx.delivery.retire(slot, reason);
        self.ctx.events.publish(SystemEvent::Stopped {
            id: slot.id().clone(),
            reason: reason.to_owned(),
        });
    }
}
