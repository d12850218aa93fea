//! `ComponentActor`: one component instance, draining its mailbox one message at a time.
//!
//! On start it instantiates from the compiled component, calls `initialize` and reads
//! `metadata`. A trap, limit or timeout while handling a message ends the actor with a
//! failure: the message is reported as a dead letter, a request among it gets a
//! `target-failed` callback, and the group supervisor decides about a restart. The mailbox is
//! not the actor's: it stays, with everything still queued, for the next instance.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;
use wasm_core::{ComponentConfig, ComponentMessage, ErrorCallback, HealthStatus};
use wasm_runtime::{ComponentInstance, InstanceSpec};

use crate::context::SystemContext;
use crate::events::SystemEvent;
use crate::mailbox::Envelope;
use crate::registry::{InFlight, Slot};
use crate::stats::bump;

/// How many envelopes one `Drain` handles before yielding to health checks. A stop does not
/// wait for the batch: the slot's `stopping` flag is checked before every envelope.
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
        slot.stopping.store(false, Ordering::Release);
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
            // A stop takes effect after the current message: what is queued stays queued.
            if self.slot.stopping.load(Ordering::Acquire) {
                return Ok(());
            }
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
        let (message, request, callback) = match envelope {
            Envelope::Message { message, request } => (Arc::new(message), request, false),
            Envelope::Callback(message) => (Arc::new(message), None, true),
        };
        // Kept where the supervisor finds it if this instance is killed mid-call.
        *self.slot.in_flight.lock() = Some(InFlight {
            message: message.clone(),
            request,
        });
        let outcome = if callback {
            self.instance
                .handle_callback(&message)
                .await
                .map(|r| r.map(|()| None))
        } else {
            self.instance.handle_message(&message).await
        };
        self.slot.in_flight.lock().take();
        let router = &self.ctx.router.inner;
        match outcome {
            Ok(result) => {
                bump(if callback {
                    &self.ctx.counters.callbacks_handled
                } else {
                    &self.ctx.counters.messages_handled
                });
                match (result, request) {
                    (Ok(reply), Some(n)) => router.complete(n, Ok(reply.unwrap_or_default())),
                    (Err(error), Some(n)) => {
                        router.complete(n, Err(ErrorCallback::ErrorReply(error.to_string())));
                    }
                    (Ok(_), None) => {}
                    (Err(error), None) => {
                        tracing::debug!(component = %self.slot.id(), %error, callback, "the component returned an error");
                    }
                }
                Ok(())
            }
            Err(error) => {
                let reason = error.to_string();
                if let Some(n) = request {
                    router.fail(n, ErrorCallback::TargetFailed(reason.clone()));
                }
                Err(self.dead_letter(&message, reason))
            }
        }
    }

    /// Reports the message that was being handled when the instance failed.
    fn dead_letter(&self, message: &ComponentMessage, reason: String) -> ActorProcessingErr {
        self.ctx.events.publish(SystemEvent::DeadLetter {
            target: self.slot.id().clone(),
            sender: message.sender.clone(),
            payload: message.payload.clone(),
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
