//! [`AppStore`]: the cluster's desired state, one record per deployed application in a
//! JetStream key-value bucket. The record's form belongs to the layer above; here it is bytes
//! with a revision.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, kv, stream::StorageType};
use futures_util::StreamExt;

use crate::error::{Error, Result};
use crate::subject::{escape, unescape};

/// The deployed applications of one cluster.
#[derive(Clone)]
pub struct AppStore {
    js: jetstream::Context,
    bucket: kv::Store,
    cluster: String,
    url: String,
}

impl std::fmt::Debug for AppStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppStore")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

/// One deployed application's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEntry {
    /// The application's name.
    pub name: String,
    /// Its record, as `deploy` wrote it.
    pub record: Vec<u8>,
    /// The bucket revision it was written at (it grows with every deploy).
    pub revision: u64,
}

impl AppStore {
    /// Opens (or makes) the applications bucket `bucket` of `cluster`.
    pub(crate) async fn open(
        js: &jetstream::Context,
        bucket: String,
        cluster: &str,
        replicas: usize,
        url: &str,
    ) -> Result<Self> {
        let store = super::open_or_make(
            format!("the applications bucket `{bucket}`"),
            url,
            || js.get_key_value(&bucket),
            || {
                js.create_key_value(kv::Config {
                    bucket: bucket.clone(),
                    history: 1,
                    storage: StorageType::File,
                    num_replicas: replicas,
                    ..kv::Config::default()
                })
            },
        )
        .await?;
        Ok(Self {
            js: js.clone(),
            bucket: store,
            cluster: cluster.to_owned(),
            url: url.to_owned(),
        })
    }

    fn failed(
        &self,
        what: String,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::JetStream {
            what,
            url: self.url.clone(),
            source: Box::new(source),
        }
    }

    /// Writes application `name`'s record; returns its revision.
    ///
    /// # Errors
    ///
    /// [`Error::JetStream`] if the server does not take it.
    pub async fn put(&self, name: &str, record: Vec<u8>) -> Result<u64> {
        let subject = format!("{}{}", self.bucket.prefix, escape(name));
        crate::store::publish_acked(&self.js, subject, HeaderMap::new(), record.into())
            .await
            .map(|ack| ack.sequence)
            .map_err(|e| self.failed(format!("cannot deploy application `{name}`"), e))
    }

    /// Application `name`'s record, if it is deployed.
    ///
    /// # Errors
    ///
    /// [`Error::JetStream`] if the bucket cannot be read.
    pub async fn get(&self, name: &str) -> Result<Option<AppEntry>> {
        let entry = self
            .bucket
            .entry(escape(name))
            .await
            .map_err(|e| self.failed(format!("cannot read application `{name}`"), e))?;
        Ok(entry
            .filter(|e| e.operation == kv::Operation::Put)
            .map(|e| AppEntry {
                name: name.to_owned(),
                record: e.value.to_vec(),
                revision: e.revision,
            }))
    }

    /// Every deployed application, sorted by name.
    ///
    /// # Errors
    ///
    /// [`Error::JetStream`] if the bucket cannot be read.
    pub async fn list(&self) -> Result<Vec<AppEntry>> {
        let mut keys = match self.bucket.keys().await {
            Ok(keys) => keys,
            Err(e) => return Err(self.failed("cannot list the applications".into(), e)),
        };
        let mut names = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| self.failed("cannot list the applications".into(), e))?;
            if let Some(name) = unescape(&key) {
                names.push(name);
            }
        }
        names.sort();
        let mut apps = Vec::with_capacity(names.len());
        for name in names {
            if let Some(app) = self.get(&name).await? {
                apps.push(app);
            }
        }
        Ok(apps)
    }

    /// Removes application `name`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownApp`] naming the deployed applications if it is not one of them;
    /// [`Error::JetStream`] if the bucket cannot be written.
    pub async fn remove(&self, name: &str) -> Result<()> {
        if self.get(name).await?.is_none() {
            let deployed: Vec<String> = self.list().await?.into_iter().map(|a| a.name).collect();
            return Err(Error::UnknownApp {
                app: name.to_owned(),
                cluster: self.cluster.clone(),
                deployed: if deployed.is_empty() {
                    "none".into()
                } else {
                    deployed.join(", ")
                },
            });
        }
        self.bucket
            .delete(escape(name))
            .await
            .map_err(|e| self.failed(format!("cannot undeploy application `{name}`"), e))
    }
}
