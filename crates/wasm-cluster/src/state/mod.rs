//! Component storage kept by the cluster, so that a component started on another host finds
//! every write whose reply was delivered.
//!
//! One JetStream stream per cluster (`airssys_<cluster>_state`) holds one subject per
//! component. On it: a *snapshot* of the component's whole storage, then one *record per
//! call* that wrote something, each carrying the epoch of the owner that wrote it.
//!
//! - **Taking the storage.** A host that starts a component reads its subject from the
//!   snapshot on, refusing if a newer epoch wrote there, then publishes a new snapshot under
//!   its own epoch. The snapshot is a rollup: it replaces everything before it.
//! - **Committing a call.** One message, published expecting the subject's last sequence to be
//!   the one this host wrote last. So a call's writes are stored whole or not at all, and an
//!   owner that was taken over meanwhile has its write refused: a paused host that resumes
//!   cannot overwrite its successor's state. Every [`SNAPSHOT_EVERY`] calls the record is a
//!   snapshot instead, so a take reads a bounded log.
//!
//! Reads are served from this host's copy, which the commit updates before it returns.

mod commit;
mod copy;
mod record;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::jetstream::{self};
use futures_util::StreamExt;
use parking_lot::{Mutex, RwLock};
use wasm_core::storage::validate_key;
use wasm_core::{
    CommitFuture, ComponentId, StorageBackend, StorageError, StorageQuota, StorageUsage, WriteSet,
};

use crate::error::{Error, Result};
use crate::subject::Names;

use copy::Copy;
use record::Kind;

/// How many calls' records at most follow a snapshot before the next call writes one.
const SNAPSHOT_EVERY: u32 = 64;

/// The storage of the components this host runs, kept in the cluster's state stream.
///
/// Made by [`crate::NatsTransport::storage`]. A component's storage is read and written only
/// between [`ClusterStorage::take`] and [`ClusterStorage::release`] on this host.
#[derive(Debug, Clone)]
pub struct ClusterStorage {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    js: jetstream::Context,
    stream: String,
    names: Names,
    timeout: Duration,
    url: String,
    /// The largest message the server takes.
    max_payload: usize,
    /// The components whose storage this host holds.
    open: RwLock<HashMap<ComponentId, Arc<Namespace>>>,
}

/// One component's storage held here.
#[derive(Debug)]
struct Namespace {
    copy: Copy,
    log: Mutex<Log>,
}

/// Where this host's writes to a component's subject stand.
#[derive(Debug, Clone, Copy)]
struct Log {
    epoch: u64,
    /// The subject's last sequence, as this host wrote it.
    last: u64,
    /// Calls' records since the last snapshot.
    since_snapshot: u32,
}

/// Opens (or makes) the state stream.
async fn open_stream(
    js: &jetstream::Context,
    names: &Names,
    replicas: usize,
    url: &str,
    wait: Duration,
) -> Result<String> {
    let name = names.state_stream();
    let config = stream::Config {
        name: name.clone(),
        subjects: vec![names.state_subjects()],
        storage: StorageType::File,
        num_replicas: replicas,
        allow_rollup: true,
        deny_delete: true,
        ..stream::Config::default()
    };
    // A new NATS cluster elects its JetStream leaders a few seconds after it starts.
    let deadline = Instant::now() + wait.max(Duration::from_secs(15));
    loop {
        match js.get_or_create_stream(config.clone()).await {
            Ok(_) => return Ok(name),
            Err(e) if Instant::now() < deadline && !e.to_string().contains("not enabled") => {
                tracing::debug!(stream = %name, error = %e, "JetStream not ready yet");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => {
                return Err(Error::JetStream {
                    what: format!(
                        "cannot open the storage stream `{name}` (the server must run JetStream)"
                    ),
                    url: url.to_owned(),
                    source: e.into(),
                });
            }
        }
    }
}

impl ClusterStorage {
    pub(crate) async fn open(
        js: jetstream::Context,
        names: Names,
        replicas: usize,
        url: String,
        timeout: Duration,
        max_payload: usize,
    ) -> Result<Self> {
        let stream = open_stream(&js, &names, replicas, &url, timeout).await?;
        Ok(Self {
            state: Arc::new(State {
                js,
                stream,
                names,
                timeout,
                url,
                max_payload,
                open: RwLock::new(HashMap::new()),
            }),
        })
    }

    /// Takes the storage of `id` for this host, as owner `epoch` (the revision of its claim):
    /// reads it whole, then writes it back as a snapshot under `epoch`. Returns once this
    /// host's copy holds every write any owner had acknowledged.
    ///
    /// # Errors
    ///
    /// [`Error::Fenced`] if a newer epoch wrote the storage; [`Error::JetStream`] if the
    /// server cannot be read or written in time.
    pub async fn take(&self, id: &ComponentId, epoch: u64) -> Result<()> {
        let state = &self.state;
        let failed = |detail: String| Error::JetStream {
            what: format!("cannot take the storage of {id}"),
            url: state.url.clone(),
            source: detail.into(),
        };
        for _ in 0..8 {
            let copy = Copy::default();
            let last = tokio::time::timeout(state.timeout, state.read(id, epoch, &copy))
                .await
                .map_err(|_| failed(format!("no answer within {:?}", state.timeout)))??;
            let snapshot = copy.with(std::iter::empty());
            let bytes = record::encode(
                Kind::Snapshot,
                epoch,
                snapshot
                    .iter()
                    .map(|(k, v)| (k.as_str(), Some(v.as_slice()))),
            );
            // A snapshot too large for one message: the records stay, and an empty write set
            // marks the new owner instead.
            let (bytes, rollup) = if bytes.len() + 1024 <= state.max_payload {
                (bytes, true)
            } else {
                (
                    record::encode(Kind::WriteSet, epoch, std::iter::empty()),
                    false,
                )
            };
            match state.publish(id, bytes, last, rollup).await {
                Ok(sequence) => {
                    let namespace = Arc::new(Namespace {
                        copy,
                        log: Mutex::new(Log {
                            epoch,
                            last: sequence,
                            since_snapshot: if rollup { 0 } else { SNAPSHOT_EVERY },
                        }),
                    });
                    state.open.write().insert(id.clone(), namespace);
                    return Ok(());
                }
                // Written meanwhile (an older owner finishing a call): read again.
                Err(Published::Moved) => {}
                Err(Published::Failed(e)) => return Err(failed(e)),
            }
        }
        Err(failed("its records kept changing".into()))
    }

    /// Lets go of the storage of `id` here (it stopped, or moved): its copy is dropped.
    pub fn release(&self, id: &ComponentId) {
        self.state.open.write().remove(id);
    }

    fn namespace(&self, id: &ComponentId) -> std::result::Result<Arc<Namespace>, StorageError> {
        self.state.open.read().get(id).cloned().ok_or_else(|| {
            StorageError::IoError(format!(
                "the storage of {id} is not held by this host (the component does not run here)"
            ))
        })
    }
}

/// Why a record was not stored.
#[derive(Debug)]
enum Published {
    /// The subject's last sequence was not the one expected: someone else wrote.
    Moved,
    /// The server did not take it (or did not say so in time).
    Failed(String),
}

impl State {
    /// Reads every record of `id` from its last snapshot into `copy`; returns the subject's
    /// last sequence (0: nothing written yet).
    async fn read(&self, id: &ComponentId, epoch: u64, copy: &Copy) -> Result<u64> {
        let failed = |detail: String| Error::JetStream {
            what: format!("cannot read the storage of {id}"),
            url: self.url.clone(),
            source: detail.into(),
        };
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let consumer = stream
            .create_consumer(OrderedConfig {
                filter_subject: self.names.state_of(id),
                deliver_policy: DeliverPolicy::All,
                ..OrderedConfig::default()
            })
            .await
            .map_err(|e| failed(e.to_string()))?;
        if consumer.cached_info().num_pending == 0 {
            return Ok(0);
        }
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| failed(e.to_string()))?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| failed(e.to_string()))?;
            let info = message.info().map_err(|e| failed(e.to_string()))?;
            let (sequence, pending) = (info.stream_sequence, info.pending);
            let record = record::decode(&message.payload)
                .map_err(|e| failed(format!("record {sequence}: {e}")))?;
            if record.epoch > epoch {
                return Err(Error::Fenced {
                    component: id.to_string(),
                    epoch,
                    holder: record.epoch,
                });
            }
            copy.apply(record);
            if pending == 0 {
                return Ok(sequence);
            }
        }
        Err(failed("the read ended early".into()))
    }

    /// Publishes `bytes` on `id`'s subject, expecting its last sequence to be `last`;
    /// `rollup` makes it replace what came before. Returns its sequence.
    async fn publish(
        &self,
        id: &ComponentId,
        bytes: Vec<u8>,
        last: u64,
        rollup: bool,
    ) -> std::result::Result<u64, Published> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            last.to_string().as_str(),
        );
        if rollup {
            headers.insert(async_nats::header::NATS_ROLLUP, "sub");
        }
        let subject = self.names.state_of(id);
        let stored = tokio::time::timeout(
            self.timeout,
            crate::store::publish_acked(&self.js, subject, headers, bytes.into()),
        )
        .await;
        match stored {
            Ok(Ok(ack)) => Ok(ack.sequence),
            Ok(Err(e)) if e.kind() == PublishErrorKind::WrongLastSequence => Err(Published::Moved),
            Ok(Err(e)) => Err(Published::Failed(e.to_string())),
            Err(_) => Err(Published::Failed(format!(
                "no answer within {:?}: it may still be stored",
                self.timeout
            ))),
        }
    }
}

impl StorageBackend for ClusterStorage {
    fn get(
        &self,
        namespace: &ComponentId,
        key: &str,
    ) -> std::result::Result<Option<Vec<u8>>, StorageError> {
        validate_key(key)?;
        Ok(self.namespace(namespace)?.copy.get(key))
    }

    fn list_keys(
        &self,
        namespace: &ComponentId,
        prefix: Option<&str>,
    ) -> std::result::Result<Vec<String>, StorageError> {
        Ok(self.namespace(namespace)?.copy.keys(prefix.unwrap_or("")))
    }

    fn usage(
        &self,
        namespace: &ComponentId,
        quota: &StorageQuota,
    ) -> std::result::Result<StorageUsage, StorageError> {
        Ok(self.namespace(namespace)?.copy.usage(quota))
    }

    fn commit(&self, writes: WriteSet) -> CommitFuture {
        let state = self.state.clone();
        let namespace = self.namespace(writes.namespace());
        Box::pin(async move { state.commit(namespace?, writes).await })
    }
}
