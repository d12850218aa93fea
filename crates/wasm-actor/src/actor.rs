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
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use wasm_core::{
    ComponentConfig, ComponentMessage, ComponentMetadata, ErrorCallback, HealthStatus,
};
use wasm_runtime::{ComponentInstance, InstanceSpec};

use crate::context::SystemContext;
use crate::error::with_causes;
use crate::events::SystemEvent;
use crate::mailbox::Envelope;
use crate::registry::{InFlight, PendingUpgrade, Slot, Version};
use crate::stats::bump;
use crate::trace::observed;
use crate::upgrade::{Upgrade, UpgradeError};

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
        let version = slot.version();
        let (instance, metadata) =
            new_instance(&ctx, &version)
                .await
                .map_err(|e| match e.step {
                    "initialize" => format!("{}: initialize returned {}", slot.id(), e.reason),
                    _ => e.reason,
                })?;
        *slot.metadata.write() = Some(metadata);
        slot.usage.new_instance();
        slot.usage.record_usage(&instance.usage());
        *slot.health.lock() = HealthStatus::Unknown;
        // Other hosts of a cluster learn its name and version once, from its first instance.
        if !slot.announced.swap(true, Ordering::AcqRel)
            && let Some(remote) = ctx.delivery.remote()
        {
            remote.announce(slot.info());
        }
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
        myself: ActorRef<ActorMsg>,
        message: ActorMsg,
        state: &mut ActorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ActorMsg::Run => {
                state.run().await?;
                // Evicted (another host holds the id): the actor ends on its own, and its
                // supervisor retires it instead of restarting it.
                let evicted = state.slot.evicted.lock().clone();
                if let Some(reason) = evicted {
                    myself.stop(Some(reason));
                }
                Ok(())
            }
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

/// Instantiates `version` (its grants name the component), calls `initialize` and reads
/// `metadata`; an error names the step that failed.
async fn new_instance(
    ctx: &SystemContext,
    version: &Version,
) -> Result<(ComponentInstance, ComponentMetadata), UpgradeError> {
    let spec = InstanceSpec {
        capabilities: version.caps.clone(),
        services: ctx.services(),
        limits: version.limits,
    };
    let mut instance = ComponentInstance::instantiate(&ctx.engine, &version.code, spec)
        .await
        .map_err(|e| UpgradeError::at("instantiate", with_causes(&e)))?;
    let config = ComponentConfig {
        env_vars: version.grants.env.clone(),
        config_data: version.config_data.clone(),
        resource_limits: version.limits,
    };
    instance
        .initialize(&config)
        .await
        .map_err(|e| UpgradeError::at("initialize", with_causes(&e)))?
        .map_err(|e| UpgradeError::at("initialize", e))?;
    let metadata = instance
        .metadata()
        .await
        .map_err(|e| UpgradeError::at("metadata", with_causes(&e)))?;
    Ok((instance, metadata))
}

impl ActorState {
    /// Takes the pending upgrade: a new instance of the new code is built and initialized
    /// while the old one waits (no message is handled meanwhile); when both versions take
    /// part in the state hand-off, the old one's `save` goes to the new one's `restore`; then
    /// the new instance replaces the old. On any failure of the new version the old instance
    /// stays, untouched, and the caller is told which step failed. A `save` that fails has
    /// failed the old instance: that is returned, and the supervisor restarts it.
    async fn take_upgrade(&mut self) -> Result<(), ActorProcessingErr> {
        self.slot.upgrade_pending.store(false, Ordering::Release);
        let Some(PendingUpgrade { version, done }) = self.slot.upgrade.lock().take() else {
            return Ok(());
        };
        let _call = self.ctx.counters.unit();
        let from = self
            .slot
            .metadata
            .read()
            .as_ref()
            .map(|m| m.version.clone())
            .unwrap_or_default();
        let (mut next, metadata) = match new_instance(&self.ctx, &version).await {
            Ok(built) => built,
            Err(e) => {
                self.upgrade_failed(done, e);
                return Ok(());
            }
        };
        let mut handed_over = false;
        if self.instance.hands_off_state() && next.hands_off_state() {
            let state = match self.instance.save_state().await {
                Ok(state) => state.unwrap_or_default(),
                Err(e) => {
                    let reason = with_causes(&e);
                    self.upgrade_failed(done, UpgradeError::at("save", &reason));
                    return Err(reason.into());
                }
            };
            let restored = match next.restore_state(&state, &from).await {
                Ok(Some(Ok(()))) | Ok(None) => Ok(()),
                Ok(Some(Err(refused))) => Err(UpgradeError::at(
                    "restore",
                    format!("the new version refused the state: {refused}"),
                )),
                Err(e) => Err(UpgradeError::at("restore", with_causes(&e))),
            };
            if let Err(e) = restored {
                self.upgrade_failed(done, e);
                return Ok(());
            }
            handed_over = true;
        }
        let to = metadata.version.clone();
        self.instance = next;
        *self.slot.metadata.write() = Some(metadata);
        *self.slot.version.write() = version;
        if let Some(remote) = self.ctx.delivery.remote() {
            remote.announce(self.slot.info());
        }
        self.slot.usage.new_instance();
        self.slot.usage.record_usage(&self.instance.usage());
        self.ctx.events.publish(SystemEvent::Upgraded {
            id: self.slot.id().clone(),
            from: from.clone(),
            to: to.clone(),
        });
        tracing::info!(component = %self.slot.id(), %from, %to, handed_over, "component upgraded");
        // The caller may have given up waiting; the upgrade stands either way.
        let _ = done.send(Ok(Upgrade {
            from,
            to,
            state_handed_over: handed_over,
        }));
        Ok(())
    }

    fn upgrade_failed(
        &self,
        done: tokio::sync::oneshot::Sender<Result<Upgrade, UpgradeError>>,
        e: UpgradeError,
    ) {
        tracing::warn!(component = %self.slot.id(), step = e.step, reason = %e.reason, "upgrade failed; the old version keeps running");
        let _ = done.send(Err(e));
    }

    /// Handles envelopes until the slot is told to stop (or a call fails), waiting on the
    /// mailbox whenever it is empty.
    async fn run(&mut self) -> Result<(), ActorProcessingErr> {
        let mut in_a_row = 0;
        let slot = Arc::clone(&self.slot);
        loop {
            // A stop takes effect after the current message: what is queued stays queued.
            if self.slot.stopping.load(Ordering::Acquire) {
                return Ok(());
            }
            if self.slot.upgrade_pending.load(Ordering::Acquire) {
                self.take_upgrade().await?;
            }
            // In a cluster, past the lease this host holds, nothing is served: the call
            // waits until the lease is renewed (or the component is stopped).
            if let Some(fence) = self.ctx.delivery.fence()
                && !fence.open()
            {
                tokio::select! {
                    () = fence.moved() => {}
                    () = self.slot.mailbox.woken() => {}
                }
                continue;
            }
            // The envelope's unit of work is held through its call: the system is never idle
            // between queue and call.
            if let Some((envelope, held)) = slot.mailbox.pop() {
                self.process(envelope).await?;
                drop(held);
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
        let (message, request, callback, _receipt) = match envelope {
            Envelope::Message {
                request: Some(n),
                receipt: Some(_),
                ..
            } if !self.ctx.delivery.is_pending(n) => {
                // A request from another host whose deadline passed while it was queued: its
                // requester has had its timeout, so it is not started.
                bump(&self.ctx.counters.remote_expired);
                return Ok(());
            }
            Envelope::Message {
                message,
                request,
                receipt,
            } => {
                if let Some(receipt) = &receipt {
                    receipt.taken();
                }
                (message, request, false, receipt)
            }
            Envelope::Callback(message) => (message, None, true, None),
        };
        // Left where the supervisor finds it if this instance is killed mid-call.
        let in_call = InCall {
            slot: &self.slot,
            message: &message,
            request,
            returned: false,
        };
        let observe = self.ctx.config.observe;
        let instance = &mut self.instance;
        let outcome = {
            // Pinned here once: the span and the trace context wrap a pointer to the call, not
            // the call's (large) future itself, which is never moved.
            let mut call = pin!(async {
                if callback {
                    instance
                        .handle_callback(&message)
                        .await
                        .map(|r| r.map(|()| None))
                } else {
                    instance.handle_message(&message).await
                }
            });
            if observe {
                observed(
                    self.slot.id(),
                    &message,
                    request.is_some(),
                    callback,
                    self.ctx.config.span_link.as_deref(),
                    call.as_mut(),
                )
                .await
            } else {
                call.await
            }
        };
        in_call.finish();
        let usage = &self.slot.usage;
        if observe {
            usage.record_call(&self.instance.usage());
            if request.is_some() {
                usage.answered();
            }
        }
        let delivery = &self.ctx.delivery;
        match outcome {
            Ok(result) => {
                if callback {
                    bump(&self.ctx.counters.callbacks_handled);
                } else {
                    bump(&self.ctx.counters.messages_handled);
                }
                if observe {
                    usage.handled(callback);
                    if let Err(error) = &result {
                        usage.returned(error);
                    }
                }
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
                if observe {
                    usage.failed(&error);
                }
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

/// The call in progress. Dropped before [`InCall::finish`] (the actor killed mid-call: its
/// future dropped), it leaves a copy of the message in the slot's `in_flight`, where the
/// supervisor reports it; a call that returns costs no lock and no copy.
struct InCall<'a> {
    slot: &'a Slot,
    message: &'a ComponentMessage,
    request: Option<u64>,
    returned: bool,
}

impl InCall<'_> {
    /// The call returned: nothing is left for the supervisor.
    fn finish(mut self) {
        self.returned = true;
    }
}

impl Drop for InCall<'_> {
    fn drop(&mut self) {
        if !self.returned {
            *self.slot.in_flight.lock() = Some(InFlight {
                message: self.message.clone(),
                request: self.request,
            });
        }
    }
}
