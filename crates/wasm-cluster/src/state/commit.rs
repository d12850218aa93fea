//! One call's write set committed as one message, fenced by the subject's last sequence.

use std::sync::Arc;

use wasm_core::{StorageError, WriteSet};

use super::record::{self, Kind};
use super::{Namespace, Published, SNAPSHOT_EVERY, State};

impl State {
    /// Commits `writes` of `namespace` as one record (every [`SNAPSHOT_EVERY`] calls, a
    /// snapshot). Returns once the server has stored it (as durably as the stream's replicas
    /// and sync policy make it), with this host's copy updated.
    pub(super) async fn commit(
        &self,
        namespace: Arc<Namespace>,
        writes: WriteSet,
    ) -> Result<(), StorageError> {
        let id = writes.namespace().clone();
        if writes.is_empty() {
            return Ok(());
        }
        // One commit at a time per namespace (the actor's rule): the log is read here and
        // written back after the server's answer.
        let log = *namespace.log.lock();
        let limit = self.max_payload.saturating_sub(1024);
        let mut snapshot = None;
        if log.since_snapshot + 1 >= SNAPSHOT_EVERY {
            let entries = namespace.copy.with(writes.iter());
            let bytes = record::encode(
                Kind::Snapshot,
                log.epoch,
                entries
                    .iter()
                    .map(|(k, v)| (k.as_str(), Some(v.as_slice()))),
            );
            if bytes.len() <= limit {
                snapshot = Some(bytes);
            }
        }
        let rollup = snapshot.is_some();
        let bytes = match snapshot {
            Some(bytes) => bytes,
            None => record::encode(Kind::WriteSet, log.epoch, writes.iter()),
        };
        if bytes.len() > limit {
            return Err(StorageError::IoError(format!(
                "one call of {id} wrote {} bytes; cluster storage takes at most {limit} per call (the NATS server's largest message); nothing was stored",
                bytes.len()
            )));
        }
        match self.publish(&id, bytes, log.last, rollup).await {
            Ok(sequence) => {
                {
                    let mut log = namespace.log.lock();
                    log.last = sequence;
                    log.since_snapshot = if rollup { 0 } else { log.since_snapshot + 1 };
                }
                namespace.copy.write(writes.iter());
                Ok(())
            }
            Err(Published::Moved) => Err(StorageError::IoError(format!(
                "{id} was taken over by another host (its storage was written past epoch {}); this call's writes were not stored",
                log.epoch
            ))),
            Err(Published::Failed(e)) => Err(StorageError::IoError(format!(
                "the cluster (NATS at {}) did not store the writes of {id}: {e}",
                self.url
            ))),
        }
    }
}
