//! What this host knows of the cluster, kept current by watching its two buckets: the
//! incarnation of each host and whether its lease holds, and which host incarnation runs
//! each component.
//!
//! Only the server says when a lease lapses (it deletes the record): a host that is itself
//! cut off from the server sees no change, so it never takes its own disconnection for its
//! peers' deaths. A lapsed host may come back as the same incarnation (it was cut off or
//! paused, and renews again); it has ended only when a new incarnation takes its name, when
//! it leaves, or when it stays away longer than the cluster's `give_up` time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::Operation;
use parking_lot::RwLock;
use wasm_core::{ComponentId, ComponentInfo};

use crate::records::{HostRecord, OwnerRecord};
use crate::subject::{id_of_owner_key, unescape};
use crate::watch::Change;

/// How long a host that left is waited for (its last acknowledgements may still be on their
/// way) before what it had not confirmed is reported.
const LEFT_GRACE: Duration = Duration::from_secs(1);

/// A host incarnation this host knows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownHost {
    pub(crate) incarnation: u64,
    pub(crate) lease_ms: u64,
    /// Its lease holds.
    pub(crate) live: bool,
    /// When it is taken as ended if it does not come back (its lease lapsed, or it left).
    pub(crate) ends_at: Option<Instant>,
    /// Why it is away.
    pub(crate) away: String,
    /// Its labels, for placement.
    pub(crate) labels: std::collections::BTreeMap<String, String>,
    /// It runs what the cluster places on it.
    pub(crate) places: bool,
}

/// Who runs a component (cheap to clone: it is looked up for every message sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) host: Arc<str>,
    pub(crate) incarnation: u64,
    pub(crate) epoch: u64,
    pub(crate) revision: u64,
    pub(crate) name: Arc<str>,
    pub(crate) version: Arc<str>,
}

impl Owner {
    /// The owner a record names, with the revision it was read at.
    pub(crate) fn of(record: OwnerRecord, revision: u64) -> Self {
        Self {
            epoch: record.epoch_at(revision),
            revision,
            host: record.host.into(),
            incarnation: record.incarnation,
            name: record.name.into(),
            version: record.version.into(),
        }
    }
}

/// What a change of the hosts bucket means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostChange {
    /// A host name not seen before took the name.
    Joined { host: String },
    /// An incarnation's lease lapsed (or it left): it is away, and may come back.
    Lapsed {
        host: String,
        incarnation: u64,
        reason: String,
    },
    /// A lapsed incarnation renews again.
    Returned { host: String, incarnation: u64 },
    /// An incarnation ended: a new one took its name, or it stayed away too long.
    Ended {
        host: String,
        incarnation: u64,
        reason: String,
        /// It had lapsed already (its requests were answered then).
        was_away: bool,
    },
}

#[derive(Debug, Default)]
pub(crate) struct Directory {
    hosts: RwLock<HashMap<String, KnownHost>>,
    owners: RwLock<HashMap<ComponentId, Owner>>,
    /// Told of every change (placement waits on it).
    pub(crate) changed: tokio::sync::Notify,
}

impl Directory {
    /// Applies one change of the hosts bucket; returns what it changed. A lapsed host is
    /// given up on after `give_up`.
    pub(crate) fn apply_host(&self, change: &Change, give_up: Duration) -> Vec<HostChange> {
        let changes = self.host_changed(&change.key, change.operation, &change.value, give_up);
        self.changed.notify_one();
        changes
    }

    fn host_changed(
        &self,
        key: &str,
        operation: Operation,
        value: &[u8],
        give_up: Duration,
    ) -> Vec<HostChange> {
        let Some(host) = unescape(key) else {
            tracing::warn!(%key, "a hosts-bucket key that is no escaped host name; skipped");
            return Vec::new();
        };
        let mut hosts = self.hosts.write();
        let mut changes = Vec::new();
        match operation {
            Operation::Put => match HostRecord::decode(value) {
                Ok(record) => {
                    let known = KnownHost {
                        incarnation: record.incarnation,
                        lease_ms: record.lease_ms,
                        live: true,
                        ends_at: None,
                        away: String::new(),
                        labels: record.labels,
                        places: record.places,
                    };
                    match hosts.insert(host.clone(), known) {
                        None => changes.push(HostChange::Joined { host }),
                        Some(old) if old.incarnation != record.incarnation => {
                            changes.push(HostChange::Ended {
                                host: host.clone(),
                                incarnation: old.incarnation,
                                reason: format!(
                                    "incarnation {:016x} took its name",
                                    record.incarnation
                                ),
                                was_away: !old.live,
                            });
                            changes.push(HostChange::Joined { host });
                        }
                        Some(old) if !old.live => changes.push(HostChange::Returned {
                            host,
                            incarnation: record.incarnation,
                        }),
                        Some(_) => {}
                    }
                }
                Err(detail) => {
                    tracing::warn!(%host, %detail, "a host record that cannot be read; skipped");
                }
            },
            Operation::Delete | Operation::Purge => {
                if let Some(known) = hosts.get_mut(&host)
                    && known.live
                {
                    let (reason, wait) = if operation == Operation::Purge {
                        (format!("its {} ms lease lapsed", known.lease_ms), give_up)
                    } else {
                        ("it left the cluster".to_owned(), LEFT_GRACE)
                    };
                    known.live = false;
                    known.ends_at = Some(Instant::now() + wait);
                    known.away.clone_from(&reason);
                    changes.push(HostChange::Lapsed {
                        host,
                        incarnation: known.incarnation,
                        reason,
                    });
                }
            }
        }
        changes
    }

    /// The incarnations away past their time, now taken as ended.
    pub(crate) fn overdue(&self, now: Instant) -> Vec<HostChange> {
        let mut hosts = self.hosts.write();
        let due: Vec<String> = hosts
            .iter()
            .filter(|(_, h)| !h.live && h.ends_at.is_some_and(|at| at <= now))
            .map(|(host, _)| host.clone())
            .collect();
        due.into_iter()
            .filter_map(|host| {
                let known = hosts.remove(&host)?;
                Some(HostChange::Ended {
                    host,
                    incarnation: known.incarnation,
                    reason: format!("{}, and it did not come back", known.away),
                    was_away: true,
                })
            })
            .collect()
    }

    /// Applies one change of the owners bucket; returns the id and its owner now.
    pub(crate) fn apply_owner(&self, change: &Change) -> Option<(ComponentId, Option<Owner>)> {
        let changed = self.owner_changed(
            &change.key,
            change.operation,
            &change.value,
            change.revision,
        );
        self.changed.notify_one();
        changed
    }

    fn owner_changed(
        &self,
        key: &str,
        operation: Operation,
        value: &[u8],
        revision: u64,
    ) -> Option<(ComponentId, Option<Owner>)> {
        let Some(id) = id_of_owner_key(key) else {
            tracing::warn!(%key, "an owners-bucket key that is no escaped component id; skipped");
            return None;
        };
        let mut owners = self.owners.write();
        match operation {
            Operation::Put => match OwnerRecord::decode(value) {
                Ok(record) => {
                    let owner = Owner::of(record, revision);
                    owners.insert(id.clone(), owner.clone());
                    Some((id, Some(owner)))
                }
                Err(detail) => {
                    tracing::warn!(component = %id, %detail, "an ownership record that cannot be read; skipped");
                    None
                }
            },
            Operation::Delete | Operation::Purge => {
                owners.remove(&id);
                Some((id, None))
            }
        }
    }

    /// What is known of `host`.
    pub(crate) fn host(&self, host: &str) -> Option<KnownHost> {
        self.hosts.read().get(host).cloned()
    }

    /// Whether incarnation `incarnation` of `host` holds its lease.
    pub(crate) fn is_live(&self, host: &str, incarnation: u64) -> bool {
        self.hosts
            .read()
            .get(host)
            .is_some_and(|known| known.incarnation == incarnation && known.live)
    }

    /// Whether incarnation `incarnation` of `host` has not ended (its lease holds, or it
    /// lapsed and may come back): what it sends is its own.
    pub(crate) fn is_member(&self, host: &str, incarnation: u64) -> bool {
        self.hosts
            .read()
            .get(host)
            .is_some_and(|known| known.incarnation == incarnation)
    }

    /// The live hosts' names, sorted.
    pub(crate) fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .hosts
            .read()
            .iter()
            .filter(|(_, h)| h.live)
            .map(|(host, _)| host.clone())
            .collect();
        hosts.sort();
        hosts
    }

    /// Who runs `id`, if its owner's incarnation is live.
    pub(crate) fn owner(&self, id: &ComponentId) -> Option<Owner> {
        let owner = self.owners.read().get(id).cloned()?;
        self.is_live(&owner.host, owner.incarnation)
            .then_some(owner)
    }

    /// Who the owners bucket says runs `id`, live or not.
    #[cfg(test)]
    pub(crate) fn recorded_owner(&self, id: &ComponentId) -> Option<Owner> {
        self.owners.read().get(id).cloned()
    }

    /// Every component a live host other than `except` runs, sorted.
    pub(crate) fn components(&self, except: (&str, u64)) -> Vec<ComponentId> {
        let hosts = self.hosts.read();
        let mut ids: Vec<ComponentId> = self
            .owners
            .read()
            .iter()
            .filter(|(_, o)| (&*o.host, o.incarnation) != except)
            .filter(|(_, o)| {
                hosts
                    .get(&*o.host)
                    .is_some_and(|h| h.live && h.incarnation == o.incarnation)
            })
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// What the owner of `id` said of it (health is not shared: `unknown`).
    pub(crate) fn info(&self, id: &ComponentId) -> Option<ComponentInfo> {
        let owner = self.owner(id)?;
        Some(ComponentInfo {
            id: id.clone(),
            name: owner.name.to_string(),
            version: owner.version.to_string(),
            health: "unknown".into(),
        })
    }

    /// The ids recorded as run by any incarnation of `host`.
    pub(crate) fn owned_by_host(&self, host: &str) -> Vec<(ComponentId, Owner)> {
        self.owners
            .read()
            .iter()
            .filter(|(_, o)| &*o.host == host)
            .map(|(id, o)| (id.clone(), o.clone()))
            .collect()
    }

    /// The live hosts and who runs what among them, for placement.
    pub(crate) fn view(&self) -> crate::deploy::ClusterView {
        let hosts = self.hosts.read();
        let mut view = crate::deploy::ClusterView::default();
        for (name, known) in hosts.iter().filter(|(_, h)| h.live) {
            view.hosts.push(crate::deploy::HostView {
                name: name.clone(),
                incarnation: known.incarnation,
                labels: known.labels.clone(),
                places: known.places,
            });
        }
        view.hosts.sort_by(|a, b| a.name.cmp(&b.name));
        for (id, owner) in self.owners.read().iter() {
            if hosts
                .get(&*owner.host)
                .is_some_and(|h| h.live && h.incarnation == owner.incarnation)
            {
                view.owners.insert(
                    id.clone(),
                    crate::deploy::OwnerView {
                        host: owner.host.to_string(),
                        epoch: owner.epoch,
                        version: owner.version.to_string(),
                    },
                );
            }
        }
        view
    }

    /// How many ids the owners bucket records, live or not.
    #[cfg(test)]
    pub(crate) fn recorded(&self) -> usize {
        self.owners.read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject::{host_key, owner_key};

    fn host(incarnation: u64) -> Vec<u8> {
        HostRecord {
            incarnation,
            lease_ms: 2000,
            pid: 1,
            machine: "m".into(),
            since_ms: 0,
            labels: Default::default(),
            places: false,
        }
        .encode()
    }

    fn owner(host: &str, incarnation: u64) -> Vec<u8> {
        OwnerRecord {
            host: host.into(),
            incarnation,
            epoch: 0,
            name: "echo".into(),
            version: "1".into(),
        }
        .encode()
    }

    #[test]
    fn incarnations_end_when_replaced_or_deleted_and_their_components_are_not_live() {
        let directory = Directory::default();
        let id: ComponentId = "a/b/1".parse().unwrap_or_else(|e| panic!("{e}"));
        let key = host_key("edge-1");
        let give_up = Duration::from_secs(60);
        let change = |op, value: &[u8]| directory.host_changed(&key, op, value, give_up);
        assert_eq!(
            change(Operation::Put, &host(1)),
            vec![HostChange::Joined {
                host: "edge-1".into()
            }]
        );
        // A renewal changes nothing.
        assert!(change(Operation::Put, &host(1)).is_empty());
        directory.owner_changed(&owner_key(&id), Operation::Put, &owner("edge-1", 1), 7);
        assert_eq!(directory.owner(&id).map(|o| o.epoch), Some(7));
        assert_eq!(directory.components(("other", 9)), vec![id.clone()]);
        assert!(directory.components(("edge-1", 1)).is_empty());
        // The lease lapses: away, not ended; its components are not live meanwhile.
        let changes = change(Operation::Purge, b"");
        assert!(
            matches!(&changes[..], [HostChange::Lapsed { incarnation: 1, reason, .. }] if reason.contains("lapsed")),
            "{changes:?}"
        );
        assert_eq!(directory.owner(&id), None);
        assert!(directory.is_member("edge-1", 1) && !directory.is_live("edge-1", 1));
        assert!(directory.overdue(Instant::now()).is_empty());
        // It renews again as the same incarnation: back.
        assert!(matches!(
            &change(Operation::Put, &host(1))[..],
            [HostChange::Returned { incarnation: 1, .. }]
        ));
        assert!(directory.owner(&id).is_some());
        // Another process took the name: the old incarnation ended, its records are stale.
        let changes = change(Operation::Put, &host(2));
        assert!(
            matches!(
                &changes[..],
                [
                    HostChange::Ended { incarnation: 1, .. },
                    HostChange::Joined { .. }
                ]
            ),
            "{changes:?}"
        );
        assert_eq!(directory.owner(&id), None);
        assert!(directory.recorded_owner(&id).is_some());
        // Away past its time: ended.
        change(Operation::Purge, b"");
        let ended = directory.overdue(Instant::now() + give_up);
        assert!(
            matches!(&ended[..], [HostChange::Ended { incarnation: 2, reason, .. }] if reason.contains("did not come back")),
            "{ended:?}"
        );
        assert!(directory.hosts().is_empty());
        directory.owner_changed(&owner_key(&id), Operation::Delete, b"", 8);
        assert_eq!(directory.recorded(), 0);
    }
}
