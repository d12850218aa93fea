//! [`ClusterClient`]: reads and writes a cluster's buckets without joining it as a host (for
//! `deploy`, `undeploy` and `ctl ls`).

use std::sync::Arc;

use async_nats::Client;
use async_nats::jetstream::kv::{self, Operation};
use futures_util::StreamExt;

use super::{AppStore, ClusterView, CodeStore, HostView, OwnerView};
use crate::config::ClusterConfig;
use crate::error::{Error, Result};
use crate::records::{HostRecord, OwnerRecord};
use crate::store::Store;
use crate::subject::{Names, id_of_owner_key, unescape};

/// A connection to a cluster's buckets that holds no lease and runs nothing.
#[derive(Debug)]
pub struct ClusterClient {
    client: Client,
    store: Store,
    names: Names,
    config: ClusterConfig,
}

impl ClusterClient {
    /// Connects to `config`'s servers and opens the cluster's buckets (`config.host` only
    /// names this client in errors).
    ///
    /// # Errors
    ///
    /// As [`crate::NatsTransport::connect`], short of taking a host name.
    pub async fn connect(config: ClusterConfig) -> Result<Self> {
        let (client, names, store) = crate::transport::open(&config, Arc::default()).await?;
        Ok(Self {
            client,
            store,
            names,
            config,
        })
    }

    /// The cluster's deployed applications.
    ///
    /// # Errors
    ///
    /// [`Error::JetStream`] if the bucket cannot be opened.
    pub async fn apps(&self) -> Result<AppStore> {
        AppStore::open(
            self.store.js(),
            self.names.apps_bucket(),
            &self.config.name,
            self.config.replicas,
            self.store.url(),
        )
        .await
    }

    /// The cluster's code store.
    ///
    /// # Errors
    ///
    /// [`Error::JetStream`] if it cannot be opened.
    pub async fn code(&self) -> Result<CodeStore> {
        CodeStore::open(
            self.store.js(),
            self.names.code_bucket(),
            &self.config.name,
            self.config.replicas,
            self.store.url(),
        )
        .await
    }

    /// The live hosts and who runs what, read from the buckets now.
    ///
    /// # Errors
    ///
    /// [`Error::JetStream`] if a bucket cannot be read.
    pub async fn view(&self) -> Result<ClusterView> {
        let mut view = ClusterView::default();
        for (key, value, _) in self.read(&self.store.hosts).await? {
            if let (Some(name), Ok(record)) = (unescape(&key), HostRecord::decode(&value)) {
                view.hosts.push(HostView {
                    name,
                    incarnation: record.incarnation,
                    labels: record.labels,
                    places: record.places,
                });
            }
        }
        view.hosts.sort_by(|a, b| a.name.cmp(&b.name));
        for (key, value, revision) in self.read(&self.store.owners).await? {
            let (Some(id), Ok(record)) = (id_of_owner_key(&key), OwnerRecord::decode(&value))
            else {
                continue;
            };
            if view
                .host(&record.host)
                .is_some_and(|h| h.incarnation == record.incarnation)
            {
                view.owners.insert(
                    id,
                    OwnerView {
                        epoch: record.epoch_at(revision),
                        host: record.host,
                        version: record.version,
                    },
                );
            }
        }
        Ok(view)
    }

    /// Every live key of `bucket` with its value and revision.
    async fn read(&self, bucket: &kv::Store) -> Result<Vec<(String, Vec<u8>, u64)>> {
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| Error::JetStream {
            what: format!("cannot read the bucket `{}`", bucket.name),
            url: self.store.url().to_owned(),
            source,
        };
        let mut keys = bucket.keys().await.map_err(|e| failed(Box::new(e)))?;
        let mut out = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| failed(Box::new(e)))?;
            if let Some(entry) = bucket.entry(&key).await.map_err(|e| failed(Box::new(e)))?
                && entry.operation == Operation::Put
            {
                out.push((key, entry.value.to_vec(), entry.revision));
            }
        }
        Ok(out)
    }

    /// Sends what is queued and closes the connection.
    pub async fn close(self) {
        let _ = self.client.flush().await;
    }
}
