//! Claiming component ids in the owners bucket, and giving them back.
//!
//! A claim writes `id -> this host incarnation` only where the key holds no live value, or
//! one whose host incarnation has ended (checked on the server, not in the local view, which
//! may be a beat behind); the write is checked against the revision it read, so of two hosts
//! claiming one id at the same instant exactly one wins. The claim's revision is the id's
//! epoch here.

use std::sync::Arc;

use async_nats::jetstream::kv::Operation;
use futures_util::StreamExt;
use wasm_core::{ComponentId, ComponentInfo};

use crate::records::{HostRecord, OwnerRecord};
use crate::store::{Expect, WriteError};
use crate::subject::{host_key, owner_key};
use crate::transport::{Inner, Owned};

/// How many bucket writes run at once when many ids are given back or taken over.
pub(crate) const PARALLEL: usize = 64;

/// Why an id could not be taken.
#[derive(Debug)]
pub(crate) enum Taken {
    /// A live incarnation of another host holds it.
    Held(String),
    /// The server did not take the write (or did not say so in time).
    Failed(String),
}

impl Taken {
    fn text(self) -> String {
        match self {
            Self::Held(text) | Self::Failed(text) => text,
        }
    }
}

impl Inner {
    /// Claims `id` for this host incarnation.
    pub(crate) async fn claim(self: &Arc<Self>, id: &ComponentId) -> Result<(), String> {
        self.claiming.lock().insert(id.clone());
        let taken = self.take(id, Expect::Absent).await;
        if let Ok(owned) = taken {
            self.owned.lock().insert(id.clone(), owned);
        }
        self.claiming.lock().remove(id);
        if matches!(taken, Err(Taken::Failed(_))) {
            // The write may have landed after all, and been seen while the claim still ran
            // (one seen later is deleted by the watch).
            if let Some(owner) = self.directory.owner(id)
                && *owner.host == *self.config.host
                && owner.incarnation == self.incarnation()
            {
                self.drop_unclaimed(id, owner.revision);
            }
        }
        let owned = taken.map_err(Taken::text)?;
        // With cluster storage, the component's keys are read up to the last revision before
        // its first call; a storage a newer owner holds gives the id back.
        if let Some(storage) = self.storage.get()
            && let Err(e) = storage.take(id, owned.epoch).await
        {
            self.clone().unregister(id);
            return Err(e.to_string());
        }
        Ok(())
    }

    /// Writes `id -> this incarnation`, expecting the key to be as `expect` says first, then
    /// as read: free, expired, or held by an incarnation that has ended.
    pub(crate) async fn take(&self, id: &ComponentId, mut expect: Expect) -> Result<Owned, Taken> {
        let key = owner_key(id);
        let incarnation = self.incarnation();
        let record = OwnerRecord {
            host: self.config.host.clone(),
            incarnation,
            epoch: 0,
            name: String::new(),
            version: String::new(),
        }
        .encode();
        let store = &self.store;
        let cluster = &self.config.name;
        for _ in 0..8 {
            let written = tokio::time::timeout(
                self.config.timeout,
                store.write(&store.owners, &key, record.clone(), expect, None),
            )
            .await;
            let entry = match written {
                Ok(Ok(revision)) => {
                    return Ok(Owned {
                        epoch: revision,
                        revision,
                    });
                }
                Ok(Err(WriteError::Conflict)) => store.entry(&store.owners, &key).await,
                Ok(Err(WriteError::Failed(e))) => Err(e),
                Err(_) => Err(format!(
                    "no answer within {} ms",
                    self.config.timeout.as_millis()
                )),
            }
            .map_err(|e| {
                Taken::Failed(format!(
                    "cannot claim {id} in cluster `{cluster}` (NATS at {}): {e}",
                    store.url()
                ))
            })?;
            let Some(entry) = entry.filter(|e| e.operation == Operation::Put) else {
                expect = Expect::Absent;
                continue;
            };
            let holder = OwnerRecord::decode(&entry.value).map_err(|e| {
                Taken::Failed(format!("the ownership record of {id} cannot be read: {e}"))
            })?;
            if holder.host == self.config.host && holder.incarnation == incarnation {
                return Ok(Owned {
                    epoch: holder.epoch_at(entry.revision),
                    revision: entry.revision,
                });
            }
            // Another incarnation of this host's name has ended: only this one lives.
            if holder.host != self.config.host
                && self
                    .is_live_on_server(&holder.host, holder.incarnation)
                    .await
                    .map_err(Taken::Failed)?
            {
                return Err(Taken::Held(format!(
                    "{id} already runs on host `{}` of cluster `{cluster}`",
                    holder.host
                )));
            }
            expect = Expect::Revision(entry.revision);
        }
        Err(Taken::Failed(format!(
            "cannot claim {id} in cluster `{cluster}`: its record kept changing"
        )))
    }

    /// Whether incarnation `incarnation` of `host` holds its lease, asking the server.
    async fn is_live_on_server(&self, host: &str, incarnation: u64) -> Result<bool, String> {
        let entry = self
            .store
            .entry(&self.store.hosts, &host_key(host))
            .await
            .map_err(|e| format!("cannot read the lease of host `{host}`: {e}"))?;
        Ok(entry
            .filter(|e| e.operation == Operation::Put)
            .and_then(|e| HostRecord::decode(&e.value).ok())
            .is_some_and(|record| record.incarnation == incarnation))
    }

    /// Records a running component's name and version with its claim.
    pub(crate) async fn announce(&self, info: ComponentInfo) {
        let Some(owned) = self.owned.lock().get(&info.id).copied() else {
            return;
        };
        let record = OwnerRecord {
            host: self.config.host.clone(),
            incarnation: self.incarnation(),
            epoch: owned.epoch,
            name: info.name,
            version: info.version,
        };
        let store = &self.store;
        let written = store
            .write(
                &store.owners,
                &owner_key(&info.id),
                record.encode(),
                Expect::Revision(owned.revision),
                None,
            )
            .await;
        match written {
            Ok(revision) => {
                if let Some(owned) = self.owned.lock().get_mut(&info.id) {
                    owned.revision = owned.revision.max(revision);
                }
            }
            Err(e) => {
                tracing::debug!(component = %info.id, error = ?e, "the component's name and version were not recorded");
            }
        }
    }

    /// Gives back a component's id (it stopped here).
    pub(crate) fn unregister(self: Arc<Self>, id: &ComponentId) {
        let owned = self.owned.lock().remove(id);
        if let Some(storage) = self.storage.get() {
            storage.release(id);
        }
        self.close_windows_of(id, &format!("{id} stopped"));
        self.shares.forget(id);
        if let Some(owned) = owned {
            let id = id.clone();
            let inner = self.clone();
            let mut releasing = self.releasing.lock();
            // Deletes that finished are reaped here, so the set holds only those in flight.
            while releasing.try_join_next().is_some() {}
            releasing.spawn(async move {
                let store = &inner.store;
                if let Err(e) = store
                    .delete(&store.owners, &owner_key(&id), owned.revision)
                    .await
                {
                    tracing::debug!(component = %id, error = %e, "the ownership record was not deleted");
                }
            });
        }
    }

    /// Gives back every id and this host's name (leaving the cluster).
    pub(crate) async fn release_all(&self) {
        let owned: Vec<(ComponentId, Owned)> = self.owned.lock().drain().collect();
        let store = &self.store;
        // The records of components stopped just before are deleted first, so that a peer
        // reading the owners bucket after the host record is gone finds no stale owner.
        let mut releasing = std::mem::take(&mut *self.releasing.lock());
        let stopped = async { while releasing.join_next().await.is_some() {} };
        let deletes = futures_util::stream::iter(owned)
            .map(|(id, owned)| async move {
                let _ = store
                    .delete(&store.owners, &owner_key(&id), owned.revision)
                    .await;
            })
            .buffer_unordered(PARALLEL)
            .collect::<Vec<()>>();
        let deletes = async {
            stopped.await;
            deletes.await;
        };
        if tokio::time::timeout(self.config.timeout, deletes)
            .await
            .is_err()
        {
            tracing::warn!(host = %self.config.host, "not every ownership record was deleted in time; the others lapse with this host's lease");
        }
        let revision = self.session.read().revision;
        if let Err(e) = store
            .delete(&store.hosts, &host_key(&self.config.host), revision)
            .await
        {
            tracing::warn!(host = %self.config.host, error = %e, "cannot give the host name back; it lapses with the lease");
        }
    }

    /// Deletes the ownership records that name an earlier incarnation of this host (it
    /// crashed): the ids it ran are free again.
    pub(crate) async fn forget_old_incarnations(self: Arc<Self>) {
        let incarnation = self.incarnation();
        let stale: Vec<(ComponentId, u64)> = self
            .directory
            .owned_by_host(&self.config.host)
            .into_iter()
            .filter(|(_, owner)| owner.incarnation != incarnation)
            .map(|(id, owner)| (id, owner.revision))
            .collect();
        if stale.is_empty() {
            return;
        }
        tracing::info!(host = %self.config.host, ids = stale.len(), "freeing the ids an earlier incarnation of this host held");
        tokio::spawn(async move {
            let store = &self.store;
            futures_util::stream::iter(stale)
                .map(|(id, revision)| async move {
                    let _ = store.delete(&store.owners, &owner_key(&id), revision).await;
                })
                .buffer_unordered(PARALLEL)
                .collect::<Vec<()>>()
                .await;
        });
    }

    /// A record names this incarnation for an id it does not run (a claim that timed out
    /// and landed later): deleted.
    pub(crate) fn drop_unclaimed(self: &Arc<Self>, id: &ComponentId, revision: u64) {
        // `claiming` first: a claim puts its id in `owned` before it leaves `claiming`, so
        // one that ends between the two checks is still seen (checked the other way round,
        // a claim could finish in between and its fresh record be deleted here).
        if self.claiming.lock().contains(id) || self.owned.lock().contains_key(id) {
            return;
        }
        let inner = self.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let store = &inner.store;
            let _ = store.delete(&store.owners, &owner_key(&id), revision).await;
        });
    }
}
