//! What deploying to a cluster rests on: the code store, the applications bucket, a view of
//! the live hosts (with their labels) and of who runs what, and a client that reads and
//! writes them without joining as a host. Placement itself belongs to the layer above.

mod apps;
mod client;
mod code;

use std::collections::BTreeMap;

use wasm_core::ComponentId;

pub use apps::{AppEntry, AppStore};
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
