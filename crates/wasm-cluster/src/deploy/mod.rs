//! What deploying to a cluster rests on: the code store, the applications bucket, a view of
//! the live hosts (with their labels) and of who runs what, and a client that reads and
//! writes them without joining as a host. Placement itself belongs to the layer above.

mod apps;
mod client;
mod code;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use wasm_core::ComponentId;

pub use apps::{AppEntry, AppStore};

/// Opens a JetStream store with `get`, or makes it with `make` when it does not exist yet.
/// Several hosts may make it at once, and a new NATS cluster serves it a moment after it
/// exists: both are tried again for up to 15 s. The last error names `what`.
async fn open_or_make<T, GE, E, G, GF, M, MF>(
    what: String,
    url: &str,
    mut get: G,
    mut make: M,
) -> crate::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
    G: FnMut() -> GF,
    GF: Future<Output = Result<T, GE>>,
    M: FnMut() -> MF,
    MF: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(store) = get().await {
            return Ok(store);
        }
        match make().await {
            Ok(store) => return Ok(store),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(source) => {
                return Err(crate::Error::JetStream {
                    what: format!("cannot open {what}"),
                    url: url.to_owned(),
                    source: Box::new(source),
                });
            }
        }
    }
}
pub use client::ClusterClient;
pub use code::{CodeStore, digest, is_digest};

/// A live host as the cluster's buckets show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostView {
    /// Its name.
    pub name: String,
    /// The process that holds the name now.
    pub incarnation: u64,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Whether it runs what the cluster places on it.
    pub places: bool,
}

impl HostView {
    /// Whether it has every label of `wanted` (`key=value` each).
    pub fn has_labels<'a>(&self, wanted: impl IntoIterator<Item = &'a str>) -> bool {
        wanted.into_iter().all(|label| {
            label
                .split_once('=')
                .is_some_and(|(k, v)| self.labels.get(k).is_some_and(|have| have == v))
        })
    }
}

/// Who runs a component, among the live hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerView {
    /// The host.
    pub host: String,
    /// The epoch of its claim (it grows with every new owner).
    pub epoch: u64,
    /// The version its running code reports (empty until its first instance ran).
    pub version: String,
}

/// The live hosts and the components they run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// The live hosts, by name.
    pub hosts: Vec<HostView>,
    /// Every component a live host runs, with that host.
    pub owners: BTreeMap<ComponentId, OwnerView>,
}

impl ClusterView {
    /// How many components `host` runs.
    pub fn count(&self, host: &str) -> usize {
        self.owners.values().filter(|o| o.host == host).count()
    }

    /// The live host named `name`.
    pub fn host(&self, name: &str) -> Option<&HostView> {
        self.hosts.iter().find(|h| h.name == name)
    }
}
