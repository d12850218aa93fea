//! `ComponentSpawner`: creates a component's mailbox and registers it, starts actor instances
//! on it, and retires it (unregister, close, answer what was queued).

use std::sync::Arc;

use ractor::{Actor, ActorCell, ActorRef, SpawnErr};
use tokio::task::JoinHandle;
use wasm_core::ErrorCallback;
use wasm_security::CapabilitySet;

use crate::actor::{ActorArgs, ActorMsg, ComponentActor};
use crate::context::SystemContext;
use crate::error::{Error, Result, with_causes};
use crate::events::SystemEvent;
use crate::mailbox::Envelope;
use crate::registry::Slot;
use crate::spec::ComponentSpec;

/// A started component actor.
pub(crate) type Running = (ActorRef<ActorMsg>, JoinHandle<()>);

#[derive(Debug, Clone)]
pub(crate) struct ComponentSpawner {
    pub(crate) ctx: Arc<SystemContext>,
}

impl ComponentSpawner {
    /// Compiles the grants, creates the mailbox and registers the component.
    pub(crate) fn prepare(&self, spec: ComponentSpec) -> Result<Arc<Slot>> {
        let caps = CapabilitySet::compile(spec.id.clone(), &spec.grants).map_err(|source| {
            Error::Grants {
                component: spec.id.clone(),
                source: Box::new(source),
            }
        })?;
        let capacity = spec
            .mailbox_capacity
            .unwrap_or(self.ctx.config.mailbox_capacity);
        let slot = Arc::new(Slot::new(
            spec,
            Arc::new(caps),
            capacity,
            self.ctx.counters.clone(),
        ));
        if !self.ctx.registry.insert(slot.clone()) {
            return Err(Error::AlreadyRunning(slot.id().clone()));
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
        Actor::spawn_linked(None, ComponentActor, args, supervisor)
            .await
            .map_err(|e| match e {
                SpawnErr::StartupFailed(inner) => with_causes(inner.as_ref()),
                other => other.to_string(),
            })
    }

    /// Unregisters a component for good: later messages find no target, queued requests get
    /// `target-stopped` callbacks and queued messages become dead letters.
    pub(crate) fn retire(&self, slot: &Slot, reason: &str) {
        let id = slot.id().clone();
        self.ctx.registry.remove(&id);
        let router = &self.ctx.router.inner;
        for envelope in slot.mailbox.close() {
            match envelope {
                Envelope::Message {
                    request: Some(n), ..
                } => router.fail(n, ErrorCallback::TargetStopped),
                Envelope::Message { message, .. } | Envelope::Callback(message) => {
                    self.ctx.events.publish(SystemEvent::DeadLetter {
                        target: id.clone(),
                        sender: message.sender,
                        payload: message.payload,
                        reason: format!("{id} stopped: {reason}"),
                    });
                }
            }
        }
        router.fail_requests_to(&id, &ErrorCallback::TargetStopped);
        self.ctx.events.publish(SystemEvent::Stopped {
            id,
            reason: reason.to_owned(),
        });
    }
}
