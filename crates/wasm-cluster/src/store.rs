//! The cluster's JetStream key-value buckets and the few writes made on them, each checked
//! against the revision it expects (so a write that arrives late, after a lost connection,
//! cannot overwrite what happened meanwhile):
//!
//! - `hosts`: host name to its live incarnation, written with a per-message TTL (the lease);
//!   the server deletes a record that is not renewed in time and leaves a marker watchers see;
//! - `owners`: component id to the host incarnation that runs it; the revision of the claim is
//!   the component's epoch there.

use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::kv::{self, Entry, Operation};
use async_nats::jetstream::{self, stream::StorageType};
use bytes::Bytes;

use crate::config::ClusterConfig;
use crate::error::{Error, Result};
use crate::subject::Names;

/// How long the marker the server leaves for an expired lease stays (so a watcher that was
/// away for less than this still sees the host go).
const MARKER_TTL: Duration = Duration::from_secs(24 * 3600);

/// What a write expects of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// No live value (never written, deleted, or expired).
    Absent,
    /// This revision is the key's last.
    Revision(u64),
}

/// Why a write did not happen.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The key is not as expected.
    Conflict,
    /// The server did not take it (or did not say so in time): it may still land.
    Failed(String),
}

/// The two buckets of a cluster.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    js: jetstream::Context,
    pub(crate) hosts: kv::Store,
    pub(crate) owners: kv::Store,
    url: String,
}

/// Whether the server says it has no JetStream at all (not worth waiting for).
fn no_jetstream(error: &impl std::error::Error) -> bool {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text.contains("not enabled")
}

fn bucket_error(
    url: &str,
    bucket: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::JetStream {
        what: format!(
            "cannot open the JetStream bucket `{bucket}` (the server must run JetStream, `nats-server -js`, version 2.11 or later)"
        ),
        url: url.to_owned(),
        source: Box::new(source),
    }
}

impl Store {
    /// Opens the buckets of `names`' cluster, creating them if they do not exist.
    pub(crate) async fn open(
        js: jetstream::Context,
        names: &Names,
        config: &ClusterConfig,
    ) -> Result<Self> {
        let url = config.url_text();
        let make = |bucket: String, limit_markers: Option<Duration>| kv::Config {
            bucket,
            history: 1,
            storage: StorageType::File,
            num_replicas: config.replicas,
            limit_markers,
            ..kv::Config::default()
        };
        // A new NATS cluster elects its JetStream leaders a few seconds after it starts.
        let deadline = Instant::now() + config.timeout.max(Duration::from_secs(15));
        let mut buckets = Vec::new();
        for (bucket, markers) in [
            (names.hosts_bucket(), Some(MARKER_TTL)),
            (names.owners_bucket(), None),
        ] {
            let store = loop {
                match js.create_key_value(make(bucket.clone(), markers)).await {
                    Ok(store) => break store,
                    // Made by another host with other settings (replicas): use it as it is.
                    Err(created) => match js.get_key_value(bucket.clone()).await {
                        Ok(store) => {
                            tracing::warn!(%bucket, error = %created, "the bucket exists with other settings; using it");
                            break store;
                        }
                        Err(_) if Instant::now() < deadline && !no_jetstream(&created) => {
                            tracing::debug!(%bucket, error = %created, "JetStream not ready yet");
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                        Err(_) => return Err(bucket_error(&url, &bucket, created)),
                    },
                }
            };
            buckets.push(store);
        }
        let owners = buckets.pop();
        let hosts = buckets.pop();
        match (hosts, owners) {
            (Some(hosts), Some(owners)) => Ok(Self {
                js,
                hosts,
                owners,
                url,
            }),
            _ => Err(Error::Config(
                "the cluster's buckets could not be opened".into(),
            )),
        }
    }

    /// Writes `value` at `key` of `bucket` if the key is as `expect`s; returns the revision.
    /// With `ttl`, the server deletes the value after that many seconds unless rewritten.
    pub(crate) async fn write(
        &self,
        bucket: &kv::Store,
        key: &str,
        value: Vec<u8>,
        expect: Expect,
        ttl: Option<u64>,
    ) -> std::result::Result<u64, WriteError> {
        let revision = match expect {
            Expect::Revision(revision) => revision,
            Expect::Absent => 0,
        };
        let value = Bytes::from(value);
        match self
            .publish(bucket, key, value.clone(), revision, ttl)
            .await
        {
            Err(WriteError::Conflict) if expect == Expect::Absent => {
                // The key has a history: a delete or expiry marker may end it.
                match self.entry(bucket, key).await {
                    Ok(Some(entry)) if entry.operation != Operation::Put => {
                        self.publish(bucket, key, value, entry.revision, ttl).await
                    }
                    Ok(_) => Err(WriteError::Conflict),
                    Err(e) => Err(WriteError::Failed(e)),
                }
            }
            other => other,
        }
    }

    async fn publish(
        &self,
        bucket: &kv::Store,
        key: &str,
        value: Bytes,
        revision: u64,
        ttl: Option<u64>,
    ) -> std::result::Result<u64, WriteError> {
        write_expecting(&self.js, bucket, key, value, revision, ttl).await
    }

    /// The JetStream context the buckets were opened with.
    pub(crate) fn js(&self) -> &jetstream::Context {
        &self.js
    }

    /// The last entry of `key` (a value, or a delete or expiry marker), if any.
    pub(crate) async fn entry(
        &self,
        bucket: &kv::Store,
        key: &str,
    ) -> std::result::Result<Option<Entry>, String> {
        bucket.entry(key).await.map_err(|e| e.to_string())
    }

    /// Deletes `key` if `revision` is its last.
    pub(crate) async fn delete(
        &self,
        bucket: &kv::Store,
        key: &str,
        revision: u64,
    ) -> std::result::Result<(), String> {
        bucket
            .delete_expect_revision(key, Some(revision))
            .await
            .map_err(|e| e.to_string())
    }

    /// The server URL(s), for messages.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

/// Writes `value` at `key` of `bucket` if `revision` is the key's last (0: the key was never
/// written); returns the new revision. With `ttl`, the server deletes the value after that
/// many seconds unless rewritten.
pub(crate) async fn write_expecting(
    js: &jetstream::Context,
    bucket: &kv::Store,
    key: &str,
    value: Bytes,
    revision: u64,
    ttl: Option<u64>,
) -> std::result::Result<u64, WriteError> {
    let subject = format!("{}{key}", bucket.prefix);
    let mut headers = HeaderMap::new();
    headers.insert(
        async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
        revision.to_string().as_str(),
    );
    if let Some(secs) = ttl {
        headers.insert(
            async_nats::header::NATS_MESSAGE_TTL,
            secs.to_string().as_str(),
        );
    }
    match publish_acked(js, subject, headers, value).await {
        Ok(ack) => Ok(ack.sequence),
        Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Err(WriteError::Conflict),
        Err(e) => Err(WriteError::Failed(e.to_string())),
    }
}

/// How long a publish waits for a stream that no server answers for yet: one just made on a
/// NATS cluster is served a moment after it exists (its leader is being elected, or this
/// client's server has not applied it yet), and the server says "no stream" meanwhile.
const STREAM_APPEARS: Duration = Duration::from_secs(10);

/// Publishes to a stream and waits for its acknowledgement, trying again while no stream
/// answers for the subject yet (nothing was stored then, so trying again is safe).
pub(crate) async fn publish_acked(
    js: &jetstream::Context,
    subject: String,
    headers: HeaderMap,
    value: Bytes,
) -> std::result::Result<
    async_nats::jetstream::publish::PublishAck,
    async_nats::jetstream::context::PublishError,
> {
    let started = Instant::now();
    loop {
        let sent = js
            .publish_with_headers(subject.clone(), headers.clone(), value.clone())
            .await;
        let acked = match sent {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match acked {
            Err(e)
                if e.kind() == PublishErrorKind::StreamNotFound
                    && started.elapsed() < STREAM_APPEARS =>
            {
                tracing::debug!(%subject, "no stream answers yet; trying again");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}
