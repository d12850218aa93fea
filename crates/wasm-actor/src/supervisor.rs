//! `GroupSupervisor`: starts a group's members in order, and on a member's failure applies
//! the group's strategy, restart policy, restart intensity and backoff.
//!
//! Failures arrive as ractor supervision events from the linked member actors. A restart
//! starts a new actor on the member's slot, which re-instantiates from the compiled
//! component and keeps the mailbox. Exceeding the intensity stops the whole group and
//! reports `GroupFailed`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ractor::{
    Actor, ActorId, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort, SupervisionEvent,
};
use tokio::task::JoinHandle;
use wasm_core::ComponentId;

use crate::context::SystemContext;
use crate::error::Error;
use crate::events::SystemEvent;
use crate::registry::{InFlight, Slot};
use crate::spawner::{ComponentSpawner, Running};
use crate::spec::{Intensity, RestartPolicy, Strategy};

/// Control messages of a group supervisor.
#[derive(Debug)]
pub(crate) enum GroupMsg {
    /// Start these members again (sent after the backoff delay).
    Restart(Vec<usize>),
    /// Stop one member for good; replies whether it was a member.
    StopMember(ComponentId, RpcReplyPort<bool>),
    /// Stop every member, then the supervisor.
    StopAll(RpcReplyPort<()>),
}

#[derive(Debug)]
pub(crate) struct GroupSupervisor;

#[derive(Debug)]
pub(crate) struct GroupArgs {
    pub(crate) name: String,
    pub(crate) strategy: Strategy,
    pub(crate) intensity: Intensity,
    pub(crate) slots: Vec<Arc<Slot>>,
    pub(crate) ctx: Arc<SystemContext>,
}

#[derive(Debug)]
struct Member {
    slot: Arc<Slot>,
    running: Option<Running>,
    retired: bool,
}

#[derive(Debug)]
pub(crate) struct GroupState {
    name: String,
    strategy: Strategy,
    intensity: Intensity,
    members: Vec<Member>,
    restarts: VecDeque<Instant>,
    spawner: ComponentSpawner,
    /// Restarts waiting out their backoff; aborted when the group stops.
    backoffs: Vec<JoinHandle<Result<(), MessagingErr<GroupMsg>>>>,
}

/// How a member's instance ended without the host asking.
#[derive(Debug)]
enum End {
    /// A trap, a limit, `unhealthy`, or a failed restart.
    Failed(String),
    /// It stopped by itself.
    Normal(String),
}

impl Actor for GroupSupervisor {
    type Msg = GroupMsg;
    type State = GroupState;
    type Arguments = GroupArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<GroupMsg>,
        args: GroupArgs,
    ) -> Result<GroupState, ActorProcessingErr> {
        let mut state = GroupState {
            name: args.name,
            strategy: args.strategy,
            intensity: args.intensity,
            members: args
                .slots
                .into_iter()
                .map(|slot| Member {
                    slot,
                    running: None,
                    retired: false,
                })
                .collect(),
            restarts: VecDeque::new(),
            spawner: ComponentSpawner { ctx: args.ctx },
            backoffs: Vec::new(),
        };
        for i in 0..state.members.len() {
            if let Err(reason) = state.start(&myself, i).await {
                let id = state.members[i].slot.id().clone();
                state.stop_all("the group failed to start").await;
                return Err(Box::new(Error::StartFailed {
                    component: id,
                    reason,
                }));
            }
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<GroupMsg>,
        message: GroupMsg,
        state: &mut GroupState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            GroupMsg::Restart(indices) => state.restart(&myself, indices).await,
            GroupMsg::StopMember(id, reply) => {
                let found = state.stop_member(&id).await;
                let _ = reply.send(found);
            }
            GroupMsg::StopAll(reply) => {
                state.stop_all("stopped by the host").await;
                let _ = reply.send(());
                myself.stop(None);
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<GroupMsg>,
        state: &mut GroupState,
    ) -> Result<(), ActorProcessingErr> {
        for backoff in state.backoffs.drain(..) {
            backoff.abort();
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<GroupMsg>,
        event: SupervisionEvent,
        state: &mut GroupState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                if let Some(i) = state.member_of(cell.get_id()) {
                    state.members[i].running = None;
                    state
                        .ended(&myself, i, End::Failed(error.to_string()))
                        .await;
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                // Members this supervisor stops are detached first, so this one ended
                // without the host asking: not a failure.
                if let Some(i) = state.member_of(cell.get_id()) {
                    state.members[i].running = None;
                    let reason = reason.unwrap_or_else(|| "ended on its own".into());
                    state.ended(&myself, i, End::Normal(reason)).await;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl GroupState {
    fn ctx(&self) -> &SystemContext {
        &self.spawner.ctx
    }

    fn member_of(&self, actor: ActorId) -> Option<usize> {
        self.members.iter().position(|m| {
            m.running
                .as_ref()
                .is_some_and(|(actor_ref, _)| actor_ref.get_id() == actor)
        })
    }

    async fn start(&mut self, myself: &ActorRef<GroupMsg>, i: usize) -> Result<(), String> {
        let slot = self.members[i].slot.clone();
        let running = self.spawner.start(&slot, myself.get_cell()).await?;
        self.members[i].running = Some(running);
        Ok(())
    }

    /// A member's instance ended without the host asking: apply its policy (see
    /// [`RestartPolicy`]), then the intensity and the strategy.
    async fn ended(&mut self, myself: &ActorRef<GroupMsg>, i: usize, end: End) {
        let policy = self.members[i].slot.spec.restart;
        match end {
            End::Failed(reason) => {
                let id = self.members[i].slot.id();
                tracing::warn!(group = %self.name, component = %id, %reason, "component failed");
                self.ctx().events.publish(SystemEvent::Failed {
                    id: id.clone(),
                    reason: reason.clone(),
                });
                if policy == RestartPolicy::Temporary {
                    self.retire(i, &format!("temporary component failed: {reason}"));
                } else {
                    self.failed(myself, i, reason).await;
                }
            }
            End::Normal(reason) => {
                if policy == RestartPolicy::Permanent {
                    self.failed(myself, i, reason).await;
                } else {
                    self.retire(i, &format!("ended normally: {reason}"));
                }
            }
        }
    }

    /// Restarts after a member ended: the intensity, then the strategy.
    async fn failed(&mut self, myself: &ActorRef<GroupMsg>, i: usize, reason: String) {
        let id = self.members[i].slot.id().clone();
        let now = Instant::now();
        self.restarts.push_back(now);
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.intensity.window)
        {
            self.restarts.pop_front();
        }
        let count = u32::try_from(self.restarts.len()).unwrap_or(u32::MAX);
        if count > self.intensity.max_restarts {
            let why = format!(
                "{} restarts within {:?} exceeded the limit of {} (last failure: {id}: {reason})",
                count, self.intensity.window, self.intensity.max_restarts
            );
            self.give_up(myself, why).await;
            return;
        }
        let live = |m: &Member| !m.retired;
        let affected: Vec<usize> = match self.strategy {
            Strategy::OneForOne => vec![i],
            Strategy::OneForAll => (0..self.members.len())
                .filter(|&j| live(&self.members[j]))
                .collect(),
            Strategy::RestForOne => (i..self.members.len())
                .filter(|&j| live(&self.members[j]))
                .collect(),
        };
        // Siblings stop in reverse start order; their mailboxes stay for the restart.
        for &j in affected.iter().rev() {
            self.stop_instance(j).await;
        }
        let delay = self.intensity.backoff(count);
        self.backoffs.retain(|h| !h.is_finished());
        self.backoffs
            .push(myself.send_after(delay, move || GroupMsg::Restart(affected)));
    }

    async fn restart(&mut self, myself: &ActorRef<GroupMsg>, indices: Vec<usize>) {
        let attempt = u32::try_from(self.restarts.len()).unwrap_or(u32::MAX);
        for i in indices {
            let member = &self.members[i];
            if member.retired || member.running.is_some() {
                continue;
            }
            let id = member.slot.id().clone();
            match self.start(myself, i).await {
                Ok(()) => self
                    .ctx()
                    .events
                    .publish(SystemEvent::Restarted { id, attempt }),
                Err(reason) => {
                    self.ended(myself, i, End::Failed(format!("restart failed: {reason}")))
                        .await;
                }
            }
        }
    }

    /// Stops a member's actor (graceful: `shutdown` runs) without retiring its slot.
    /// The stop takes effect after the message in hand; a member still busy after the
    /// deadline is killed, and the message it was handling is reported as a dead letter (its
    /// request, if any, is answered `target-failed`).
    async fn stop_instance(&mut self, i: usize) {
        if let Some((actor, handle)) = self.members[i].running.take() {
            let slot = self.members[i].slot.clone();
            slot.stopping.store(true, Ordering::Release);
            // The draining actor may be waiting on an empty mailbox: let it see the flag.
            slot.mailbox.wake();
            let deadline = self.ctx().config.shutdown_deadline.saturating_mul(2);
            if let Err(e) = actor.stop_and_wait(None, Some(deadline)).await {
                tracing::warn!(component = %slot.id(), error = %e, "member did not stop in time");
                actor.kill();
            }
            let _ = handle.await;
            let killed_in_call = slot.in_flight.lock().take();
            if let Some(InFlight { message, request }) = killed_in_call {
                let reason = format!(
                    "{} was killed: it did not stop within {deadline:?}",
                    slot.id()
                );
                self.ctx()
                    .delivery
                    .failed_in_call(slot.id(), &message, request, &reason);
            }
        }
    }

    fn retire(&mut self, i: usize, reason: &str) {
        if !self.members[i].retired {
            self.members[i].retired = true;
            self.spawner.retire(&self.members[i].slot, reason);
        }
    }

    async fn stop_member(&mut self, id: &ComponentId) -> bool {
        let Some(i) = self
            .members
            .iter()
            .position(|m| m.slot.id() == id && !m.retired)
        else {
            return false;
        };
        self.stop_instance(i).await;
        self.retire(i, "stopped by the host");
        true
    }

    async fn stop_all(&mut self, reason: &str) {
        for backoff in self.backoffs.drain(..) {
            backoff.abort();
        }
        for i in (0..self.members.len()).rev() {
            self.stop_instance(i).await;
            self.retire(i, reason);
        }
    }

    async fn give_up(&mut self, myself: &ActorRef<GroupMsg>, reason: String) {
        tracing::error!(group = %self.name, %reason, "supervision group stops");
        self.stop_all(&format!("group `{}` stopped: {reason}", self.name))
            .await;
        self.ctx().events.publish(SystemEvent::GroupFailed {
            group: self.name.clone(),
            reason: reason.clone(),
        });
        myself.stop(Some(reason));
    }
}
