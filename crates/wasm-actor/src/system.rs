//! The embedding API: start and stop components, message them from the host, watch events,
//! shut down.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{Actor, ActorRef, ActorStatus, MessagingErr, SpawnErr};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use wasm_core::{
    ComponentId, ComponentInfo, MessageRouter, MessagingError, Routed, StorageBackend, TraceContext,
};
use wasm_runtime::{LoadedComponent, WasmEngine};
use wasm_security::{CapabilitySet, MemoryAuditLog};

use crate::context::{Directory, SystemConfig, SystemContext};
use crate::delivery::Delivery;
use crate::delivery::{Correlations, run_timers};
use crate::error::{Error, Result, with_causes};
use crate::events::{EventAudit, EventBus, SystemEvent};
use crate::registry::{ComponentRegistry, PendingUpgrade, Slot, Version};
use crate::remote::RemoteTransport;
use crate::router::Router;
use crate::seam::RemoteLink;
use crate::shard::{Seat, ShardThreads, Shards};
use crate::spawner::ComponentSpawner;
use crate::spec::{ComponentSpec, GroupSpec, Intensity};
use crate::stats::{Counters, SystemStats};
use crate::supervisor::{GroupArgs, GroupMsg, GroupSupervisor, Kind, standalone_group};
use crate::upgrade::Upgrade;
use crate::usage::ComponentStatus;

/// How many shared supervisors carry the standalone components. Each serializes the starts,
/// stops and restarts of its members, so a few of them let those of different components
/// run side by side, while 100,000 components still cost a handful of supervisor actors.
const SHARED_SUPERVISORS: usize = 8;

#[derive(Debug)]
struct Group {
    actor: ActorRef<GroupMsg>,
    handle: JoinHandle<()>,
    members: Vec<ComponentId>,
}

/// A supervisor actor and its task.
type Supervisor = (ActorRef<GroupMsg>, JoinHandle<()>);

/// Runs components as supervised actors that message each other through bounded mailboxes.
///
/// Create it inside a tokio runtime (it starts the request-timeout task and the supervisors
/// there). By default the components themselves run on shard threads of the system's own
/// (see [`crate::Placement`]), which `shutdown` (or dropping the system) ends.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use wasm_actor::{ActorSystem, ComponentSpec, SystemConfig};
/// use wasm_runtime::{EngineConfig, MemoryStorage, WasmEngine};
///
/// let engine = WasmEngine::new(EngineConfig::default())?;
/// let echo = engine.loader().load_file("echo.wasm".as_ref())?;
/// let system = ActorSystem::new(engine, Arc::new(MemoryStorage::new()), SystemConfig::default());
/// let id = "demo/echo/1".parse()?;
/// system.start_component(ComponentSpec::new(id, echo)).await?;
/// let reply = system.request(&"demo/echo/1".parse()?, b"hi".to_vec(), Duration::from_secs(1)).await?;
/// assert_eq!(reply, b"hi");
/// system.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ActorSystem {
    ctx: Arc<SystemContext>,
    groups: tokio::sync::Mutex<HashMap<String, Group>>,
    /// The shared supervisors of standalone components, started when first needed.
    shared: Vec<tokio::sync::Mutex<Option<Supervisor>>>,
    timers: Mutex<Option<JoinHandle<()>>>,
    /// The shard threads, with [`crate::Placement::Shards`]: ended at shutdown (or drop).
    shard_threads: Mutex<Option<ShardThreads>>,
}

impl ActorSystem {
    /// A system with no components, running on `engine`, storing into `storage`.
    pub fn new(engine: WasmEngine, storage: Arc<dyn StorageBackend>, config: SystemConfig) -> Self {
        Self::build(engine, storage, config, None)
    }

    /// As [`ActorSystem::new`], with a transport for ids that are not registered here.
    pub fn with_remote(
        engine: WasmEngine,
        storage: Arc<dyn StorageBackend>,
        config: SystemConfig,
        remote: Arc<dyn RemoteTransport>,
    ) -> Self {
        Self::build(engine, storage, config, Some(remote))
    }

    fn build(
        engine: WasmEngine,
        storage: Arc<dyn StorageBackend>,
        config: SystemConfig,
        remote: Option<Arc<dyn RemoteTransport>>,
    ) -> Self {
        let counters = Arc::new(Counters::default());
        let registry = Arc::new(ComponentRegistry::default());
        let events = EventBus::new(config.event_capacity, counters.clone(), registry.clone());
        let (correlations, timer_signal) =
            Correlations::new(counters.clone(), config.max_request_timeout);
        // Delivery and the directory see only what they ask of other hosts.
        let link = remote.clone().map(|r| r as Arc<dyn RemoteLink>);
        let delivery = Arc::new(Delivery::new(
            registry.clone(),
            correlations,
            events.clone(),
            link.clone(),
            counters.clone(),
        ));
        let router = Router::new(delivery.clone());
        let timers = tokio::spawn(run_timers(timer_signal, Arc::downgrade(&delivery)));
        if let Some(remote) = &remote {
            remote.attach(router.clone());
        }
        let (shards, shard_threads) = match config.placement.shard_count() {
            None => (None, None),
            Some(count) => match Shards::start(count) {
                Ok((shards, threads)) => (Some(shards), Some(threads)),
                Err(e) => {
                    // The system still runs, on the caller's runtime, and says why.
                    tracing::error!(
                        shards = count,
                        error = %e,
                        "could not start the shard threads: components run on the caller's runtime"
                    );
                    (None, None)
                }
            },
        };
        let audit = Arc::new(EventAudit {
            log: Arc::new(MemoryAuditLog::new(config.audit_capacity)),
            events: events.clone(),
        });
        let ctx = Arc::new(SystemContext {
            engine,
            config,
            directory: Arc::new(Directory {
                registry: registry.clone(),
                remote: link,
            }),
            registry,
            router,
            delivery,
            events,
            audit,
            storage,
            counters,
            shards,
        });
        Self {
            ctx,
            groups: tokio::sync::Mutex::new(HashMap::new()),
            shared: (0..SHARED_SUPERVISORS)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            timers: Mutex::new(Some(timers)),
            shard_threads: Mutex::new(shard_threads),
        }
    }

    /// Starts a supervision group; its members start in order.
    ///
    /// A group of one member named `component:<id>` of it (what
    /// [`ActorSystem::start_component`] makes) is carried by a shared supervisor, with the
    /// group's intensity as that component's own restart budget: the same behaviour, without
    /// an actor of its own.
    ///
    /// # Errors
    ///
    /// [`Error::GroupExists`], [`Error::Grants`], [`Error::AlreadyRunning`], or
    /// [`Error::StartFailed`] naming the member that could not start (none is left running).
    pub async fn start_group(&self, mut group: GroupSpec) -> Result<()> {
        if let [member] = group.members.as_slice()
            && group.name == standalone_group(&member.id)
            && let Some(member) = group.members.pop()
        {
            return self.start_standalone(member, group.intensity).await;
        }
        let mut groups = self.groups.lock().await;
        if let Some(existing) = groups.get(&group.name) {
            if existing.actor.get_status() != ActorStatus::Stopped {
                return Err(Error::GroupExists(group.name));
            }
            groups.remove(&group.name);
        }
        let spawner = ComponentSpawner {
            ctx: self.ctx.clone(),
        };
        let mut slots = Vec::with_capacity(group.members.len());
        for member in group.members {
            match spawner.prepare(member).await {
                Ok(slot) => slots.push(slot),
                Err(e) => {
                    for slot in &slots {
                        spawner.retire(slot, "its group failed to start");
                    }
                    return Err(e);
                }
            }
        }
        let members = slots.iter().map(|s| s.id().clone()).collect();
        let args = GroupArgs {
            name: group.name.clone(),
            kind: Kind::Group(group.strategy),
            intensity: group.intensity,
            slots,
            ctx: self.ctx.clone(),
        };
        let (actor, handle) =
            Actor::spawn(None, GroupSupervisor, args)
                .await
                .map_err(|e| match e {
                    SpawnErr::StartupFailed(inner) => match inner.downcast::<Error>() {
                        // The group's own `StartFailed`, naming the member.
                        Ok(failed) => *failed,
                        Err(other) => Error::Actor(with_causes(other.as_ref())),
                    },
                    other => Error::Actor(other.to_string()),
                })?;
        groups.insert(
            group.name,
            Group {
                actor,
                handle,
                members,
            },
        );
        Ok(())
    }

    /// Starts one component in a one-for-one group of its own, named `component:<id>`, with
    /// the default [`Intensity`]. A shared supervisor carries it (see
    /// [`ActorSystem::start_group`]).
    ///
    /// # Errors
    ///
    /// As [`ActorSystem::start_group`].
    pub async fn start_component(&self, spec: ComponentSpec) -> Result<()> {
        self.start_standalone(spec, Intensity::default()).await
    }

    async fn start_standalone(&self, spec: ComponentSpec, intensity: Intensity) -> Result<()> {
        let spawner = ComponentSpawner {
            ctx: self.ctx.clone(),
        };
        let id = spec.id.clone();
        let slot = spawner.prepare(spec).await?;
        let supervisor = match self.shared_supervisor(&id).await {
            Ok(supervisor) => supervisor,
            Err(e) => {
                spawner.retire(&slot, "its supervisor did not start");
                return Err(e);
            }
        };
        // Started here, linked to the supervisor, then handed over: starts on one shared
        // supervisor run side by side, as separate groups' do.
        let running = match spawner.start(&slot, supervisor.get_cell()).await {
            Ok(running) => running,
            Err(reason) => {
                spawner.retire(&slot, "the group failed to start");
                return Err(Error::StartFailed {
                    component: id,
                    reason,
                });
            }
        };
        match supervisor.cast(GroupMsg::Adopt(slot.clone(), intensity, running)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let reason = "its supervisor stopped";
                if let MessagingErr::SendErr(GroupMsg::Adopt(_, _, running)) = e {
                    spawner.stop(&slot, running).await;
                }
                spawner.retire(&slot, reason);
                Err(Error::Actor(format!("{id} was not started: {reason}")))
            }
        }
    }

    /// The shared supervisor that carries `id` if it runs standalone (the same one for an id
    /// every time), started if it is not running.
    async fn shared_supervisor(&self, id: &ComponentId) -> Result<ActorRef<GroupMsg>> {
        let index = shared_index(id);
        let Some(cell) = self.shared.get(index) else {
            return Err(Error::Actor(format!("no shared supervisor {index}")));
        };
        let mut cell = cell.lock().await;
        if let Some((actor, _)) = cell.as_ref()
            && actor.get_status() != ActorStatus::Stopped
        {
            return Ok(actor.clone());
        }
        let args = GroupArgs {
            name: format!("shared-{index}"),
            kind: Kind::Shared,
            intensity: Intensity::default(),
            slots: Vec::new(),
            ctx: self.ctx.clone(),
        };
        let (actor, handle) = Actor::spawn(None, GroupSupervisor, args)
            .await
            .map_err(|e| Error::Actor(e.to_string()))?;
        *cell = Some((actor.clone(), handle));
        Ok(actor)
    }

    /// Stops `id` if a shared supervisor carries it; whether one did.
    async fn stop_standalone(&self, id: &ComponentId) -> Result<bool> {
        let Some(cell) = self.shared.get(shared_index(id)) else {
            return Ok(false);
        };
        let actor = match cell.lock().await.as_ref() {
            Some((actor, _)) if actor.get_status() != ActorStatus::Stopped => actor.clone(),
            _ => return Ok(false),
        };
        let found = actor
            .call(|reply| GroupMsg::StopMember(id.clone(), reply), None)
            .await
            .map_err(|e| Error::Actor(e.to_string()))?;
        Ok(matches!(found, ractor::rpc::CallResult::Success(true)))
    }

    /// Stops a component for good: `shutdown` is called, it is unregistered, queued requests
    /// get `target-stopped` callbacks.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`] if no running component has this id.
    pub async fn stop_component(&self, id: &ComponentId) -> Result<()> {
        // A component started alone is found in its shared supervisor without a scan of the
        // groups (a host of 100,000 components stops each in constant time).
        if self.stop_standalone(id).await? {
            return Ok(());
        }
        let mut groups = self.groups.lock().await;
        let (name, group) = groups
            .iter()
            .find(|(_, g)| g.members.contains(id))
            .ok_or_else(|| Error::NotRunning(id.clone()))?;
        let found = group
            .actor
            .call(|reply| GroupMsg::StopMember(id.clone(), reply), None)
            .await
            .map_err(|e| Error::Actor(e.to_string()))?;
        if !matches!(found, ractor::rpc::CallResult::Success(true)) {
            return Err(Error::NotRunning(id.clone()));
        }
        // A group of one (a component started alone) has nothing left to supervise: it ends,
        // so the component can be started again under the same group name.
        if group.members.len() == 1 {
            let name = name.clone();
            if let Some(group) = groups.remove(&name) {
                group.actor.stop(None);
                let _ = group.handle.await;
            }
        }
        Ok(())
    }

    /// Switches a running component to new code without losing a message: the message in
    /// hand finishes on the old version, then a new instance of `component` is built and
    /// initialized, and only then replaces the old one. Queued messages go to the new version
    /// in order, storage is kept, callbacks for the old version's requests reach the new one,
    /// and restarts start the new code from then on. The group's restart intensity is not
    /// charged. An [`SystemEvent::Upgraded`] event tells subscribers.
    ///
    /// The call waits until the instance has taken the upgrade; a component restarting after
    /// a failure takes it once its new instance runs.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`] if no component has this id; [`Error::UpgradeFailed`] naming
    /// the step that failed (`instantiate`, `initialize`, `metadata`), or `switch` when
    /// another upgrade of it is in progress or it stopped before taking this one. The old
    /// version keeps running after a failure.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not withdraw the upgrade: it still happens.
    pub async fn upgrade(&self, id: &ComponentId, component: LoadedComponent) -> Result<Upgrade> {
        let slot = self
            .ctx
            .registry
            .get(id)
            .ok_or_else(|| Error::NotRunning(id.clone()))?;
        let current = slot.version();
        let version = Version {
            code: component,
            grants: current.grants.clone(),
            caps: current.caps.clone(),
            limits: current.limits,
            config_data: current.config_data.clone(),
        };
        drop(current);
        self.hand_over(id, slot, version).await
    }

    /// As [`ActorSystem::upgrade`], to a whole new spec of the component: its code, and also
    /// its grants, limits and config, which the new version runs with (a reloaded manifest).
    /// The id, mailbox capacity and restart policy hold for a component's life.
    ///
    /// # Errors
    ///
    /// As [`ActorSystem::upgrade`]; [`Error::Grants`] if the new grants do not compile, and
    /// [`Error::UpgradeFailed`] at `switch` if the spec changes the mailbox capacity or the
    /// restart policy (stop and start it for that). Nothing changed then.
    ///
    /// # Cancel safety
    ///
    /// As [`ActorSystem::upgrade`].
    pub async fn upgrade_spec(&self, spec: ComponentSpec) -> Result<Upgrade> {
        let id = spec.id.clone();
        let slot = self
            .ctx
            .registry
            .get(&id)
            .ok_or_else(|| Error::NotRunning(id.clone()))?;
        if spec.mailbox_capacity != slot.spec.mailbox_capacity || spec.restart != slot.spec.restart
        {
            return Err(Error::UpgradeFailed {
                component: id,
                step: "switch",
                reason: "the mailbox capacity and the restart policy cannot change in an upgrade: stop and start the component for that".into(),
            });
        }
        let caps =
            CapabilitySet::compile(id.clone(), &spec.grants).map_err(|source| Error::Grants {
                component: id.clone(),
                source: Box::new(source),
            })?;
        let version = Version::of(&spec, Arc::new(caps));
        self.hand_over(&id, slot, version).await
    }

    async fn hand_over(
        &self,
        id: &ComponentId,
        slot: Arc<Slot>,
        version: Version,
    ) -> Result<Upgrade> {
        let failed = |step, reason: &str| Error::UpgradeFailed {
            component: id.clone(),
            step,
            reason: reason.to_owned(),
        };
        let (done, outcome) = oneshot::channel();
        {
            let mut pending = slot.upgrade.lock();
            if pending.is_some() {
                return Err(failed("switch", "another upgrade of it is in progress"));
            }
            *pending = Some(PendingUpgrade {
                version: Arc::new(version),
                done,
            });
            slot.upgrade_pending.store(true, Ordering::Release);
        }
        slot.mailbox.wake();
        drop(slot);
        match outcome.await {
            Ok(Ok(upgrade)) => Ok(upgrade),
            Ok(Err(e)) => Err(failed(e.step, &e.reason)),
            Err(_) => Err(failed("switch", "it stopped before it took the upgrade")),
        }
    }

    /// Sends a fire-and-forget message from the host to a component of this host, at once.
    ///
    /// # Errors
    ///
    /// [`Error::Delivery`] with `target-not-found` or `queue-full`; nothing was queued then.
    /// A component on another host of a cluster is not reached from here (that needs a round
    /// trip, see [`ActorSystem::send_anywhere`]): it is `target-not-found`.
    pub fn send(&self, to: &ComponentId, payload: Vec<u8>) -> Result<()> {
        let result = if self.ctx.registry.contains(to) {
            match self.send_routed(to, payload) {
                Routed::Done(result) => result,
                // Dropped unpolled: nothing is sent.
                Routed::Later(_) => Err(MessagingError::TargetNotFound(to.clone())),
            }
        } else {
            Err(MessagingError::TargetNotFound(to.clone()))
        };
        result.map_err(|source| Error::Delivery {
            target: to.clone(),
            source,
        })
    }

    /// Sends a fire-and-forget message from the host to a component on this host or, in a
    /// cluster, on any other; for another host, waits until that host has queued it.
    ///
    /// # Errors
    ///
    /// As [`ActorSystem::send`], and [`Error::Delivery`] with `delivery-failed` if the other
    /// host cannot be reached; nothing was queued then.
    pub async fn send_anywhere(&self, to: &ComponentId, payload: Vec<u8>) -> Result<()> {
        self.send_routed(to, payload)
            .finish()
            .await
            .map_err(|source| Error::Delivery {
                target: to.clone(),
                source,
            })
    }

    /// As [`ActorSystem::send`], but a full mailbox is waited on, up to `timeout`, instead of
    /// refused at once (as tokio's `Sender::send_timeout` is to `try_send`). A component on
    /// another host of a cluster is sent to as by [`ActorSystem::send_anywhere`].
    ///
    /// # Errors
    ///
    /// [`Error::Delivery`] with `queue-full` if no room came within `timeout`, or
    /// `target-not-found` if the target is not running or stopped for good while it waited;
    /// nothing was queued then.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future queues nothing.
    pub async fn send_timeout(
        &self,
        to: &ComponentId,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<()> {
        self.ctx
            .router
            .delivery
            .send_waiting(&self.ctx.config.host_id, to, payload, timeout)
            .await
            .map_err(|source| Error::Delivery {
                target: to.clone(),
                source,
            })
    }

    fn send_routed(&self, to: &ComponentId, payload: Vec<u8>) -> Routed<()> {
        self.ctx.router.send(&self.ctx.config.host_id, to, payload)
    }

    /// Sends a request from the host and waits for the reply.
    ///
    /// # Errors
    ///
    /// [`Error::Delivery`] if it could not be queued, [`Error::Request`] with the error
    /// callback's reason (timeout, error reply, target failed, stopped or gone).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; its reply is dropped when it arrives.
    pub async fn request(
        &self,
        to: &ComponentId,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        self.request_traced(to, payload, timeout, None).await
    }

    /// As [`ActorSystem::request`], as part of a trace: the request carries `trace` (the
    /// caller's span, a W3C `traceparent`), and so does every message and request the
    /// components send while they handle what it causes, on this host and across the cluster.
    ///
    /// # Errors
    ///
    /// As [`ActorSystem::request`].
    ///
    /// # Cancel safety
    ///
    /// As [`ActorSystem::request`].
    pub async fn request_traced(
        &self,
        to: &ComponentId,
        payload: Vec<u8>,
        timeout: Duration,
        trace: Option<TraceContext>,
    ) -> Result<Vec<u8>> {
        let routed = crate::trace::sync_scope(trace, || {
            self.ctx
                .router
                .host_request(&self.ctx.config.host_id, to, payload, timeout)
        });
        let reply = routed.finish().await.map_err(|source| Error::Delivery {
            target: to.clone(),
            source,
        })?;
        match reply.await {
            Ok(Ok(payload)) => Ok(payload),
            Ok(Err(reason)) => Err(Error::Request {
                target: to.clone(),
                reason,
            }),
            Err(_) => Err(Error::ShutDown),
        }
    }

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

    /// Stops every group (members in reverse start order, each `shutdown` called), waits for
    /// every actor to end, and stops the timeout task. Idempotent.
    pub async fn shutdown(&self) {
        let groups: Vec<Group> = self.groups.lock().await.drain().map(|(_, g)| g).collect();
        for group in groups {
            // A group's members stop one after another, each within two shutdown deadlines.
            let members = u32::try_from(group.members.len()).unwrap_or(u32::MAX);
            let deadline = self
                .ctx
                .config
                .shutdown_deadline
                .saturating_mul(2)
                .saturating_mul(members.saturating_add(1));
            stop_supervisor((group.actor, group.handle), Some(deadline)).await;
        }
        for cell in &self.shared {
            let shared = cell.lock().await.take();
            if let Some(supervisor) = shared {
                // Each member is bounded by its own deadline (killed after it): no overall one.
                stop_supervisor(supervisor, None).await;
            }
        }
        // Requests still pending (to remote targets, or racing the stop) are answered now.
        self.ctx.delivery.fail_all();
        let timers = self.timers.lock().take();
        if let Some(timers) = timers {
            timers.abort();
            let _ = timers.await;
        }
        // Every actor has stopped: the shard threads can end.
        drop(self.shard_threads.lock().take());
    }
}

/// Stops a supervisor and every member, and waits for its task.
async fn stop_supervisor((actor, handle): Supervisor, deadline: Option<Duration>) {
    if actor.get_status() != ActorStatus::Stopped {
        let stopped = actor.call(GroupMsg::StopAll, deadline).await;
        let clean = matches!(stopped, Ok(ractor::rpc::CallResult::Success(())));
        if !clean {
            tracing::warn!(outcome = ?stopped, "a supervisor did not stop cleanly");
            actor.stop(None);
        }
    }
    let _ = handle.await;
}

/// Which shared supervisor carries standalone component `id`.
fn shared_index(id: &ComponentId) -> usize {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    usize::try_from(hasher.finish() % SHARED_SUPERVISORS as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use test_fixtures::fixture;
    use wasm_core::ComponentId;
    use wasm_runtime::{EngineConfig, MemoryStorage, WasmEngine};

    use super::{ActorSystem, shared_index};
    use crate::context::SystemConfig;
    use crate::events::SystemEvent;
    use crate::registry::Slot;
    use crate::spec::ComponentSpec;

    fn spec(engine: &WasmEngine, fixture_name: &str, id: &ComponentId) -> ComponentSpec {
        let component = engine
            .loader()
            .load_bytes(fixture_name, &fixture(fixture_name))
            .unwrap();
        ComponentSpec::new(id.clone(), component)
    }

    /// Waits until `done` holds of the slot of `id` (a state change, not a duration).
    async fn until_slot(system: &ActorSystem, id: &ComponentId, done: fn(&Slot) -> bool) {
        for _ in 0..10_000 {
            if system.ctx.registry.get(id).is_some_and(|slot| done(&slot)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("{id} never got there");
    }

    /// A standalone component is started by its caller and handed to its shared supervisor
    /// after; ractor gives the supervisor its members' ends before its messages. Here the
    /// supervisor is held in another member's stop (a sleeper in a 1.5 s call), so the new
    /// component traps before the supervisor reads the hand-over: the failure must be kept
    /// and acted on then, not dropped as a stranger's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failure_before_the_hand_over_is_kept_until_it() {
        let engine = WasmEngine::new(EngineConfig::default()).unwrap();
        let system = Arc::new(ActorSystem::new(
            engine.clone(),
            Arc::new(MemoryStorage::new()),
            SystemConfig::default(),
        ));
        let busy: ComponentId = "shared/busy/0".parse().unwrap();
        let early = (0..)
            .map(|i| format!("shared/early/{i}").parse::<ComponentId>().unwrap())
            .find(|id| shared_index(id) == shared_index(&busy))
            .unwrap();
        let mut events = system.events();
        system
            .start_component(spec(&engine, "sleeper", &busy))
            .await
            .unwrap();
        system.send(&busy, b"sleep 1500".to_vec()).unwrap();
        // Taken from the mailbox: the actor is in the call (it handles it to the end).
        until_slot(&system, &busy, |slot| slot.mailbox.len() == 0).await;
        let stopping = tokio::spawn({
            let (system, busy) = (system.clone(), busy.clone());
            async move { system.stop_component(&busy).await }
        });
        // The supervisor is in the sleeper's stop once it has raised the flag.
        until_slot(&system, &busy, |slot| slot.stopping.load(Ordering::Acquire)).await;

        system
            .start_component(spec(&engine, "panicker", &early))
            .await
            .unwrap();
        system.send(&early, b"panic".to_vec()).unwrap();
        let restarted = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match events.recv().await {
                    Ok(SystemEvent::Restarted { id, .. }) if id == early => return,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => panic!("events ended: {e}"),
                }
            }
        })
        .await;
        assert!(
            restarted.is_ok(),
            "{early} failed before its hand-over and was never restarted"
        );
        stopping.await.unwrap().unwrap();
        assert_eq!(system.stats().restarts, 1);
        system.shutdown().await;
    }
}
