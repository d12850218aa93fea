//! A watch of one bucket: its last value per key first (with whether there is anything to
//! read at all, so an empty bucket is read at once), then every change, in revision order.
//! An ordered JetStream pull consumer underneath follows the connection when it moves. It is
//! a pull consumer because it asks only for what it can take: a push consumer with flow
//! control waits for the client's answer to each flow-control request, and this client does
//! not answer the server's reminders (the "stalled" idle heartbeats), so one such request
//! dropped while a host is too busy to read can stop the watch for good.

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::ReplayPolicy;
use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::kv::{self, Operation};
use bytes::Bytes;
use futures_util::StreamExt;

/// One value or marker of a key.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) key: String,
    pub(crate) operation: Operation,
    pub(crate) value: Bytes,
    pub(crate) revision: u64,
    /// How many more the watch had to deliver when it sent this one.
    pub(crate) pending: u64,
}

pub(crate) struct Watcher {
    messages: Ordered,
    prefix: String,
    /// Nothing was there to read when the watch began.
    pub(crate) empty: bool,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("prefix", &self.prefix)
            .field("empty", &self.empty)
            .finish_non_exhaustive()
    }
}

/// What a change's headers say it is.
fn operation(headers: Option<&async_nats::HeaderMap>) -> Operation {
    let Some(headers) = headers else {
        return Operation::Put;
    };
    if let Some(op) = headers.get("KV-Operation") {
        return match op.as_str() {
            "DEL" => Operation::Delete,
            "PURGE" => Operation::Purge,
            _ => Operation::Put,
        };
    }
    match headers.get("Nats-Marker-Reason").map(|r| r.as_str()) {
        Some("MaxAge" | "Purge") => Operation::Purge,
        Some("Remove") => Operation::Delete,
        _ => Operation::Put,
    }
}

impl Watcher {
    /// Watches every key of `bucket`: from the last value of each, or from revision `from`.
    pub(crate) async fn start(
        bucket: &kv::Store,
        from: Option<u64>,
    ) -> Result<Self, async_nats::Error> {
        let deliver_policy = match from {
            None => DeliverPolicy::LastPerSubject,
            Some(start_sequence) => DeliverPolicy::ByStartSequence { start_sequence },
        };
        let consumer = bucket
            .stream
            .create_consumer(OrderedConfig {
                description: Some("airssys-wasm directory watch".to_owned()),
                filter_subject: format!("{}>", bucket.prefix),
                replay_policy: ReplayPolicy::Instant,
                deliver_policy,
                ..OrderedConfig::default()
            })
            .await?;
        let empty = consumer.cached_info().num_pending == 0;
        let messages = consumer.messages().await?;
        Ok(Self {
            messages,
            prefix: bucket.prefix.clone(),
            empty,
        })
    }

    /// The next change; `None` when the watch ends.
    pub(crate) async fn next(&mut self) -> Option<Result<Change, String>> {
        let message = match self.messages.next().await? {
            Ok(message) => message,
            Err(e) => return Some(Err(e.to_string())),
        };
        let info = match message.info() {
            Ok(info) => (info.stream_sequence, info.pending),
            Err(e) => return Some(Err(format!("a watched message without its metadata: {e}"))),
        };
        let Some(key) = message.subject.strip_prefix(self.prefix.as_str()) else {
            return Some(Err(format!(
                "a watched message on another subject: {}",
                message.subject
            )));
        };
        Some(Ok(Change {
            key: key.to_owned(),
            operation: operation(message.headers.as_ref()),
            value: message.payload.clone(),
            revision: info.0,
            pending: info.1,
        }))
    }
}
