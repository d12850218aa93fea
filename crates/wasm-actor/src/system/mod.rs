//! The embedding API: start and stop components, message them from the host, watch events,
//! shut down. Messaging (`messaging.rs`), upgrades (`upgrade.rs`) and what an embedder reads
//! (`inspect.rs`) are further `impl ActorSystem` blocks.

mod inspect;
mod messaging;
mod upgrade;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{Actor, ActorRef, ActorStatus, MessagingErr, SpawnErr};
use tokio::task::JoinHandle;
use wasm_core::{ComponentId, StorageBackend};
use wasm_runtime::WasmEngine;
use wasm_security::MemoryAuditLog;

use crate::context::{Directory, SystemConfig, SystemContext};
use crate::delivery::Delivery;
use crate::delivery::{Correlations, run_timers};
use crate::error::{Error, Result, with_causes};
use crate::events::{EventAudit, EventBus};
use crate::registry::ComponentRegistry;
use crate::remote::RemoteTransport;
use crate::router::Router;
use crate::seam::RemoteLink;
use crate::shard::{ShardThreads, Shards};
use crate::spawner::ComponentSpawner;
use crate::spec::{ComponentSpec, GroupSpec, Intensity};
use crate::stats::Counters;
use crate::supervisor::{GroupArgs, GroupMsg, GroupSupervisor, Kind, standalone_group};

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
mod tests;
