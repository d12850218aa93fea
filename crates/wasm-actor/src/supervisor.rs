//! `GroupSupervisor`: supervises components, as one of two kinds.
//!
//! - A **group** starts its members in order and, on a member's failure, applies the
//!   group's strategy, restart policy, restart intensity and backoff. Exceeding the intensity
//!   stops the whole group and reports `GroupFailed`.
//! - A **shared supervisor** carries any number of standalone components (those started
//!   alone, each in a one-for-one group of its own named `component:<id>`), each with its own
//!   restart budget, so one actor supervises thousands of components instead of one actor
//!   each. The caller starts such a component's actor, linked here, and hands it over. A
//!   member that exceeds its budget is stopped alone and reported as `GroupFailed` of its own
//!   group; the others are not touched.
//!
//! Failures arrive as ractor supervision events from the linked member actors. A restart
//! starts a new actor on the member's slot, which re-instantiates from the compiled
//! component and keeps the mailbox.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use ractor::{
    Actor, ActorId, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort, SupervisionEvent,
};
use tokio::task::JoinHandle;
use wasm_core::ComponentId;

use crate::context::SystemContext;
use crate::error::Error;
use crate::events::SystemEvent;
use crate::registry::Slot;
use crate::spawner::{ComponentSpawner, Running};
use crate::spec::{Intensity, RestartPolicy, Strategy};

/// The name of the one-member group a component started alone runs in.
pub(crate) fn standalone_group(id: &ComponentId) -> String {
    format!("component:{id}")
}

/// Control messages of a supervisor.
#[derive(Debug)]
pub(crate) enum GroupMsg {
    /// Start these members again (index and serial; sent after the backoff delay).
    Restart(Vec<(usize, u64)>),
    /// Take over a registered standalone component, with its own restart budget, whose
    /// actor the caller has just started linked to this supervisor (so the start runs in the
    /// caller's task, not one after another in the supervisor's).
    Adopt(Arc<Slot>, Intensity, Running),
    /// Stop one member for good; replies whether it was a member.
    StopMember(ComponentId, RpcReplyPort<bool>),
    /// Stop every member, then the supervisor.
    StopAll(RpcReplyPort<()>),
}

/// What a supervisor carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// One group with this strategy and one restart budget for all its members.
    Group(Strategy),
    /// Standalone components, each restarted alone against its own budget.
    Shared,
}

#[derive(Debug)]
pub(crate) struct GroupSupervisor;

#[derive(Debug)]
pub(crate) struct GroupArgs {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) intensity: Intensity,
    pub(crate) slots: Vec<Arc<Slot>>,
    pub(crate) ctx: Arc<SystemContext>,
}

/// Restarts counted against an [`Intensity`].
#[derive(Debug)]
struct Budget {
    intensity: Intensity,
    restarts: VecDeque<Instant>,
}

impl Budget {
    fn new(intensity: Intensity) -> Self {
        Self {
            intensity,
            restarts: VecDeque::new(),
        }
    }

    /// Counts a restart at `now`; returns how many fall within the window.
    fn charge(&mut self, now: Instant) -> u32 {
        self.restarts.push_back(now);
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.intensity.window)
        {
            self.restarts.pop_front();
        }
        self.count()
    }

    fn count(&self) -> u32 {
        u32::try_from(self.restarts.len()).unwrap_or(u32::MAX)
    }
}

#[derive(Debug)]
struct Member {
    slot: Arc<Slot>,
    running: Option<Running>,
    retired: bool,
    /// Tells this member from a later one on the same index (a shared supervisor reuses
    /// the indices of members that left), so a stale restart does not start the new one.
    serial: u64,
    /// The member's own restart budget (shared supervisor); a group's members share one.
    budget: Option<Budget>,
}

#[derive(Debug)]
pub(crate) struct GroupState {
    name: String,
    kind: Kind,
    /// In start order; `None` where a standalone member left (its index is in `free`).
    members: Vec<Option<Member>>,
    free: Vec<usize>,
    by_id: HashMap<ComponentId, usize>,
    /// Kept until that actor's end arrives, also for instances this supervisor stopped
    /// (their end is then ignored); an actor not in it is one not yet adopted.
    by_actor: HashMap<ActorId, usize>,
    /// Ends of linked actors not adopted yet: ractor delivers supervision events before
    /// messages, so a member that fails at once can end before its `Adopt` is read.
    early: HashMap<ActorId, End>,
    next_serial: u64,
    /// The group's restart budget (unused by a shared supervisor).
    budget: Budget,
    spawner: ComponentSpawner,
    /// Restarts waiting out their backoff; aborted when the supervisor stops.
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
            kind: args.kind,
            members: Vec::with_capacity(args.slots.len()),
            free: Vec::new(),
            by_id: HashMap::new(),
            by_actor: HashMap::new(),
            early: HashMap::new(),
            next_serial: 0,
            budget: Budget::new(args.intensity),
            spawner: ComponentSpawner { ctx: args.ctx },
            backoffs: Vec::new(),
        };
        for slot in args.slots {
            state.insert(slot, None);
        }
        for i in 0..state.members.len() {
            if let Err(reason) = state.start(&myself, i).await {
                let id = state.slot(i).map(|s| s.id().clone());
                state.stop_all("the group failed to start").await;
                return Err(match id {
                    Some(component) => Box::new(Error::StartFailed { component, reason }),
                    None => reason.into(),
                });
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
            GroupMsg::Restart(targets) => state.restart(&myself, targets).await,
            GroupMsg::Adopt(slot, intensity, running) => {
                state.adopt(&myself, slot, intensity, running).await;
            }
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
        let (actor, end) = match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                (cell.get_id(), End::Failed(error.to_string()))
            }
            // Members this supervisor stops are no longer its running instance, so this one
            // ended without the host asking: not a failure.
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell.get_id(),
                End::Normal(reason.unwrap_or_else(|| "ended on its own".into())),
            ),
            _ => return Ok(()),
        };
        if matches!(state.kind, Kind::Shared) && !state.by_actor.contains_key(&actor) {
            state.early.insert(actor, end);
        } else if let Some(i) = state.detach(actor) {
            state.ended(&myself, i, end).await;
        }
        Ok(())
    }
}

impl GroupState {
    fn ctx(&self) -> &SystemContext {
        &self.spawner.ctx
    }

    /// The group a member belongs to, as operators know it: a standalone one's own.
    fn group_of(&self, id: &ComponentId) -> String {
        match self.kind {
            Kind::Group(_) => self.name.clone(),
            Kind::Shared => standalone_group(id),
        }
    }

    fn member(&self, i: usize) -> Option<&Member> {
        self.members.get(i).and_then(Option::as_ref)
    }

    fn member_mut(&mut self, i: usize) -> Option<&mut Member> {
        self.members.get_mut(i).and_then(Option::as_mut)
    }

    fn slot(&self, i: usize) -> Option<Arc<Slot>> {
        self.member(i).map(|m| m.slot.clone())
    }

    /// Adds a member (not started) on a free index; returns the index.
    fn insert(&mut self, slot: Arc<Slot>, budget: Option<Budget>) -> usize {
        let i = self.free.pop().unwrap_or_else(|| {
            self.members.push(None);
            self.members.len() - 1
        });
        self.next_serial += 1;
        self.by_id.insert(slot.id().clone(), i);
        self.members[i] = Some(Member {
            slot,
            running: None,
            retired: false,
            serial: self.next_serial,
            budget,
        });
        i
    }

    /// The member whose actor this was, no longer running.
    fn detach(&mut self, actor: ActorId) -> Option<usize> {
        let i = self.by_actor.remove(&actor)?;
        let member = self.member_mut(i)?;
        let was_it = member
            .running
            .as_ref()
            .is_some_and(|(actor_ref, _)| actor_ref.get_id() == actor);
        if was_it {
            member.running = None;
        }
        was_it.then_some(i)
    }

    /// Takes over a standalone component started by the caller; an end that came first is
    /// handled now, as if it came after.
    async fn adopt(
        &mut self,
        myself: &ActorRef<GroupMsg>,
        slot: Arc<Slot>,
        intensity: Intensity,
        running: Running,
    ) {
        let i = self.insert(slot, Some(Budget::new(intensity)));
        let actor = running.0.get_id();
        self.by_actor.insert(actor, i);
        if let Some(member) = self.member_mut(i) {
            member.running = Some(running);
        }
        if let Some(end) = self.early.remove(&actor)
            && self.detach(actor).is_some()
        {
            self.ended(myself, i, end).await;
        }
    }

    async fn start(&mut self, myself: &ActorRef<GroupMsg>, i: usize) -> Result<(), String> {
        let Some(slot) = self.slot(i) else {
            return Err(format!("member {i} of `{}` is gone", self.name));
        };
        let running = self.spawner.start(&slot, myself.get_cell()).await?;
        self.by_actor.insert(running.0.get_id(), i);
        if let Some(member) = self.member_mut(i) {
            member.running = Some(running);
        }
        Ok(())
    }

    /// A member's instance ended without the host asking: apply its policy (see
    /// [`RestartPolicy`]), then the intensity and the strategy.
    async fn ended(&mut self, myself: &ActorRef<GroupMsg>, i: usize, end: End) {
        let Some(slot) = self.slot(i) else { return };
        let policy = slot.spec.restart;
        match end {
            End::Failed(reason) => {
                let id = slot.id();
                tracing::warn!(group = %self.group_of(id), component = %id, %reason, "component failed");
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
                let evicted = slot.evicted.lock().clone();
                if let Some(why) = evicted {
                    self.retire(i, &format!("evicted: {why}"));
                } else if policy == RestartPolicy::Permanent {
                    self.failed(myself, i, reason).await;
                } else {
                    self.retire(i, &format!("ended normally: {reason}"));
                }
            }
        }
    }

    /// Restarts after a member ended: the intensity, then the strategy.
    async fn failed(&mut self, myself: &ActorRef<GroupMsg>, i: usize, reason: String) {
        let Some(member) = self.members.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        let id = member.slot.id().clone();
        let budget = member.budget.as_mut().unwrap_or(&mut self.budget);
        let count = budget.charge(Instant::now());
        let intensity = budget.intensity;
        if count > intensity.max_restarts {
            let why = format!(
                "{} restarts within {:?} exceeded the limit of {} (last failure: {id}: {reason})",
                count, intensity.window, intensity.max_restarts
            );
            match self.kind {
                Kind::Group(_) => self.give_up(myself, why).await,
                Kind::Shared => self.give_up_member(i, why),
            }
            return;
        }
        let live = |j: usize| self.member(j).is_some_and(|m| !m.retired);
        let affected: Vec<usize> = match self.kind {
            Kind::Shared | Kind::Group(Strategy::OneForOne) => vec![i],
            Kind::Group(Strategy::OneForAll) => {
                (0..self.members.len()).filter(|&j| live(j)).collect()
            }
            Kind::Group(Strategy::RestForOne) => {
                (i..self.members.len()).filter(|&j| live(j)).collect()
            }
        };
        // Siblings stop in reverse start order; their mailboxes stay for the restart.
        for &j in affected.iter().rev() {
            self.stop_instance(j).await;
        }
        let targets: Vec<(usize, u64)> = affected
            .iter()
            .filter_map(|&j| self.member(j).map(|m| (j, m.serial)))
            .collect();
        let delay = intensity.backoff(count);
        self.backoffs.retain(|h| !h.is_finished());
        self.backoffs
            .push(myself.send_after(delay, move || GroupMsg::Restart(targets)));
    }

    async fn restart(&mut self, myself: &ActorRef<GroupMsg>, targets: Vec<(usize, u64)>) {
        for (i, serial) in targets {
            let Some(member) = self.member(i) else {
                continue;
            };
            if member.serial != serial || member.retired || member.running.is_some() {
                continue;
            }
            let attempt = member.budget.as_ref().unwrap_or(&self.budget).count();
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
        let Some(member) = self.member_mut(i) else {
            return;
        };
        let Some(running) = member.running.take() else {
            return;
        };
        let slot = member.slot.clone();
        self.spawner.stop(&slot, running).await;
    }

    /// Unregisters a member for good (its instance has stopped). A shared supervisor then
    /// forgets it, so its index can carry the next standalone component.
    fn retire(&mut self, i: usize, reason: &str) {
        let Some(member) = self.members.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        if !member.retired {
            member.retired = true;
            self.spawner.retire(&member.slot, reason);
        }
        if matches!(self.kind, Kind::Shared)
            && let Some(gone) = self.members[i].take()
        {
            if self.by_id.get(gone.slot.id()) == Some(&i) {
                self.by_id.remove(gone.slot.id());
            }
            self.free.push(i);
        }
    }

    async fn stop_member(&mut self, id: &ComponentId) -> bool {
        let Some(&i) = self.by_id.get(id) else {
            return false;
        };
        if self.member(i).is_none_or(|m| m.retired) {
            return false;
        }
        self.stop_instance(i).await;
        self.retire(i, "stopped by the host");
        true
    }

    async fn stop_all(&mut self, reason: &str) {
        for backoff in self.backoffs.drain(..) {
            backoff.abort();
        }
        if matches!(self.kind, Kind::Shared) {
            // Independent components: their stops overlap (each still bounded by its own
            // deadline), so a host's shutdown waits for the slowest, not for the sum of the
            // hand-offs to their shards and back.
            let mut stops = tokio::task::JoinSet::new();
            for member in self.members.iter_mut().flatten() {
                if let Some(running) = member.running.take() {
                    let (spawner, slot) = (self.spawner.clone(), member.slot.clone());
                    stops.spawn(async move { spawner.stop(&slot, running).await });
                }
            }
            while let Some(stopped) = stops.join_next().await {
                if let Err(e) = stopped {
                    tracing::warn!(error = %e, "a component's stop did not finish");
                }
            }
        }
        for i in (0..self.members.len()).rev() {
            // A group's members stop one after another, the last started first.
            self.stop_instance(i).await;
            self.retire(i, reason);
        }
    }

    /// A group exceeded its intensity: every member stops, then the group.
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

    /// A standalone member exceeded its own budget: it stops for good, as its one-member
    /// group would have; the shared supervisor's other members are not touched.
    fn give_up_member(&mut self, i: usize, reason: String) {
        let Some(slot) = self.slot(i) else { return };
        let group = standalone_group(slot.id());
        tracing::error!(group = %group, %reason, "supervision group stops");
        self.retire(i, &format!("group `{group}` stopped: {reason}"));
        self.ctx()
            .events
            .publish(SystemEvent::GroupFailed { group, reason });
    }
}
