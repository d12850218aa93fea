//! [`Host`]: a running system of components, driven from the embedder's code.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use wasm_actor::{ActorSystem, ComponentSpec, GroupSpec, SystemEvent, SystemStats};
use wasm_cluster::NatsTransport;
use wasm_core::{ComponentId, ComponentInfo, ResourceLimits, StorageBackend};
use wasm_runtime::{LoadedComponent, WasmEngine};
use wasm_security::MemoryAuditLog;

use crate::builder::HostBuilder;
use crate::error::Result;
use crate::manifest::Manifest;
use crate::storage::RedbStorage;

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
    system: ActorSystem,
    storage: Arc<dyn StorageBackend>,
    redb: Option<Arc<RedbStorage>>,
    cluster: Option<NatsTransport>,
    limits: ResourceLimits,
    request_timeout: Duration,
}

impl Host {
    pub(crate) fn new(
        system: ActorSystem,
        storage: Arc<dyn StorageBackend>,
        redb: Option<Arc<RedbStorage>>,
        cluster: Option<NatsTransport>,
        limits: ResourceLimits,
        request_timeout: Duration,
    ) -> Self {
        Self {
            system,
            storage,
            redb,
            cluster,
            limits,
            request_timeout,
        }
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
        let groups = manifest.specs(self.system.engine(), self.limits)?;
        for group in groups {
            self.system.start_group(group).await?;
        }
        Ok(())
    }

    /// Loads (validates and compiles) a component file on this host's engine.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Runtime`] naming the file and what is wrong with it.
    pub fn load_component_file(&self, path: impl AsRef<Path>) -> Result<LoadedComponent> {
        Ok(self.system.engine().loader().load_file(path.as_ref())?)
    }

    /// Loads a component from bytes; `name` labels it in errors.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Runtime`] naming what is wrong with it.
    pub fn load_component_bytes(&self, name: &str, bytes: &[u8]) -> Result<LoadedComponent> {
        Ok(self.system.engine().loader().load_bytes(name, bytes)?)
    }

    /// A spec for `component` under `id`, with this host's default limits, no grants, the
    /// default mailbox and a permanent restart policy. Adjust it with its `with_*` methods.
    pub fn spec(&self, id: ComponentId, component: LoadedComponent) -> ComponentSpec {
        ComponentSpec::new(id, component).with_limits(self.limits)
    }

    /// Starts one component, supervised alone (one-for-one).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Actor`]: already running, invalid grants, or start failed.
    pub async fn start_component(&self, spec: ComponentSpec) -> Result<()> {
        Ok(self.system.start_component(spec).await?)
    }

    /// Starts a supervision group; its members start in order.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Actor`] naming the group or the member that could not start.
    pub async fn start_group(&self, group: GroupSpec) -> Result<()> {
        Ok(self.system.start_group(group).await?)
    }

    /// Stops a component for good (its `shutdown` is called).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Actor`] if it is not running.
    pub async fn stop_component(&self, id: &ComponentId) -> Result<()> {
        Ok(self.system.stop_component(id).await?)
    }

    /// Sends a fire-and-forget message from the host, at once: a full mailbox refuses it
    /// (the `try_send` of the pair; [`Host::send_timeout`] waits for room instead).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Actor`] if the target is not running or its mailbox is full
    /// ([`crate::Error::is_queue_full`] tells which); nothing was queued then.
    pub fn send(&self, to: &ComponentId, payload: impl Into<Vec<u8>>) -> Result<()> {
        Ok(self.system.send(to, payload.into())?)
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
        Ok(self.system.send_anywhere(to, payload.into()).await?)
    }

    /// This host's name in its cluster, if it is in one.
    pub fn cluster_host(&self) -> Option<&str> {
        self.cluster.as_ref().map(NatsTransport::host)
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
        self.request_with_timeout(to, payload, self.request_timeout)
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
        Ok(self.system.request(to, payload.into(), timeout).await?)
    }

    /// Subscribes to system events from now on.
    pub fn events(&self) -> Events {
        self.system.events()
    }

    /// What the system has done so far (messages handled, restarts, denials, ...); cheap.
    pub fn stats(&self) -> SystemStats {
        self.system.stats()
    }

    /// Whether nothing is in flight: every mailbox empty, no component in a call, no request
    /// pending.
    pub fn is_idle(&self) -> bool {
        self.system.is_idle()
    }

    /// Resolves when the system is idle (see [`Host::is_idle`]), woken by the last piece of
    /// work ending, with no polling.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future has no effect on the system.
    pub async fn wait_idle(&self) {
        self.system.wait_idle().await;
    }

    /// The ids of the running components, sorted.
    pub fn components(&self) -> Vec<ComponentId> {
        self.system.registry().ids()
    }

    /// What is known about a running component.
    pub fn info(&self, id: &ComponentId) -> Option<ComponentInfo> {
        self.system.info(id)
    }

    /// The audit log of capability decisions (denials included).
    pub fn audit(&self) -> &MemoryAuditLog {
        self.system.audit()
    }

    /// The engine components run on.
    pub fn engine(&self) -> &WasmEngine {
        self.system.engine()
    }

    /// The storage backend components use.
    pub fn storage(&self) -> &Arc<dyn StorageBackend> {
        &self.storage
    }

    /// The default limits of components started from code or a manifest.
    pub fn default_limits(&self) -> ResourceLimits {
        self.limits
    }

    /// Stops gracefully: every component's `shutdown` is called (members in reverse start
    /// order), every actor ends, then the storage is closed (every committed write is on
    /// disk). Idempotent.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] if the storage cannot be closed.
    pub async fn shutdown(&self) -> Result<()> {
        self.system.shutdown().await;
        if let Some(cluster) = &self.cluster {
            // After the system: the answers its shutdown sent are flushed first.
            cluster.close().await;
        }
        if let Some(redb) = &self.redb {
            redb.close()?;
        }
        Ok(())
    }
}
