//! `ComponentActor`: one component instance, draining its mailbox one message at a time.
//!
//! On start it instantiates from the compiled component, calls `initialize` and reads
//! `metadata`. A trap, limit or timeout while handling a message ends the actor with a
//! failure: the message is reported as a dead letter, a request among it gets a
//! `target-failed` callback, and the group supervisor decides about a restart. The mailbox is
//! not the actor's: it stays, with everything still queued, for the next instance.
//!
//! Draining is one long run of the actor: started by the one [`ActorMsg::Run`] the actor sends
//! itself, it handles envelopes while there are any and otherwise waits on the mailbox (or the
//! next health poll). It returns to ractor only to stop: when the slot's `stopping` flag is set
//! (the supervisor sets it and wakes the mailbox), or with a failure. A kill still interrupts
//! it at once: ractor races every handler against its kill signal.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use wasm_core::{ComponentConfig, ErrorCallback, HealthStatus};
use wasm_runtime::{ComponentInstance, InstanceSpec};

use crate::context::SystemContext;
use crate::events::SystemEvent;
use crate::mailbox::Envelope;
use crate::registry::{InFlight, Slot};
use crate::stats::bump;

/// How many envelopes are handled in a row before the actor yields to the other tasks of its
/// thread and looks whether a health poll is due. A stop does not wait for the batch: the
/// slot's `stopping` flag is checked before every envelope.
const BATCH: usize = 64;

/// What a component actor's own (ractor) mailbox carries: the one message that starts the
/// draining run. Envelopes stay in the component's mailbox.
#[derive(Debug)]
pub(crate) enum ActorMsg {
    /// Drain the component's mailbox until the actor is asked to stop.
    Run,
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
    /// When `health` is polled, if it is.
    health: Option<Interval>,
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
        let health = ctx.config.health_interval.map(|every| {
            let mut interval = tokio::time::interval_at(Instant::now() + every, every);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        });
        slot.stopping.store(false, Ordering::Release);
        myself
            .send_message(ActorMsg::Run)
            .map_err(|e| format!("{}: cannot start draining: {e}", slot.id()))?;
        ctx.events.publish(SystemEvent::Started {
            id: slot.id().clone(),
        });
        Ok(ActorState {
            slot,
            ctx,
            instance,
            health,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<ActorMsg>,
        message: ActorMsg,
        state: &mut ActorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ActorMsg::Run => state.run().await,
        }
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ActorMsg>,
        state: &mut ActorState,
    ) -> Result<(), ActorProcessingErr> {
        state.health = None;
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
    /// Handles envelopes until the slot is told to stop (or a call fails), waiting on the
    /// mailbox whenever it is empty.
    async fn run(&mut self) -> Result<(), ActorProcessingErr> {
        let mut in_a_row = 0;
        loop {
            // A stop takes effect after the current message: what is queued stays queued.
            if self.slot.stopping.load(Ordering::Acquire) {
                return Ok(());
            }
            // Taken before the pop: the system is never idle between queue and call.
            let call = self.ctx.counters.unit();
            if let Some(envelope) = self.slot.mailbox.pop() {
                self.process(envelope).await?;
                drop(call);
                in_a_row += 1;
                if in_a_row == BATCH {
                    in_a_row = 0;
                    tokio::task::yield_now().await;
                    if self.health_due().await {
                        self.check_health().await?;
                    }
                }
                continue;
            }
            drop(call);
            in_a_row = 0;
            match &mut self.health {
                Some(health) => {
                    tokio::select! {
                        biased;
                        () = self.slot.mailbox.woken() => {}
                        _ = health.tick() => self.check_health().await?,
                    }
                }
                None => self.slot.mailbox.woken().await,
            }
        }
    }

    /// Whether a health poll is due now (checked between batches of a busy mailbox). Never
    /// waits; a tick not yet due stays registered with the timer.
    async fn health_due(&mut self) -> bool {
        match &mut self.health {
            Some(health) => poll_fn(|cx| Poll::Ready(health.poll_tick(cx).is_ready())).await,
            None => false,
        }
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
        let delivery = &self.ctx.delivery;
        match outcome {
            Ok(result) => {
                bump(if callback {
                    &self.ctx.counters.callbacks_handled
                } else {
                    &self.ctx.counters.messages_handled
                });
                match (result, request) {
                    (Ok(reply), Some(n)) => delivery.complete(n, Ok(reply.unwrap_or_default())),
                    (Err(error), Some(n)) => {
                        delivery.complete(n, Err(ErrorCallback::ErrorReply(error.to_string())));
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
                delivery.failed_in_call(self.slot.id(), &message, request, &reason);
                Err(reason.into())
            }
        }
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
