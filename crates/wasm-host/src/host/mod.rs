//! [`Host`]: a running system of components, driven from the embedder's code. Its HTTP
//! ingress methods are in `http.rs`.

mod http;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::broadcast;
use wasm_actor::{ComponentSpec, ComponentStatus, GroupSpec, SystemEvent, SystemStats, Upgrade};
use wasm_cluster::NatsTransport;
use wasm_core::{ComponentId, ComponentInfo, ResourceLimits, StorageBackend, TraceContext};
use wasm_runtime::{LoadedComponent, WasmEngine};
use wasm_security::MemoryAuditLog;

use crate::admin::{AdminConfig, AdminServer};
use crate::builder::HostBuilder;
use crate::error::Result;
use crate::manifest::Manifest;
use crate::state::Core;

/// A stream of [`SystemEvent`]s (a tokio broadcast receiver: a subscriber that lags loses the
/// oldest events and is told how many).
pub type Events = broadcast::Receiver<SystemEvent>;

/// A running system: components as supervised actors, their storage, and the engine.
///
/// Build one with [`Host::builder`] (inside a tokio runtime), start components from a
/// [`Manifest`] or from code, talk to them with [`Host::send`] and [`Host::request`], watch
/// [`Host::events`], and end with [`Host::shutdown`].
///
/// # Examples
///
/// ```
/// use wasm_host::{ComponentId, Host};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let host = Host::builder().memory_storage().build()?;
/// let echo = host.load_component_file(concat!(
///     env!("CARGO_MANIFEST_DIR"),
///     "/../../fixtures/out/echo.wasm"
/// ))?;
/// let id: ComponentId = "demo/echo/1".parse()?;
/// host.start_component(host.spec(id.clone(), echo)).await?;
///
/// let reply = host.request(&id, b"hello".to_vec()).await?;
/// assert_eq!(reply, b"hello");
///
/// host.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Host {
    core: Arc<Core>,
    admin: Option<AdminServer>,
}

impl Host {
    /// A host of `core`, serving no admin endpoint yet.
    pub(crate) fn new(core: Core) -> Self {
        let core = Arc::new(core);
        Self { core, admin: None }
    }

    /// Serves the admin endpoint of this host (see [`AdminConfig`]).
    pub(crate) fn serve_admin(&mut self, config: AdminConfig) -> Result<()> {
        self.admin = Some(AdminServer::start(config, &self.core)?);
        Ok(())
    }

    /// The address the admin endpoint listens on, if it serves one (the port the system
    /// picked when the configured port was 0).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::addr)
    }

    /// A builder with the defaults.
    pub fn builder() -> HostBuilder {
        HostBuilder::new()
    }

    /// Reads a manifest, builds a host with its `[host]` settings and starts its components.
    ///
    /// # Errors
    ///
    /// As [`Manifest::from_file`], [`HostBuilder::build`] and [`Host::load`]. If a component
    /// fails to start, the host is shut down before the error is returned.
    ///
    /// # Panics
    ///
    /// If called outside a tokio runtime.
    pub async fn from_manifest_file(path: impl AsRef<Path>) -> Result<(Host, Manifest)> {
        let manifest = Manifest::from_file(path)?;
        let host = HostBuilder::new()
            .manifest_defaults(&manifest)
            .connect()
            .await?;
        if let Err(e) = host.load(&manifest).await {
            let _ = host.shutdown().await;
            return Err(e);
        }
        Ok((host, manifest))
    }

    /// Starts every component of a manifest: its groups in the order written, then each
    /// component that is in no group, alone. Every `.wasm` file is loaded (and checked)
    /// before anything starts.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Manifest`] if a component file is missing or invalid (nothing started
    /// then); [`crate::Error::Actor`] if a group fails to start (groups started before it keep
    /// running).
    pub async fn load(&self, manifest: &Manifest) -> Result<()> {
        let loaded = self.core.load(manifest).await;
        self.core.awaiting_load.store(false, Ordering::Release);
        loaded
    }

    /// Loads (validates and compiles) a component file on this host's engine.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Runtime`] naming the file and what is wrong with it.
    pub fn load_component_file(&self, path: impl AsRef<Path>) -> Result<LoadedComponent> {
        Ok(self
            .core
            .system
            .engine()
            .loader()
            .load_file(path.as_ref())?)
    }

    /// Loads a component from bytes; `name` labels it in errors.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Runtime`] naming what is wrong with it.
    pub fn load_component_bytes(&self, name: &str, bytes: &[u8]) -> Result<LoadedComponent> {
        Ok(self.core.system.engine().loader().load_bytes(name, bytes)?)
    }

    /// A spec for `component` under `id`, with this host's default limits, no grants, the
    /// default mailbox and a permanent restart policy. Adjust it with its `with_*` methods.
    pub fn spec(&self, id: ComponentId, component: LoadedComponent) -> ComponentSpec {
        ComponentSpec::new(id, component).with_limits(self.core.limits)
    }

    /// Starts one component, supervised alone (one-for-one).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Actor`]: already running, invalid grants, or start failed.
    pub async fn start_component(&self, spec: ComponentSpec) -> Result<()> {
        let id = spec.id.clone();
        self.core.system.start_component(spec).await?;
        self.core.stopped.lock().remove(&id);
        Ok(())
    }

    /// Starts a supervision group; its members start in order.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Actor`] naming the group or the member that could not start.
    pub async fn start_group(&self, group: GroupSpec) -> Result<()> {
        let ids: Vec<ComponentId> = group.members.iter().map(|m| m.id.clone()).collect();
        self.core.system.start_group(group).await?;
        let mut stopped = self.core.stopped.lock();
        for id in &ids {
            stopped.remove(id);
        }
        Ok(())
    }

    /// Stops a component for good (its `shutdown` is called).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Actor`] if it is not running.
    pub async fn stop_component(&self, id: &ComponentId) -> Result<()> {
        self.core.stop(id).await
    }

    /// Starts again a component this host stopped ([`Host::stop_component`]), from the spec
    /// (and the code) it last ran, supervised alone.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Actor`] with `NotRunning` if the host has not stopped a component of
    /// this id, or as [`Host::start_component`].
    pub async fn start_stopped(&self, id: &ComponentId) -> Result<()> {
        self.core.start_stopped(id).await
    }

    /// The components this host stopped and can start again, sorted.
    pub fn stopped_components(&self) -> Vec<ComponentId> {
        self.core.stopped_ids()
    }

    /// Switches a running component to a new version of its code, given as the bytes of a
    /// `.wasm` file, without losing a message: see [`wasm_actor::ActorSystem::upgrade`]. The
    /// new code is compiled and checked (it must be a component with the lifecycle export
    /// and only known imports) before anything stops; the grants stay the component's.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Runtime`] if the bytes are not a usable component (nothing changed);
    /// [`crate::Error::Actor`] with `UpgradeFailed` naming the step that failed, or
    /// `NotRunning`. The old version keeps running after any failure.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future after the code was compiled does not withdraw the upgrade.
    pub async fn upgrade(&self, id: &ComponentId, wasm: &[u8]) -> Result<Upgrade> {
        self.core.upgrade(id, wasm).await
    }

    /// As [`Host::upgrade`], to a whole new spec: its code, grants, limits and config (what
    /// a reloaded manifest says); see [`wasm_actor::ActorSystem::upgrade_spec`].
    ///
    /// # Errors
    ///
    /// As [`Host::upgrade`], and [`crate::Error::Actor`] with `Grants` if the new grants do
    /// not compile, or `UpgradeFailed` at `switch` if the spec changes the mailbox capacity
    /// or the restart policy.
    ///
    /// # Cancel safety
    ///
    /// As [`Host::upgrade`].
    pub async fn upgrade_spec(&self, spec: ComponentSpec) -> Result<Upgrade> {
        Ok(self.core.system.upgrade_spec(spec).await?)
    }

    /// As [`Host::upgrade`], reading the new code from a file.
    ///
    /// # Errors
    ///
    /// As [`Host::upgrade`], and [`crate::Error::Runtime`] if the file cannot be read.
    pub async fn upgrade_file(&self, id: &ComponentId, path: impl AsRef<Path>) -> Result<Upgrade> {
        let component = self.load_component_file(path)?;
        Ok(self.core.system.upgrade(id, component).await?)
    }

    /// Everything known about a running component: metadata, health, state, mailbox depth
    /// and capacity, what it handled, restarts, grants.
    pub fn status(&self, id: &ComponentId) -> Option<ComponentStatus> {
        self.core.system.status(id)
    }

    /// Whether every component is started: none is starting or restarting, and the
    /// manifest's components are all started when the host was built from one.
    pub fn is_ready(&self) -> bool {
        self.core.is_ready()
    }

    /// Sends a fire-and-forget message from the host, at once: a full mailbox refuses it
    /// (the `try_send` of the pair; [`Host::send_timeout`] waits for room instead).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Actor`] if the target is not running or its mailbox is full
    /// ([`crate::Error::is_queue_full`] tells which); nothing was queued then.
    pub fn send(&self, to: &ComponentId, payload: impl Into<Vec<u8>>) -> Result<()> {
        Ok(self.core.system.send(to, payload.into())?)
    }

    /// Sends a fire-and-forget message from the host, waiting up to `timeout` for room in a
    /// full mailbox: the call for an embedder feeding a component from a stream, where the
    /// wait is the back-pressure. A component on another host of a cluster is sent to as by
    /// [`Host::send_anywhere`].
    ///
    /// # Errors
    ///
    /// [`crate::Error::Actor`] with queue-full ([`crate::Error::is_queue_full`]) if no room
    /// came in time, or target-not-found if the target is not running or stopped for good
    /// while it waited; nothing was queued then.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future queues nothing.
    pub async fn send_timeout(
        &self,
        to: &ComponentId,
        payload: impl Into<Vec<u8>>,
        timeout: Duration,
    ) -> Result<()> {
        Ok(self
            .core
            .system
            .send_timeout(to, payload.into(), timeout)
            .await?)
    }

    /// Sends a fire-and-forget message from the host to a component of this host or, in a
    /// cluster, of any other host; for another host it waits until that host has queued it.
    ///
    /// # Errors
    ///
    /// As [`Host::send`], and [`crate::Error::Actor`] with `delivery-failed` if the other host
    /// cannot be reached; nothing was queued then.
    pub async fn send_anywhere(&self, to: &ComponentId, payload: impl Into<Vec<u8>>) -> Result<()> {
        Ok(self.core.system.send_anywhere(to, payload.into()).await?)
    }

    /// What this host's cluster transport has done, if it is in a cluster: messages sent,
    /// received, sent again and taken twice, slots held for other hosts, leases lost.
    pub fn cluster_stats(&self) -> Option<wasm_cluster::ClusterStats> {
        self.core.cluster.as_ref().map(NatsTransport::stats)
    }

    /// This host's cluster transport, if it is in a cluster.
    pub fn cluster(&self) -> Option<&NatsTransport> {
        self.core.cluster.as_ref()
    }

    /// This host's name in its cluster, if it is in one.
    pub fn cluster_host(&self) -> Option<&str> {
        self.core.cluster.as_ref().map(NatsTransport::host)
    }

    /// Sends a request from the host and waits for the reply, up to the host's request
    /// timeout. In a cluster the target may run on any host.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Actor`] if it could not be delivered or was answered with an error
    /// (timeout, error reply, target failed or stopped).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; its reply is dropped when it arrives.
    pub async fn request(&self, to: &ComponentId, payload: impl Into<Vec<u8>>) -> Result<Vec<u8>> {
        self.request_with_timeout(to, payload, self.core.request_timeout)
            .await
    }

    /// As [`Host::request`], with its own timeout.
    ///
    /// # Errors
    ///
    /// As [`Host::request`].
    ///
    /// # Cancel safety
    ///
    /// As [`Host::request`].
    pub async fn request_with_timeout(
        &self,
        to: &ComponentId,
        payload: impl Into<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        Ok(self
            .core
            .system
            .request(to, payload.into(), timeout)
            .await?)
    }

    /// As [`Host::request_with_timeout`], as part of a trace: `trace` (a W3C `traceparent`,
    /// the caller's span) is carried by the request and by every message and request the
    /// components send while handling what it causes, on this host and across the cluster;
    /// each handle span records it (`trace_id`, `span_id`, `parent_span_id`).
    ///
    /// # Errors
    ///
    /// As [`Host::request`].
    ///
    /// # Cancel safety
    ///
    /// As [`Host::request`].
    pub async fn request_traced(
        &self,
        to: &ComponentId,
        payload: impl Into<Vec<u8>>,
        timeout: Duration,
        trace: TraceContext,
    ) -> Result<Vec<u8>> {
        Ok(self
            .core
            .system
            .request_traced(to, payload.into(), timeout, Some(trace))
            .await?)
    }

    /// Subscribes to system events from now on.
    pub fn events(&self) -> Events {
        self.core.system.events()
    }

    /// What the system has done so far (messages handled, restarts, denials, ...); cheap.
    pub fn stats(&self) -> SystemStats {
        self.core.system.stats()
    }

    /// Whether nothing is in flight: every mailbox empty, no component in a call, no request
    /// pending.
    pub fn is_idle(&self) -> bool {
        self.core.system.is_idle()
    }

    /// Resolves when the system is idle (see [`Host::is_idle`]), woken by the last piece of
    /// work ending, with no polling.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future has no effect on the system.
    pub async fn wait_idle(&self) {
        self.core.system.wait_idle().await;
    }

    /// The ids of the running components, sorted.
    pub fn components(&self) -> Vec<ComponentId> {
        self.core.system.registry().ids()
    }

    /// What is known about a running component.
    pub fn info(&self, id: &ComponentId) -> Option<ComponentInfo> {
        self.core.system.info(id)
    }

    /// The audit log of capability decisions (denials included).
    pub fn audit(&self) -> &MemoryAuditLog {
        self.core.system.audit()
    }

    /// The engine components run on.
    pub fn engine(&self) -> &WasmEngine {
        self.core.system.engine()
    }

    /// The storage backend components use.
    pub fn storage(&self) -> &Arc<dyn StorageBackend> {
        &self.core.storage
    }

    /// The default limits of components started from code or a manifest.
    pub fn default_limits(&self) -> ResourceLimits {
        self.core.limits
    }

    /// Stops gracefully: every component's `shutdown` is called (members in reverse start
    /// order), every actor ends, then the storage is closed (every committed write is on
    /// disk). Idempotent.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] if the storage cannot be closed.
    pub async fn shutdown(&self) -> Result<()> {
        // Ingress first: requests in flight finish (within its grace) while components run.
        let ingress = self.core.ingress.lock().take();
        if let Some(ingress) = ingress {
            ingress.stop().await;
        }
        if let Some(admin) = &self.admin {
            admin.stop().await;
        }
        self.core.system.shutdown().await;
        if let Some(cluster) = &self.core.cluster {
            // After the system: the answers its shutdown sent are flushed first.
            cluster.close().await;
        }
        if let Some(redb) = &self.core.redb {
            redb.close()?;
        }
        Ok(())
    }
}
