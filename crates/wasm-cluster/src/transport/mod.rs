//! [`NatsTransport`]: the actor layer's [`RemoteTransport`] over a NATS server.
//!
//! Every component of this host has its own subject, so NATS routes a message to the one host
//! that runs the target and answers "no responders" at once when none does. A request, and a
//! send with no credit, is one NATS request: the target's host queues the message and
//! acknowledges with the result (`ok`, `queue-full`, `not-found`), so a full mailbox is
//! `queue-full` as inside one host. The acknowledgement of a send carries credit: slots held
//! in the target's mailbox, into which the next sends go as one NATS message each, without
//! waiting (see `credit`). A request's answer is one NATS message to the requesting host's
//! answer subject. Heartbeats carry each host's component list.

mod inbound;
mod membership;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_nats::{Client, ConnectOptions, HeaderMap, Message, Request, RequestErrorKind};
use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wasm_actor::{Claim, RemoteTransport, Router};
use wasm_core::{ComponentId, ComponentInfo, ComponentMessage, MessagingError, Routed};

use crate::config::{Auth, ClusterConfig};
use crate::credit::{Credits, Lent};
use crate::error::{Error, Result};
use crate::loans::Loans;
use crate::peers::Peers;
use crate::subject::Subjects;
use crate::wire::{self, Kind};

/// Header of a heartbeat that says the host is leaving.
const BYE: &str = "Airssys-Bye";

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
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    config: ClusterConfig,
    subjects: Subjects,
    router: OnceLock<Router>,
    peers: Peers,
    /// The host that last acknowledged a message for each remote target: when that host is
    /// lost, requests pending to these targets are answered even if no heartbeat listed them.
    acked_by: Mutex<HashMap<ComponentId, String>>,
    /// Slots held in local mailboxes for other hosts' broadcasts.
    loans: Loans,
    /// Credit this host holds for sends to other hosts' components.
    credits: Arc<Credits>,
    /// Credit this host gave other hosts for sends to its components.
    lent: Lent,
    /// Sender ids of other hosts checked against their owner (see `check_sender`).
    senders: Mutex<HashMap<ComponentId, String>>,
    /// The inbound task of each local component's subject.
    inbound: Mutex<HashMap<ComponentId, JoinHandle<()>>>,
    /// Answers to other hosts' requests, published in order by one task.
    outbox: mpsc::UnboundedSender<Outgoing>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Outgoing {
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
}

async fn options(config: &ClusterConfig, credits: Arc<Credits>) -> Result<ConnectOptions> {
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
            // Messages sent on credit while the connection drops may be lost: the rest of the
            // credit is not used, and the next acknowledged send settles the account.
            if matches!(event, async_nats::Event::Disconnected) {
                credits.suspend();
            }
            tracing::info!(host = %host, %event, "NATS connection");
            async {}
        })
        .name(format!("airssys-wasm {} in {}", config.host, config.name))
        .require_tls(tls)
        .connection_timeout(config.ack_timeout))
}

impl NatsTransport {
    /// Connects to the cluster's NATS server, starts listening for answers and heartbeats,
    /// and announces this host.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for unusable settings, [`Error::Connect`] naming the URL and host if
    /// the server cannot be reached or refuses the credentials, [`Error::Credentials`],
    /// [`Error::Subscribe`].
    pub async fn connect(config: ClusterConfig) -> Result<Self> {
        config.validate()?;
        let credits = Arc::new(Credits::default());
        let client = options(&config, credits.clone())
            .await?
            .connect(config.urls.as_slice())
            .await
            .map_err(|source| Error::Connect {
                url: config.url_text(),
                host: config.host.clone(),
                source,
            })?;
        let subjects = Subjects::new(&config.name, &config.host);
        let subscribe = |subject: String| {
            let client = client.clone();
            let url = config.url_text();
            async move {
                client
                    .subscribe(subject.clone())
                    .await
                    .map_err(|source| Error::Subscribe {
                        subject,
                        url,
                        source,
                    })
            }
        };
        let answers = subscribe(subjects.answers().to_owned()).await?;
        let heartbeats = subscribe(subjects.heartbeats()).await?;
        let (outbox, outgoing) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            client,
            config,
            subjects,
            router: OnceLock::new(),
            peers: Peers::default(),
            acked_by: Mutex::new(HashMap::new()),
            senders: Mutex::new(HashMap::new()),
            loans: Loans::default(),
            credits,
            lent: Lent::default(),
            inbound: Mutex::new(HashMap::new()),
            outbox,
            tasks: Mutex::new(Vec::new()),
        });
        let tasks = vec![
            tokio::spawn(inner.clone().publish_outbox(outgoing)),
            tokio::spawn(inner.clone().read_answers(answers)),
            tokio::spawn(inner.clone().read_heartbeats(heartbeats)),
            tokio::spawn(inner.clone().beat()),
        ];
        *inner.tasks.lock() = tasks;
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

    /// The hosts this host hears from now, sorted.
    pub fn peers(&self) -> Vec<String> {
        self.inner.peers.hosts()
    }

    /// Leaves the cluster: says goodbye (peers answer pending requests at once instead of
    /// waiting for missed heartbeats), stops listening, and flushes what is still queued.
    pub async fn close(&self) {
        let inner = &self.inner;
        let mut headers = HeaderMap::new();
        headers.insert(wire::HOST, inner.config.host.as_str());
        headers.insert(BYE, "1");
        let subject = inner.subjects.heartbeat(&inner.config.host);
        if let Err(e) = inner
            .client
            .publish_with_headers(subject, headers, Bytes::new())
            .await
        {
            tracing::warn!(host = %inner.config.host, error = %e, "cannot say goodbye to the cluster");
        }
        for (_, task) in inner.inbound.lock().drain() {
            task.abort();
        }
        for task in inner.tasks.lock().drain(..) {
            task.abort();
        }
        // A flush only empties the socket; this round trip returns once the server has taken
        // the unsubscribes too, so no host reaches this one's components after `close`.
        let sync = Request::new().timeout(Some(inner.config.ack_timeout));
        match inner
            .client
            .send_request(inner.subjects.sync(&inner.config.host), sync)
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
    fn router(&self) -> Option<&Router> {
        let router = self.router.get();
        if router.is_none() {
            tracing::warn!(host = %self.config.host, "cluster traffic before the actor system attached");
        }
        router
    }

    /// Sends one message (or request, or probe) to `to`'s subject and waits for the
    /// acknowledgement of its host.
    async fn deliver(
        &self,
        kind: Kind,
        to: &ComponentId,
        message: ComponentMessage,
        timeout: Option<Duration>,
    ) -> std::result::Result<Message, MessagingError> {
        let mut headers = wire::message_headers(kind, &self.config.host, &message, timeout);
        if kind == Kind::Send
            && let Some(spent) = self.credits.spent(to)
        {
            headers.insert(wire::SPENT, spent.to_string().as_str());
        }
        let request = Request::new()
            .headers(headers)
            .payload(Bytes::from(message.payload))
            .timeout(Some(self.config.ack_timeout));
        self.client
            .send_request(self.subjects.component(to), request)
            .await
            .map_err(|e| match e.kind() {
                RequestErrorKind::NoResponders => MessagingError::TargetNotFound(to.clone()),
                RequestErrorKind::TimedOut => MessagingError::DeliveryFailed(format!(
                    "the host of {to} did not acknowledge within {} ms (cluster `{}`, NATS at {})",
                    self.config.ack_timeout.as_millis(),
                    self.config.name,
                    self.config.url_text()
                )),
                _ => MessagingError::DeliveryFailed(format!(
                    "cannot reach {to} through the NATS server at {}: {e}",
                    self.config.url_text()
                )),
            })
    }

    /// Which host serves `id`'s subject now (`None`: no host does). A host that stopped the
    /// id a moment ago may still hold the subscription without answering (its unsubscribe is
    /// on the way), so a probe nobody answers is asked again, a few times, on a short timeout.
    async fn owner_of(&self, id: &ComponentId) -> std::result::Result<Option<String>, String> {
        const ATTEMPTS: u32 = 4;
        let timeout = self.config.ack_timeout.min(Duration::from_millis(500));
        for attempt in 0..ATTEMPTS {
            tracing::debug!(host = %self.config.host, component = %id, attempt, "probe");
            let mut headers = HeaderMap::new();
            headers.insert(wire::KIND, Kind::Probe.as_str());
            headers.insert(wire::HOST, self.config.host.as_str());
            headers.insert(wire::FROM, id.to_string().as_str());
            let request = Request::new().headers(headers).timeout(Some(timeout));
            match self
                .client
                .send_request(self.subjects.component(id), request)
                .await
            {
                Err(e) if e.kind() == RequestErrorKind::NoResponders => return Ok(None),
                Err(e) if e.kind() == RequestErrorKind::TimedOut => continue,
                Err(e) => {
                    return Err(format!(
                        "cannot ask who runs {id} in cluster `{}` through the NATS server at {}: {e}",
                        self.config.name,
                        self.config.url_text()
                    ));
                }
                Ok(ack) => {
                    let headers = ack.headers.as_ref();
                    return match (
                        headers
                            .and_then(|h| h.get(wire::RESULT))
                            .map(|v| v.as_str()),
                        headers.and_then(|h| h.get(wire::HOST)),
                    ) {
                        (Some(wire::RUNNING), Some(host)) => Ok(Some(host.to_string())),
                        _ => Err(format!(
                            "a probe for {id} in cluster `{}` got an answer that is not a host's",
                            self.config.name
                        )),
                    };
                }
            }
        }
        Err(format!(
            "the subject of {id} in cluster `{}` is held but nobody answered {ATTEMPTS} probes",
            self.config.name
        ))
    }

    /// Claims `id` for this host: `Ok` when no host serves it.
    async fn claim(&self, id: &ComponentId) -> std::result::Result<(), String> {
        match self.owner_of(id).await? {
            None => Ok(()),
            Some(host) => Err(format!(
                "{id} already runs on host `{host}` of cluster `{}`",
                self.config.name
            )),
        }
    }

    async fn send_acked(
        self: Arc<Self>,
        kind: Kind,
        to: ComponentId,
        message: ComponentMessage,
        timeout: Option<Duration>,
    ) -> std::result::Result<(), MessagingError> {
        let ack = self.deliver(kind, &to, message, timeout).await?;
        let headers = ack.headers.as_ref();
        let host = headers
            .and_then(|h| h.get(wire::HOST))
            .map(|h| h.to_string());
        if let Some(host) = &host {
            let mut acked_by = self.acked_by.lock();
            if acked_by.get(&to).is_none_or(|h| h != host) {
                acked_by.insert(to.clone(), host.clone());
            }
        }
        wire::read_ack(headers, &to)?;
        let credit = headers
            .and_then(|h| h.get(wire::CREDIT))
            .and_then(|c| c.as_str().parse::<usize>().ok());
        if let (Kind::Send, Some(credit), Some(host)) = (kind, credit, host) {
            self.credits.granted(&to, &host, credit);
        }
        Ok(())
    }

    /// Sends on credit: one NATS message, no acknowledgement (a slot is held for it).
    async fn send_on_credit(
        self: Arc<Self>,
        to: ComponentId,
        message: ComponentMessage,
    ) -> std::result::Result<(), MessagingError> {
        let headers = wire::message_headers(Kind::Credited, &self.config.host, &message, None);
        self.client
            .publish_with_headers(
                self.subjects.component(&to),
                headers,
                Bytes::from(message.payload),
            )
            .await
            .map_err(|e| {
                MessagingError::DeliveryFailed(format!(
                    "cannot send to {to} through the NATS server at {}: {e}",
                    self.config.url_text()
                ))
            })
    }

    /// Gives back one held slot in each target's mailbox (a broadcast that will not be sent).
    async fn give_back(self: &Arc<Self>, targets: &[ComponentId]) {
        for to in targets {
            if let Err(e) = self
                .clone()
                .send_acked(Kind::Release, to.clone(), slot_message(), None)
                .await
            {
                tracing::warn!(component = %to, error = %e, "a held slot was not given back; it is freed when this host leaves");
            }
        }
    }

    async fn publish_outbox(self: Arc<Self>, mut outgoing: mpsc::UnboundedReceiver<Outgoing>) {
        while let Some(out) = outgoing.recv().await {
            if let Err(e) = self
                .client
                .publish_with_headers(out.subject.clone(), out.headers, out.payload)
                .await
            {
                tracing::warn!(subject = %out.subject, error = %e, "cannot publish an answer");
            }
        }
    }

    async fn read_answers(self: Arc<Self>, mut answers: async_nats::Subscriber) {
        while let Some(message) = answers.next().await {
            match wire::read_answer(message.headers.as_ref(), &message.payload) {
                Ok((correlation, outcome)) => {
                    if let Some(router) = self.router() {
                        router.answer_from_remote(&correlation, outcome);
                    }
                }
                Err(detail) => tracing::warn!(%detail, "a malformed answer dropped"),
            }
        }
    }
}

/// The message of a `reserve` or `release`: no payload, the embedder as sender.
fn slot_message() -> ComponentMessage {
    ComponentMessage {
        sender: ComponentId::host(),
        payload: Vec::new(),
        metadata: wasm_core::MessageMetadata::default(),
    }
}

impl RemoteTransport for NatsTransport {
    fn attach(&self, router: Router) {
        if self.inner.router.set(router).is_err() {
            tracing::warn!(host = %self.inner.config.host, "a second actor system attached to one cluster transport; ignored");
        }
    }

    fn send(&self, to: &ComponentId, message: ComponentMessage) -> Routed<()> {
        let inner = self.inner.clone();
        if inner.credits.take(to) {
            return Routed::Later(Box::pin(inner.send_on_credit(to.clone(), message)));
        }
        Routed::Later(Box::pin(inner.send_acked(
            Kind::Send,
            to.clone(),
            message,
            None,
        )))
    }

    fn request(
        &self,
        to: &ComponentId,
        message: ComponentMessage,
        timeout: Duration,
    ) -> Routed<()> {
        let inner = self.inner.clone();
        Routed::Later(Box::pin(inner.send_acked(
            Kind::Request,
            to.clone(),
            message,
            Some(timeout),
        )))
    }

    fn reserve(&self, targets: &[ComponentId]) -> Routed<()> {
        let inner = self.inner.clone();
        let targets = targets.to_vec();
        Routed::Later(Box::pin(async move {
            for (i, to) in targets.iter().enumerate() {
                let held = inner
                    .clone()
                    .send_acked(Kind::Reserve, to.clone(), slot_message(), None)
                    .await;
                if let Err(error) = held {
                    // Nothing is sent: the slots already held are given back.
                    inner.give_back(&targets[..i]).await;
                    return Err(error);
                }
            }
            Ok(())
        }))
    }

    fn release(&self, targets: &[ComponentId]) -> Routed<()> {
        let inner = self.inner.clone();
        let targets = targets.to_vec();
        Routed::Later(Box::pin(async move {
            inner.give_back(&targets).await;
            Ok(())
        }))
    }

    fn send_reserved(&self, targets: &[ComponentId], message: ComponentMessage) -> Routed<()> {
        let inner = self.inner.clone();
        let targets = targets.to_vec();
        Routed::Later(Box::pin(async move {
            for to in targets {
                inner
                    .clone()
                    .send_acked(Kind::Reserved, to, message.clone(), None)
                    .await?;
            }
            Ok(())
        }))
    }

    fn register(&self, id: &ComponentId) -> Claim {
        let inner = self.inner.clone();
        let id = id.clone();
        Box::pin(async move {
            // The probe asks the subject itself (the heartbeat view may be a beat behind):
            // whoever serves it answers, and nobody serving it is "no responders".
            inner.claim(&id).await?;
            let subject = inner.subjects.component(&id);
            let subscriber = inner.client.subscribe(subject.clone()).await.map_err(|e| {
                format!(
                    "cannot subscribe to {subject} on the NATS server at {}: {e}",
                    inner.config.url_text()
                )
            })?;
            let task = tokio::spawn(inner.clone().serve(id.clone(), subscriber));
            if let Some(old) = inner.inbound.lock().insert(id.clone(), task) {
                old.abort();
            }
            // A flush only empties the socket. A probe of our own subject comes back through
            // the server after it has taken the subscription, so once this host answers it,
            // messages from every host on this server reach the component. Another host
            // answering first claimed the id at the same moment: this claim gives way.
            let live = match inner.owner_of(&id).await {
                Ok(Some(host)) if host == inner.config.host => Ok(()),
                Ok(Some(host)) => Err(format!(
                    "{id} already runs on host `{host}` of cluster `{}`",
                    inner.config.name
                )),
                Ok(None) => Err(format!(
                    "the subscription for {id} did not take on the NATS server at {}",
                    inner.config.url_text()
                )),
                Err(e) => Err(e),
            };
            if live.is_err()
                && let Some(task) = inner.inbound.lock().remove(&id)
            {
                task.abort();
            }
            live
        })
    }

    fn unregister(&self, id: &ComponentId) {
        if let Some(task) = self.inner.inbound.lock().remove(id) {
            task.abort();
        }
        self.inner.loans.forget_component(id);
        self.inner.lent.forget_component(id);
    }

    fn components(&self) -> Vec<ComponentId> {
        self.inner.peers.components()
    }

    fn info(&self, id: &ComponentId) -> Option<ComponentInfo> {
        self.inner.peers.info(id)
    }
}
