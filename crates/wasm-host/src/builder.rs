//! [`HostBuilder`]: engine settings, storage location, defaults.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wasm_actor::{ActorSystem, Placement, SystemConfig};
use wasm_cluster::{ClusterConfig, NatsTransport};
use wasm_core::{ResourceLimits, StorageBackend};
use wasm_runtime::{EngineConfig, MemoryStorage, PoolingConfig, WasmEngine};

use crate::admin::AdminConfig;
use crate::host::Host;
use crate::ingress::{HttpConfig, IngressRoute};
use crate::manifest::{Manifest, StorageLocation};
use crate::state::Core;
use crate::storage::RedbStorage;

/// Where a host keeps component storage.
#[derive(Debug, Clone)]
enum StorageChoice {
    Memory,
    File(PathBuf),
    Backend(Arc<dyn StorageBackend>),
    Cluster,
}

/// Builds a [`Host`]: engine settings, storage, defaults for limits and mailboxes.
///
/// Defaults: the engine's defaults (pooling allocator, 5 ms epoch tick, no fuel, no disk
/// cache), storage in memory, [`ResourceLimits::default`], mailboxes of 1024 messages, no
/// health polling, one second for each component's `shutdown`, requests from the host time
/// out after 5 seconds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use wasm_host::{Host, ResourceLimits};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), wasm_host::Error> {
/// let host = Host::builder()
///     .fuel(true)
///     .default_limits(ResourceLimits { max_fuel: Some(10_000_000), ..Default::default() })
///     .mailbox_capacity(64)
///     .shutdown_deadline(Duration::from_millis(500))
///     .memory_storage()
///     .build()?;
/// assert!(host.components().is_empty());
/// host.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HostBuilder {
    engine: EngineConfig,
    storage: StorageChoice,
    limits: ResourceLimits,
    system: SystemConfig,
    request_timeout: Duration,
    cluster: Option<ClusterConfig>,
    admin: Option<AdminConfig>,
    /// HTTP ingress to serve once built, with its routes.
    http: Option<(HttpConfig, Vec<IngressRoute>)>,
    /// Whether the host is built for a manifest whose components are still to be loaded
    /// (the host is not ready until they are).
    for_manifest: bool,
}

impl Default for HostBuilder {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            storage: StorageChoice::Memory,
            limits: ResourceLimits::default(),
            system: SystemConfig::default(),
            request_timeout: Duration::from_secs(5),
            cluster: None,
            admin: None,
            http: None,
            for_manifest: false,
        }
    }
}

impl HostBuilder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces every engine setting at once.
    pub fn engine_config(mut self, config: EngineConfig) -> Self {
        self.engine = config;
        self
    }

    /// Sizes the pooling instance allocator, or turns it off with `None`.
    pub fn pooling(mut self, pooling: Option<PoolingConfig>) -> Self {
        self.engine.pooling = pooling;
        self
    }

    /// Meters fuel, so `max_fuel` limits apply.
    pub fn fuel(mut self, on: bool) -> Self {
        self.engine.fuel = on;
        self
    }

    /// Caches compiled components in this directory, so a restart skips compilation.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.engine.cache_dir = Some(dir.into());
        self
    }

    /// How often the epoch advances: the granularity of CPU deadlines.
    pub fn epoch_tick(mut self, tick: Duration) -> Self {
        self.engine.epoch_tick = tick;
        self
    }

    /// Keeps storage in a redb database file (created if absent); it survives restarts.
    pub fn storage_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.storage = StorageChoice::File(path.into());
        self
    }

    /// Keeps storage in memory (the default): nothing survives the host.
    pub fn memory_storage(mut self) -> Self {
        self.storage = StorageChoice::Memory;
        self
    }

    /// Keeps storage in the cluster's JetStream storage stream: each
    /// component's writes are committed there before its reply, and a component started on
    /// another host reads them all before its first call. Needs a cluster
    /// ([`HostBuilder::cluster`]) and [`HostBuilder::connect`].
    pub fn cluster_storage(mut self) -> Self {
        self.storage = StorageChoice::Cluster;
        self
    }

    /// Uses a storage backend of the embedder's.
    pub fn storage_backend(mut self, backend: Arc<dyn StorageBackend>) -> Self {
        self.storage = StorageChoice::Backend(backend);
        self
    }

    /// Limits of components whose spec or manifest entry sets none.
    pub fn default_limits(mut self, limits: ResourceLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Mailbox capacity of components that set none.
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.system.mailbox_capacity = capacity;
        self
    }

    /// How often each component's `health` export is polled; `None` for never.
    pub fn health_interval(mut self, interval: Option<Duration>) -> Self {
        self.system.health_interval = interval;
        self
    }

    /// How long each component's `shutdown` export may take when it is stopped.
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.system.shutdown_deadline = deadline;
        self
    }

    /// Per-message observability (on by default): per-component metrics and one `tracing`
    /// span per handled message. Off keeps only the system-wide counters.
    pub fn observe(mut self, on: bool) -> Self {
        self.system.observe = on;
        self
    }

    /// Joins traced message spans to another tracing system (see [`crate::SpanLink`]): the
    /// command's OTLP exporter uses it so the exported spans carry the messages' W3C ids.
    pub fn span_link(mut self, link: Arc<dyn crate::SpanLink>) -> Self {
        self.system.span_link = Some(link);
        self
    }

    /// Which threads components run on: by default one shard per core (see
    /// [`Placement`]).
    pub fn placement(mut self, placement: Placement) -> Self {
        self.system.placement = placement;
        self
    }

    /// The timeout of [`Host::request`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Joins a cluster: components on other hosts become reachable, and this host's
    /// components claim their ids there. Build with [`HostBuilder::connect`].
    pub fn cluster(mut self, cluster: ClusterConfig) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Serves the admin endpoint (metrics, health, inventory, operations) on the host; see
    /// [`AdminConfig`]. The address is bound by `build`/`connect`, which fail if it cannot
    /// be, or if it is not loopback and no token is set.
    pub fn admin(mut self, admin: AdminConfig) -> Self {
        self.admin = Some(admin);
        self
    }

    /// Serves HTTP ingress on `config.addr` once the host is built, with `routes` (see
    /// [`crate::ingress`]); their handler files are compiled then. [`Host::http_addr`] is
    /// the address it listens on, and [`Host::serve_http`] replaces the routes later.
    ///
    /// [`Host::http_addr`]: crate::Host::http_addr
    /// [`Host::serve_http`]: crate::Host::serve_http
    pub fn http(mut self, config: HttpConfig, routes: Vec<IngressRoute>) -> Self {
        self.http = Some((config, routes));
        self
    }

    /// Serves no admin endpoint, whatever was set so far (by [`HostBuilder::admin`] or a
    /// manifest's `[host] admin`): for a short-lived host, like one that answers a single
    /// request.
    pub fn no_admin(mut self) -> Self {
        self.admin = None;
        self
    }

    /// Leaves any cluster set so far (by [`HostBuilder::cluster`] or a manifest's
    /// `[cluster]`): the host runs alone, and [`HostBuilder::build`] suffices. For checking a
    /// manifest's components without joining anything.
    pub fn standalone(mut self) -> Self {
        self.cluster = None;
        self
    }

    /// Applies a manifest's `[cluster]` section, if any, and its `[host]` section (storage, default limits, mailbox, health
    /// interval, shutdown deadline, request timeout) and turns fuel metering on if any limit
    /// in the manifest sets fuel. Settings the section leaves out keep their current value.
    pub fn manifest_defaults(mut self, manifest: &Manifest) -> Self {
        if let Some(cluster) = manifest.cluster() {
            self.cluster = Some(cluster.clone());
        }
        let host = manifest.host();
        match &host.storage {
            Some(StorageLocation::Memory) => self.storage = StorageChoice::Memory,
            Some(StorageLocation::File(path)) => self.storage = StorageChoice::File(path.clone()),
            Some(StorageLocation::Cluster) => self.storage = StorageChoice::Cluster,
            None => {}
        }
        self.limits = host.limits.apply(self.limits);
        if let Some(mailbox) = host.mailbox {
            self.system.mailbox_capacity = mailbox;
        }
        if host.health_interval.is_some() {
            self.system.health_interval = host.health_interval;
        }
        if let Some(deadline) = host.shutdown_deadline {
            self.system.shutdown_deadline = deadline;
        }
        if let Some(timeout) = host.request_timeout {
            self.request_timeout = timeout;
        }
        if let Some(shards) = host.shards {
            self.system.placement = Placement::Shards(shards);
        }
        if manifest.uses_fuel() {
            self.engine.fuel = true;
        }
        if let Some(addr) = host.admin {
            let token = self.admin.take().and_then(|a| a.token);
            let mut admin = AdminConfig::new(addr);
            admin.token = token;
            self.admin = Some(admin);
        }
        self.for_manifest = true;
        self
    }

    /// Builds the engine, opens the storage and starts an empty system.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Admin`] if the admin endpoint cannot be served;
    /// [`crate::Error::Runtime`] if the engine settings are rejected, [`crate::Error::Limits`]
    /// if the default limits cannot be applied on that engine (memory above the pool's slot
    /// size, fuel without metering), [`crate::Error::Storage`] if the database file cannot be
    /// opened.
    ///
    /// # Panics
    ///
    /// If called outside a tokio runtime (the system starts a task for request deadlines).
    pub fn build(self) -> crate::Result<Host> {
        if let Some(cluster) = &self.cluster {
            return Err(crate::Error::NeedsConnect {
                host: cluster.host.clone(),
                cluster: cluster.name.clone(),
            });
        }
        self.assemble(None)
    }

    /// As [`HostBuilder::build`], and first joins the cluster if one is set (connecting to
    /// its NATS server). Without a cluster it is the same as `build`.
    ///
    /// # Errors
    ///
    /// As [`HostBuilder::build`], and [`crate::Error::Cluster`] naming the URL and host if
    /// the NATS server cannot be reached or refuses the credentials.
    ///
    /// # Panics
    ///
    /// As [`HostBuilder::build`].
    pub async fn connect(mut self) -> crate::Result<Host> {
        let transport = match self.cluster.take() {
            Some(cluster) => Some(NatsTransport::connect(cluster).await?),
            None => None,
        };
        if let (StorageChoice::Cluster, Some(transport)) = (&self.storage, &transport) {
            self.storage = StorageChoice::Backend(Arc::new(transport.storage().await?));
        }
        self.assemble(transport)
    }

    fn assemble(self, transport: Option<NatsTransport>) -> crate::Result<Host> {
        let engine = WasmEngine::new(self.engine)?;
        if let Some(detail) = engine.limits_problem(&self.limits) {
            return Err(crate::Error::Limits { detail });
        }
        let (storage, redb): (Arc<dyn StorageBackend>, Option<Arc<RedbStorage>>) =
            match self.storage {
                StorageChoice::Memory => (Arc::new(MemoryStorage::new()), None),
                StorageChoice::Backend(backend) => (backend, None),
                StorageChoice::Cluster => return Err(crate::Error::ClusterStorageWithoutCluster),
                StorageChoice::File(path) => {
                    let redb = Arc::new(RedbStorage::open(path)?);
                    (redb.clone(), Some(redb))
                }
            };
        let system = match &transport {
            Some(transport) => ActorSystem::with_remote(
                engine,
                storage.clone(),
                self.system,
                Arc::new(transport.clone()),
            ),
            None => ActorSystem::new(engine, storage.clone(), self.system),
        };
        let mut host = Host::new(Core::new(
            system,
            storage,
            redb,
            transport,
            self.limits,
            self.request_timeout,
            self.for_manifest,
        ));
        if let Some(admin) = self.admin {
            host.serve_admin(admin)?;
        }
        if let Some((config, routes)) = self.http {
            let routes = routes
                .into_iter()
                .map(|route| route.compile(host.engine(), self.limits))
                .collect::<crate::Result<Vec<_>>>()?;
            host.start_http(config, routes)?;
        }
        Ok(host)
    }
}
