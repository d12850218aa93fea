//! `ComponentActor`: one component instance, draining its mailbox one message at a time.
//!
//! On start it instantiates from the compiled component, calls `initialize` and reads
//! `metadata`. A trap, limit or timeout while handling a message ends the actor with a
//! failure: the message is reported as a dead letter, a request among it gets a
//! `target-failed` callback, and the group supervisor decides about a restart. The mailbox is
//! not the actor's: it stays, with everything still queued, for the next instance.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;
use wasm_core::{ComponentConfig, ComponentMessage, ErrorCallback, HealthStatus};
use wasm_runtime::{ComponentInstance, InstanceSpec};

use crate::context::SystemContext;
use crate::events::SystemEvent;
use crate::mailbox::Envelope;
use crate::registry::Slot;
use crate::stats::bump;

/// How many envelopes one `Drain` handles before yielding to control messages.
const BATCH: usize = 64;

/// What a component actor's own (ractor) mailbox carries: wake-ups, not data.
#[derive(Debug)]
pub(crate) enum ActorMsg {
    /// The component's mailbox has envelopes.
    Drain,
    /// Time to poll `health`.
    HealthCheck,
}

/// The actor behaviour; all state is in [`ActorState`].
#[derive(Debug)]
pub(crate) struct ComponentActor;

#[derive(Debug)]
pub(crate) struct ActorArgs {
    pub(crate) slot: Arc<Slot>,
    pub(crate) ctx: Arc<SystemContext>,
}

#[derive(Debug)]
pub(crate) struct ActorState {
    slot: Arc<Slot>,
    ctx: Arc<SystemContext>,
    instance: ComponentInstance,
    _health: Option<AbortOnDrop>,
}

/// Stops the health-poll timer with the actor.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Actor for ComponentActor {
    type Msg = ActorMsg;
    type State = ActorState;
    type Arguments = ActorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ActorMsg>,
        args: ActorArgs,
    ) -> Result<ActorState, ActorProcessingErr> {
        let ActorArgs { slot, ctx } = args;
        let spec = InstanceSpec {
            capabilities: slot.caps.clone(),
            services: ctx.services(),
            limits: slot.spec.limits,
        };
        let mut instance =
            ComponentInstance::instantiate(&ctx.engine, &slot.spec.component, spec).await?;
        let config = ComponentConfig {
            env_vars: slot.spec.grants.env.clone(),
            config_data: slot.spec.config_data.clone(),
            resource_limits: slot.spec.limits,
        };
        instance
            .initialize(&config)
            .await?
            .map_err(|e| format!("{}: initialize returned {e}", slot.id()))?;
        *slot.metadata.write() = Some(instance.metadata().await?);
        *slot.health.lock() = HealthStatus::Unknown;
        let health = ctx
            .config
            .health_interval
            .map(|every| AbortOnDrop(myself.send_interval(every, || ActorMsg::HealthCheck)));
        slot.mailbox.attach(myself.clone());
        ctx.events.publish(SystemEvent::Started {
            id: slot.id().clone(),
        });
        Ok(ActorState {
            slot,
            ctx,
            instance,
            _health: health,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<ActorMsg>,
        message: ActorMsg,
        state: &mut ActorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ActorMsg::Drain => state.drain(&myself).await,
            ActorMsg::HealthCheck => state.check_health().await,
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ActorMsg>,
        state: &mut ActorState,
    ) -> Result<(), ActorProcessingErr> {
        state.slot.mailbox.detach();
        state._health = None;
        if state.instance.poisoned().is_none() {
            let deadline = state.ctx.config.shutdown_deadline;
            match state.instance.shutdown(deadline).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(component = %state.slot.id(), error = %e, "shutdown returned an error")
                }
                Err(e) => {
                    tracing::warn!(component = %state.slot.id(), error = %e, "shutdown failed")
                }
            }
        }
        Ok(())
    }
}

impl ActorState {
    async fn drain(&mut self, myself: &ActorRef<ActorMsg>) -> Result<(), ActorProcessingErr> {
        for _ in 0..BATCH {
            // Taken before the pop: the system is never idle between queue and call.
            let _call = self.ctx.counters.unit();
            match self.slot.mailbox.pop() {
                Some(envelope) => self.process(envelope).await?,
                None if self.slot.mailbox.idle() => return Ok(()),
                None => {}
            }
        }
        // Let stop and health messages in, then carry on.
        myself
            .send_message(ActorMsg::Drain)
            .map_err(|e| format!("cannot reschedule draining: {e}"))?;
        Ok(())
    }

    async fn process(&mut self, envelope: Envelope) -> Result<(), ActorProcessingErr> {
        let router = &self.ctx.router.inner;
        match envelope {
            Envelope::Message { message, request } => {
                let result = self.instance.handle_message(&message).await;
                if result.is_ok() {
                    bump(&self.ctx.counters.messages_handled);
                }
                match (result, request) {
                    (Ok(Ok(reply)), Some(n)) => router.complete(n, Ok(reply.unwrap_or_default())),
                    (Ok(Err(error)), Some(n)) => {
                        router.complete(n, Err(ErrorCallback::ErrorReply(error.to_string())));
                    }
                    (Ok(Ok(_)), None) => {}
                    (Ok(Err(error)), None) => {
                        tracing::debug!(component = %self.slot.id(), %error, "handle-message returned an error");
                    }
                    (Err(error), request) => {
                        let reason = error.to_string();
                        if let Some(n) = request {
                            router.fail(n, ErrorCallback::TargetFailed(reason.clone()));
                        }
                        return Err(self.dead_letter(message, reason));
                    }
                }
            }
            Envelope::Callback(message) => match self.instance.handle_callback(&message).await {
                Ok(Ok(())) => bump(&self.ctx.counters.callbacks_handled),
                Ok(Err(error)) => {
                    bump(&self.ctx.counters.callbacks_handled);
                    tracing::debug!(component = %self.slot.id(), %error, "handle-callback returned an error");
                }
                Err(error) => return Err(self.dead_letter(message, error.to_string())),
            },
        }
        Ok(())
    }

    /// Reports the message that was being handled when the instance failed.
    fn dead_letter(&self, message: ComponentMessage, reason: String) -> ActorProcessingErr {
        self.ctx.events.publish(SystemEvent::DeadLetter {
            target: self.slot.id().clone(),
            sender: message.sender,
            payload: message.payload,
            reason: reason.clone(),
        });
        reason.into()
    }

    async fn check_health(&mut self) -> Result<(), ActorProcessingErr> {
        let _call = self.ctx.counters.unit();
        let status = self.instance.health().await?;
        *self.slot.health.lock() = status;
        if status == HealthStatus::Unhealthy {
            return Err(format!("{} reported unhealthy", self.slot.id()).into());
        }
        Ok(())
    }
}
