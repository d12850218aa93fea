//! The embedding API: start and stop components, message them from the host, watch events,
//! shut down.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{Actor, ActorRef, ActorStatus, SpawnErr};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use wasm_core::{
    ComponentId, ComponentInfo, MessageRouter, MessagingError, Routed, StorageBackend,
};
use wasm_runtime::WasmEngine;
use wasm_security::MemoryAuditLog;

use crate::context::{Directory, SystemConfig, SystemContext};
use crate::correlation::{Correlations, run_timers};
use crate::delivery::Delivery;
use crate::error::{Error, Result, with_causes};
use crate::events::{EventAudit, EventBus, SystemEvent};
use crate::registry::ComponentRegistry;
use crate::remote::RemoteTransport;
use crate::router::Router;
use crate::spawner::ComponentSpawner;
use crate::spec::{ComponentSpec, GroupSpec};
use crate::stats::{Counters, SystemStats};
use crate::supervisor::{GroupArgs, GroupMsg, GroupSupervisor};

#[derive(Debug)]
struct Group {
    actor: ActorRef<GroupMsg>,
    handle: JoinHandle<()>,
    members: Vec<ComponentId>,
}

/// Runs components as supervised actors that message each other through bounded mailboxes.
///
/// Create it inside a tokio runtime (it starts the request-timeout task there).
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
    timers: Mutex<Option<JoinHandle<()>>>,
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
        let events = EventBus::new(config.event_capacity, counters.clone());
        let (correlations, timer_signal) =
            Correlations::new(counters.clone(), config.max_request_timeout);
        let delivery = Arc::new(Delivery::new(
            registry.clone(),
            correlations,
            events.clone(),
            remote.clone(),
            counters.clone(),
        ));
        let router = Router::new(delivery.clone());
        let timers = tokio::spawn(run_timers(timer_signal, Arc::downgrade(&delivery)));
        if let Some(remote) = &remote {
            remote.attach(router.clone());
        }
        let audit = Arc::new(EventAudit {
            log: Arc::new(MemoryAuditLog::new(config.audit_capacity)),
            events: events.clone(),
        });
        let ctx = Arc::new(SystemContext {
            engine,
            config,
            directory: Arc::new(Directory {
                registry: registry.clone(),
                remote,
            }),
            registry,
            router,
            delivery,
            events,
            audit,
            storage,
            counters,
        });
        Self {
            ctx,
            groups: tokio::sync::Mutex::new(HashMap::new()),
            timers: Mutex::new(Some(timers)),
        }
    }

    /// Starts a supervision group; its members start in order.
    ///
    /// # Errors
    ///
    /// [`Error::GroupExists`], [`Error::Grants`], [`Error::AlreadyRunning`], or
    /// [`Error::StartFailed`] naming the member that could not start (none is left running).
    pub async fn start_group(&self, group: GroupSpec) -> Result<()> {
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
            strategy: group.strategy,
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

    /// Starts one component in a one-for-one group of its own, named after its id.
    ///
    /// # Errors
    ///
    /// As [`ActorSystem::start_group`].
    pub async fn start_component(&self, spec: ComponentSpec) -> Result<()> {
        let group = GroupSpec::new(format!("component:{}", spec.id)).with_member(spec);
        self.start_group(group).await
    }

    /// Stops a component for good: `shutdown` is called, it is unregistered, queued requests
    /// get `target-stopped` callbacks.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`] if no running component has this id.
    pub async fn stop_component(&self, id: &ComponentId) -> Result<()> {
        let groups = self.groups.lock().await;
        let group = groups
            .values()
            .find(|g| g.members.contains(id))
            .ok_or_else(|| Error::NotRunning(id.clone()))?;
        let found = group
            .actor
            .call(|reply| GroupMsg::StopMember(id.clone(), reply), None)
            .await
            .map_err(|e| Error::Actor(e.to_string()))?;
        match found {
            ractor::rpc::CallResult::Success(true) => Ok(()),
            _ => Err(Error::NotRunning(id.clone())),
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
        let result = match self.send_routed(to, payload) {
            Routed::Done(result) => result,
            // Dropped unpolled: nothing is sent.
            Routed::Later(_) => Err(MessagingError::TargetNotFound(to.clone())),
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
        let reply = self
            .ctx
            .router
            .host_request(&self.ctx.config.host_id, to, payload, timeout)
            .finish()
            .await
            .map_err(|source| Error::Delivery {
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

    /// Stops every group (members in reverse start order, each `shutdown` called), waits for
    /// every actor to end, and stops the timeout task. Idempotent.
    pub async fn shutdown(&self) {
        let groups: Vec<Group> = self.groups.lock().await.drain().map(|(_, g)| g).collect();
        for group in groups {
            if group.actor.get_status() != ActorStatus::Stopped {
                let stopped = group
                    .actor
                    .call(
                        GroupMsg::StopAll,
                        Some(self.ctx.config.shutdown_deadline.saturating_mul(4)),
                    )
                    .await;
                if let Err(e) = stopped {
                    tracing::warn!(error = %e, "a supervision group did not stop cleanly");
                    group.actor.stop(None);
                }
            }
            let _ = group.handle.await;
        }
        // Requests still pending (to remote targets, or racing the stop) are answered now.
        self.ctx.delivery.fail_all();
        let timers = self.timers.lock().take();
        if let Some(timers) = timers {
            timers.abort();
            let _ = timers.await;
        }
    }
}
