//! [`NatsTransport`]: the actor layer's [`RemoteTransport`] over NATS and JetStream.
//!
//! Joining: connect, open the cluster's buckets, claim this host's name with a lease (a
//! second live process of the same name is refused), read the directory, then serve. Every
//! message between hosts is core NATS, to the target host incarnation's inbox, batched in
//! bundles; who is alive and who runs what is JetStream key-value, watched.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectOptions, Request, RequestErrorKind};
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use wasm_actor::{Claim, LocalPush, RemoteLink, RemoteTransport, Router};
use wasm_core::{ComponentId, ComponentInfo, ComponentMessage, CorrelationId, Routed};

use crate::config::{Auth, ClusterConfig};
use crate::directory::Directory;
use crate::error::{Error, Result};
use crate::peer::{Peer, PeerKey};
use crate::state::ClusterStorage;
use crate::stats::{ClusterStats, Stats};
use crate::store::Store;
use crate::subject::Names;

/// This host's membership of a cluster. Cheap to clone.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use wasm_cluster::{ClusterConfig, NatsTransport};
///
/// let transport = NatsTransport::connect(ClusterConfig::new(
///     "nats://127.0.0.1:4222",
///     "edge-1",
///     "orders",
/// ))
/// .await?;
/// // Hand it to `ActorSystem::with_remote`; at the end:
/// transport.close().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct NatsTransport {
    pub(crate) inner: Arc<Inner>,
}

/// Everything the transport's tasks share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: ClusterConfig,
    pub(crate) names: Names,
    pub(crate) client: Client,
    pub(crate) store: Store,
    pub(crate) router: OnceLock<Router>,
    /// The cluster's component storage, once a host asked for it: claims take a
    /// component's storage with its id.
    pub(crate) storage: OnceLock<ClusterStorage>,
    /// This process's current incarnation and its lease.
    pub(crate) session: RwLock<Session>,
    pub(crate) directory: Directory,
    /// The other host incarnations this one talks to, by incarnation (random 64-bit ids:
    /// one names one process).
    pub(crate) peers: RwLock<HashMap<u64, Arc<Peer>>>,
    /// The ids this host claimed: the claim's epoch and the record's last revision.
    pub(crate) owned: Mutex<HashMap<ComponentId, Owned>>,
    /// Ids being claimed right now.
    pub(crate) claiming: Mutex<HashSet<ComponentId>>,
    /// Requests sent to other hosts and not answered: which incarnation was asked.
    pub(crate) asked: Mutex<HashMap<CorrelationId, Asked>>,
    /// The room other hosts take in each local component's mailbox.
    pub(crate) shares: crate::credit::Shares,
    /// Incarnations found live by reading their record (before the watch showed them).
    pub(crate) confirmed: Mutex<HashSet<PeerKey>>,
    /// Incarnations that ended lately, and when: what they sent before is still settled.
    pub(crate) ended: Mutex<HashMap<PeerKey, Instant>>,
    /// Peers with frames to write.
    pub(crate) outbox: Outbox,
    /// Incoming windows and holds with an acknowledgement due.
    pub(crate) acks: Arc<crate::acks::AckQueue>,
    /// Ids of asks, windows and holds.
    pub(crate) next_id: AtomicU64,
    /// The NATS server's largest message.
    pub(crate) max_payload: usize,
    pub(crate) stats: Stats,
    pub(crate) signals: Arc<Signals>,
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The task reading the current incarnation's inbox.
    pub(crate) inbox_task: Mutex<Option<JoinHandle<()>>>,
    /// Ownership records of stopped components being deleted: leaving waits for them, so
    /// the host's name is given back after its ids.
    pub(crate) releasing: Mutex<JoinSet<()>>,
    pub(crate) closing: AtomicBool,
}

/// This process in the cluster now.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) incarnation: u64,
    /// The revision of this incarnation's host record.
    pub(crate) revision: u64,
    /// When the last renewal the server took was sent: the lease runs from there.
    pub(crate) renewed: Option<Instant>,
    /// Whether its components may be served (false while it claims its ids again after a
    /// lost lease).
    pub(crate) serving: bool,
}

/// An id this host claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owned {
    pub(crate) epoch: u64,
    pub(crate) revision: u64,
}

/// A request sent to another host, waiting for its answer.
#[derive(Debug, Clone)]
pub(crate) struct Asked {
    pub(crate) peer: PeerKey,
    pub(crate) until: Instant,
}

/// What the NATS connection tells the tasks.
#[derive(Debug, Default)]
pub(crate) struct Signals {
    /// The connection came back: send again what was not acknowledged, renew the lease.
    pub(crate) reconnected: AtomicBool,
    pub(crate) wake: Notify,
}

/// The writer's queue: peers with frames to write, in order.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) queue: Mutex<Vec<Arc<Peer>>>,
    pub(crate) ready: Notify,
}

impl Outbox {
    pub(crate) fn push(&self, peer: Arc<Peer>) {
        self.queue.lock().push(peer);
        self.ready.notify_one();
    }
}

/// Checks `config`, connects to its servers and opens the cluster's buckets.
pub(crate) async fn open(
    config: &ClusterConfig,
    signals: Arc<Signals>,
) -> Result<(Client, Names, Store)> {
    config.validate()?;
    let client = options(config, signals)
        .await?
        .connect(config.urls.as_slice())
        .await
        .map_err(|source| Error::Connect {
            url: config.url_text(),
            host: config.host.clone(),
            source,
        })?;
    let mut js = async_nats::jetstream::new(client.clone());
    js.set_timeout(config.timeout);
    let names = Names::new(&config.name);
    let store = Store::open(js, &names, config).await?;
    Ok((client, names, store))
}

async fn options(config: &ClusterConfig, signals: Arc<Signals>) -> Result<ConnectOptions> {
    let options =
        match &config.auth {
            Auth::None => ConnectOptions::new(),
            Auth::Token(token) => ConnectOptions::with_token(token.clone()),
            Auth::UserPassword { user, password } => {
                ConnectOptions::with_user_and_password(user.clone(), password.clone())
            }
            Auth::Nkey(seed) => ConnectOptions::with_nkey(seed.clone()),
            Auth::CredentialsFile(path) => ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|source| Error::Credentials {
                    path: path.display().to_string(),
                    source,
                })?,
        };
    let tls = config.urls.iter().any(|u| u.starts_with("tls://"));
    let host = config.host.clone();
    Ok(options
        .event_callback(move |event| {
            if matches!(event, async_nats::Event::Connected) {
                signals.reconnected.store(true, Ordering::Release);
                signals.wake.notify_waiters();
            }
            tracing::info!(host = %host, %event, "NATS connection");
            async {}
        })
        .name(format!("airssys-wasm {} in {}", config.host, config.name))
        .require_tls(tls)
        .connection_timeout(config.timeout))
}

impl NatsTransport {
    /// Connects to the cluster's NATS servers, opens its JetStream buckets, claims this host's
    /// name (waiting up to one lease for a previous process of the same name to lapse), reads
    /// the directory and starts serving.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for unusable settings, [`Error::Connect`] naming the URL and host if
    /// the server cannot be reached or refuses the credentials, [`Error::Credentials`],
    /// [`Error::JetStream`] if the buckets cannot be opened (no JetStream, an old server),
    /// [`Error::HostNameTaken`] naming the live process that holds the name,
    /// [`Error::Subscribe`].
    pub async fn connect(config: ClusterConfig) -> Result<Self> {
        let signals = Arc::new(Signals::default());
        let (client, names, store) = open(&config, signals.clone()).await?;
        // Every server says it at once; it only grows when the connection moves.
        signals.reconnected.store(false, Ordering::Release);
        let max_payload = client.server_info().max_payload;
        let inner = Arc::new(Inner {
            names,
            client,
            store,
            router: OnceLock::new(),
            storage: OnceLock::new(),
            session: RwLock::new(Session {
                incarnation: crate::incarnation::new(),
                revision: 0,
                renewed: None,
                serving: true,
            }),
            directory: Directory::default(),
            peers: RwLock::new(HashMap::new()),
            owned: Mutex::new(HashMap::new()),
            claiming: Mutex::new(HashSet::new()),
            asked: Mutex::new(HashMap::new()),
            shares: crate::credit::Shares::default(),
            confirmed: Mutex::new(HashSet::new()),
            ended: Mutex::new(HashMap::new()),
            outbox: Outbox::default(),
            acks: Arc::default(),
            next_id: AtomicU64::new(1),
            max_payload,
            stats: Stats::default(),
            signals,
            tasks: Mutex::new(Vec::new()),
            inbox_task: Mutex::new(None),
            releasing: Mutex::new(JoinSet::new()),
            closing: AtomicBool::new(false),
            config,
        });
        inner.clone().open_inbox().await?;
        inner.claim_name().await?;
        inner.clone().watch_directory().await?;
        inner.clone().forget_old_incarnations().await;
        let tasks = vec![
            tokio::spawn(inner.clone().write_loop()),
            tokio::spawn(inner.clone().ack_loop()),
            tokio::spawn(inner.clone().lease_loop()),
            tokio::spawn(inner.clone().sweep_loop()),
        ];
        inner.tasks.lock().extend(tasks);
        tracing::info!(
            host = %inner.config.host,
            cluster = %inner.config.name,
            incarnation = %format!("{:016x}", inner.incarnation()),
            url = %inner.config.url_text(),
            "joined the cluster"
        );
        Ok(Self { inner })
    }

    /// This host's name in the cluster.
    pub fn host(&self) -> &str {
        &self.inner.config.host
    }

    /// The cluster's settings.
    pub fn config(&self) -> &ClusterConfig {
        &self.inner.config
    }

    /// This process's incarnation in the cluster (it changes when the host loses its lease).
    pub fn incarnation(&self) -> u64 {
        self.inner.incarnation()
    }

    /// The other live hosts, sorted.
    pub fn peers(&self) -> Vec<String> {
        let me = &self.inner.config.host;
        self.inner
            .directory
            .hosts()
            .into_iter()
            .filter(|h| h != me)
            .collect()
    }

    /// What the transport has done so far.
    pub fn stats(&self) -> ClusterStats {
        ClusterStats {
            held: self.inner.shares.total(),
            ..self.inner.stats.snapshot()
        }
    }

    /// The cluster's component storage, on this host's connection (see [`ClusterStorage`]).
    /// Ask for it before components start: from then on, each component this host claims
    /// has its storage taken with its id (read up to date before its first call), and let go
    /// of when it stops.
    ///
    /// # Errors
    ///
    /// [`Error::JetStream`] if the state stream cannot be opened or made.
    pub async fn storage(&self) -> Result<ClusterStorage> {
        let inner = &self.inner;
        if let Some(storage) = inner.storage.get() {
            return Ok(storage.clone());
        }
        let storage = ClusterStorage::open(
            inner.store.js().clone(),
            inner.names.clone(),
            inner.config.replicas,
            inner.config.url_text(),
            inner.config.timeout,
            inner.max_payload,
        )
        .await?;
        Ok(inner.storage.get_or_init(|| storage).clone())
    }

    /// The live hosts (with their labels) and who runs what, as this host sees them now.
    pub fn view(&self) -> crate::deploy::ClusterView {
        self.inner.directory.view()
    }

    /// Waits until the hosts or the components of the cluster change (a change since the
    /// last wait counts).
    pub async fn changed(&self) {
        self.inner.directory.changed.notified().await;
    }

    /// The cluster's deployed applications.
    ///
    /// # Errors
    ///
    /// [`Error::JetStream`] if the bucket cannot be opened.
    pub async fn apps(&self) -> Result<crate::deploy::AppStore> {
        let inner = &self.inner;
        crate::deploy::AppStore::open(
            inner.store.js(),
            inner.names.apps_bucket(),
            &inner.config.name,
            inner.config.replicas,
            inner.store.url(),
        )
        .await
    }

    /// The cluster's code store.
    ///
    /// # Errors
    ///
    /// [`Error::JetStream`] if it cannot be opened.
    pub async fn code(&self) -> Result<crate::deploy::CodeStore> {
        let inner = &self.inner;
        crate::deploy::CodeStore::open(
            inner.store.js(),
            inner.names.code_bucket(),
            &inner.config.name,
            inner.config.replicas,
            inner.store.url(),
        )
        .await
    }

    /// Leaves the cluster: gives back this host's ids and its name (peers answer their
    /// pending requests to it at once instead of waiting for the lease to lapse), writes out
    /// what is queued, and stops.
    pub async fn close(&self) {
        let inner = &self.inner;
        if inner.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        // Answers and acknowledgements queued by the system's shutdown go out first.
        inner.write_all().await;
        inner.release_all().await;
        for task in inner.tasks.lock().drain(..) {
            task.abort();
        }
        if let Some(task) = inner.inbox_task.lock().take() {
            task.abort();
        }
        // A flush only empties the socket; this round trip returns once the server has
        // taken everything sent before it.
        let sync = Request::new().timeout(Some(inner.config.timeout));
        match inner
            .client
            .send_request(inner.names.sync(&inner.config.host), sync)
            .await
        {
            Err(e) if e.kind() == RequestErrorKind::NoResponders => {}
            Err(e) => {
                tracing::warn!(host = %inner.config.host, error = %e, "cannot sync with the NATS server");
            }
            Ok(_) => {}
        }
    }
}

impl Inner {
    pub(crate) fn router(&self) -> Option<&Router> {
        self.router.get()
    }

    pub(crate) fn incarnation(&self) -> u64 {
        self.session.read().incarnation
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The peer for a live incarnation, made on first use.
    pub(crate) fn peer(&self, host: &str, incarnation: u64) -> Arc<Peer> {
        if let Some(peer) = self.peers.read().get(&incarnation)
            && peer.host == host
        {
            return peer.clone();
        }
        let me = (self.config.host.as_str(), self.incarnation());
        let mut peers = self.peers.write();
        let peer = peers.entry(incarnation).or_insert_with(|| {
            Arc::new(Peer::new(
                host.to_owned(),
                incarnation,
                self.names.inbox(host, incarnation),
                me,
            ))
        });
        if peer.host != host {
            // Two hosts drew one incarnation id: never seen; the newer one is kept.
            tracing::error!(host, other = %peer.host, incarnation, "two hosts share an incarnation id");
            *peer = Arc::new(Peer::new(
                host.to_owned(),
                incarnation,
                self.names.inbox(host, incarnation),
                me,
            ));
        }
        peer.clone()
    }

    /// The peer of incarnation `key`, if this host deals with it.
    pub(crate) fn known_peer(&self, key: &PeerKey) -> Option<Arc<Peer>> {
        self.peers
            .read()
            .get(&key.1)
            .filter(|peer| peer.host == key.0)
            .cloned()
    }

    /// Tells the writer about `peer` (it has frames to write).
    pub(crate) fn wake_writer(&self, peer: &Arc<Peer>) {
        self.outbox.push(peer.clone());
    }

    /// Milliseconds since the Unix epoch, on this host's clock.
    pub(crate) fn now_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl RemoteTransport for NatsTransport {
    fn attach(&self, router: Router) {
        if self.inner.router.set(router).is_err() {
            tracing::warn!(host = %self.inner.config.host, "a second actor system attached to one cluster transport; ignored");
            return;
        }
        self.inner.open_fence();
    }
}

impl RemoteLink for NatsTransport {
    fn send(&self, to: &ComponentId, message: ComponentMessage) -> Routed<()> {
        self.inner.clone().send(to, message, None)
    }

    fn request(
        &self,
        to: &ComponentId,
        message: ComponentMessage,
        timeout: Duration,
    ) -> Routed<()> {
        self.inner.clone().send(to, message, Some(timeout))
    }

    fn broadcast(
        &self,
        targets: &[ComponentId],
        message: ComponentMessage,
        local: LocalPush,
    ) -> Routed<()> {
        let inner = self.inner.clone();
        let targets = targets.to_vec();
        Routed::Later(Box::pin(inner.broadcast(targets, message, local)))
    }

    fn register(&self, id: &ComponentId) -> Claim {
        let inner = self.inner.clone();
        let id = id.clone();
        Box::pin(async move { inner.claim(&id).await })
    }

    fn announce(&self, info: ComponentInfo) {
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.announce(info).await });
    }

    fn unregister(&self, id: &ComponentId) {
        self.inner.clone().unregister(id);
    }

    fn components(&self) -> Vec<ComponentId> {
        let inner = &self.inner;
        inner
            .directory
            .components((inner.config.host.as_str(), inner.incarnation()))
    }

    fn info(&self, id: &ComponentId) -> Option<ComponentInfo> {
        self.inner.directory.info(id)
    }
}

/// A request's deadline on the wire: `from_ms` plus `timeout`, in milliseconds since the
/// epoch.
pub(crate) fn deadline_ms(from_ms: u64, timeout: Duration) -> u64 {
    from_ms.saturating_add(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
}
