//! [`CodeStore`]: deployed components' code in a JetStream object store, each object named
//! by the SHA-256 of its bytes, so that a host fetches code it does not have and checks it.

use async_nats::jetstream::{self, object_store, stream::StorageType};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::error::{Error, Result};

/// `sha256:<64 hex digits>` of `bytes`: the name deployed code is kept and asked for by.
pub fn digest(bytes: &[u8]) -> String {
    let sum = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in sum {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    out
}

/// Whether `text` is a digest as [`digest`] writes it.
pub fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The cluster's code: put once by `deploy`, fetched by every host that runs it.
#[derive(Clone)]
pub struct CodeStore {
    store: object_store::ObjectStore,
    cluster: String,
}

impl std::fmt::Debug for CodeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeStore")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl CodeStore {
    /// Opens (or makes) the code store `bucket` of `cluster`.
    pub(crate) async fn open(
        js: &jetstream::Context,
        bucket: String,
        cluster: &str,
        replicas: usize,
        url: &str,
    ) -> Result<Self> {
        let store = super::open_or_make(
            format!("the code store `{bucket}`"),
            url,
            || js.get_object_store(&bucket),
            || {
                js.create_object_store(object_store::Config {
                    bucket: bucket.clone(),
                    description: Some(format!("the deployed code of cluster {cluster}")),
                    storage: StorageType::File,
                    num_replicas: replicas,
                    ..object_store::Config::default()
                })
            },
        )
        .await?;
        Ok(Self {
            store,
            cluster: cluster.to_owned(),
        })
    }

    fn error(&self, digest: &str, detail: impl Into<String>) -> Error {
        Error::Code {
            digest: digest.to_owned(),
            cluster: self.cluster.clone(),
            detail: detail.into(),
        }
    }

    /// Keeps `bytes` under their digest (once: code already there is not sent again) and
    /// returns the digest.
    ///
    /// # Errors
    ///
    /// [`Error::Code`] if the server does not take it.
    pub async fn put(&self, bytes: &[u8]) -> Result<String> {
        let name = digest(bytes);
        if self.store.info(&name).await.is_ok() {
            return Ok(name);
        }
        // A code store just made on a NATS cluster is served a moment later.
        let started = std::time::Instant::now();
        loop {
            let mut reader = bytes;
            match self.store.put(name.as_str(), &mut reader).await {
                Ok(_) => return Ok(name),
                Err(e) if started.elapsed() < std::time::Duration::from_secs(10) => {
                    tracing::debug!(digest = %name, error = %e, "the code store did not take it yet; trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                Err(e) => return Err(self.error(&name, format!("cannot be stored: {e}"))),
            }
        }
    }

    /// Whether code of this digest is kept.
    pub async fn has(&self, digest: &str) -> bool {
        self.store.info(digest).await.is_ok()
    }

    /// The code of `digest`, checked against it.
    ///
    /// # Errors
    ///
    /// [`Error::Code`] if it is not kept, cannot be read, or its bytes have another digest.
    pub async fn get(&self, digest: &str) -> Result<Vec<u8>> {
        if !is_digest(digest) {
            return Err(self.error(digest, "is not a `sha256:<64 hex digits>` digest"));
        }
        let mut object = self
            .store
            .get(digest)
            .await
            .map_err(|e| self.error(digest, format!("cannot be fetched: {e}")))?;
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| self.error(digest, format!("cannot be read: {e}")))?;
        let actual = self::digest(&bytes);
        if actual != digest {
            return Err(self.error(
                digest,
                format!(
                    "the stored bytes ({} bytes) have digest {actual}: refused",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }

    /// Keeps `bytes` under `name` whatever their digest: for tests of what a host does with
    /// code that does not match the digest it is asked by.
    #[doc(hidden)]
    pub async fn put_unchecked(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let mut reader = bytes;
        self.store
            .put(name, &mut reader)
            .await
            .map(|_| ())
            .map_err(|e| self.error(name, format!("cannot be stored: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_in_lower_hex() {
        let text = digest(b"abc");
        assert_eq!(
            text,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_digest(&text));
        assert!(!is_digest("sha256:BA78"));
        assert!(!is_digest(&text.replace("sha256:", "md5:")));
    }
}
