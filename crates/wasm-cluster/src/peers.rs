//! What this host knows of the other hosts of its cluster: who is alive (heartbeats) and which
//! components each runs.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;
use wasm_core::{ComponentId, ComponentInfo};

#[derive(Debug)]
struct Peer {
    last_seen: Instant,
    components: Vec<ComponentInfo>,
}

/// The live peers, by host name.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    table: Mutex<HashMap<String, Peer>>,
}

impl Peers {
    /// Records a heartbeat of `host`; `true` if the host was not known (it joined, or came
    /// back).
    pub(crate) fn heard(&self, host: &str, components: Vec<ComponentInfo>, now: Instant) -> bool {
        let mut table = self.table.lock();
        let new = !table.contains_key(host);
        table.insert(
            host.to_owned(),
            Peer {
                last_seen: now,
                components,
            },
        );
        new
    }

    /// The live peers' names, sorted.
    pub(crate) fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self.table.lock().keys().cloned().collect();
        hosts.sort();
        hosts
    }

    /// The peer whose heartbeats list `id`, if one does.
    pub(crate) fn owner(&self, id: &ComponentId) -> Option<String> {
        self.table
            .lock()
            .iter()
            .find(|(_, peer)| peer.components.iter().any(|c| &c.id == id))
            .map(|(host, _)| host.clone())
    }

    /// Removes `host` (it said goodbye); its components, if it was known.
    pub(crate) fn remove(&self, host: &str) -> Option<Vec<ComponentId>> {
        self.table
            .lock()
            .remove(host)
            .map(|peer| peer.components.into_iter().map(|c| c.id).collect())
    }

    /// Removes every peer last heard before `deadline`, with the ids it ran.
    pub(crate) fn expire(&self, deadline: Instant) -> Vec<(String, Vec<ComponentId>)> {
        let mut table = self.table.lock();
        let gone: Vec<String> = table
            .iter()
            .filter(|(_, peer)| peer.last_seen < deadline)
            .map(|(host, _)| host.clone())
            .collect();
        gone.into_iter()
            .filter_map(|host| {
                let peer = table.remove(&host)?;
                Some((host, peer.components.into_iter().map(|c| c.id).collect()))
            })
            .collect()
    }

    /// Every component the live peers run, sorted.
    pub(crate) fn components(&self) -> Vec<ComponentId> {
        let mut ids: Vec<ComponentId> = self
            .table
            .lock()
            .values()
            .flat_map(|peer| peer.components.iter().map(|c| c.id.clone()))
            .collect();
        ids.sort();
        ids
    }

    /// What a peer said of one of its components.
    pub(crate) fn info(&self, id: &ComponentId) -> Option<ComponentInfo> {
        self.table
            .lock()
            .values()
            .find_map(|peer| peer.components.iter().find(|c| &c.id == id).cloned())
    }
}

/// A heartbeat's payload: one line per component, `id TAB name TAB version TAB health`.
pub(crate) fn encode(components: &[ComponentInfo]) -> Vec<u8> {
    let mut out = String::new();
    for c in components {
        for (i, field) in [
            c.id.to_string(),
            c.name.clone(),
            c.version.clone(),
            c.health.clone(),
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                out.push('\t');
            }
            out.extend(
                field
                    .chars()
                    .map(|ch| if ch == '\t' || ch == '\n' { ' ' } else { ch }),
            );
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// Reads a heartbeat's payload; lines that do not hold a valid id are skipped and counted.
pub(crate) fn decode(payload: &[u8]) -> (Vec<ComponentInfo>, usize) {
    let text = String::from_utf8_lossy(payload);
    let mut bad = 0;
    let components = text
        .lines()
        .filter(|line| !line.is_empty())
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let id = fields.next().and_then(|id| id.parse().ok());
            if id.is_none() {
                bad += 1;
            }
            Some(ComponentInfo {
                id: id?,
                name: fields.next().unwrap_or("").to_owned(),
                version: fields.next().unwrap_or("").to_owned(),
                health: fields.next().unwrap_or("").to_owned(),
            })
        })
        .collect();
    (components, bad)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn info(id: &str) -> ComponentInfo {
        ComponentInfo {
            id: id.parse().unwrap_or_else(|e| panic!("{e}")),
            name: "echo".into(),
            version: "0.1.0".into(),
            health: "healthy".into(),
        }
    }

    #[test]
    fn heartbeats_round_trip_and_bad_lines_are_counted() {
        let payload = encode(&[info("a/b/1"), info("a/c/1")]);
        let (decoded, bad) = decode(&payload);
        assert_eq!(decoded, vec![info("a/b/1"), info("a/c/1")]);
        assert_eq!(bad, 0);
        let (decoded, bad) = decode(b"not an id\techo\nx/y/1\n");
        assert_eq!(decoded.len(), 1);
        assert_eq!(bad, 1);
    }

    #[test]
    fn silent_peers_expire_with_their_components() {
        let peers = Peers::default();
        let start = Instant::now();
        assert!(peers.heard("h1", vec![info("a/b/1")], start));
        assert!(!peers.heard("h1", vec![info("a/b/1")], start));
        assert!(peers.heard("h2", vec![info("a/c/1")], start + Duration::from_secs(2)));
        assert_eq!(peers.hosts(), vec!["h1".to_owned(), "h2".to_owned()]);
        assert_eq!(peers.owner(&info("a/c/1").id).as_deref(), Some("h2"));
        let gone = peers.expire(start + Duration::from_secs(1));
        assert_eq!(gone, vec![("h1".to_owned(), vec![info("a/b/1").id])]);
        assert_eq!(peers.components(), vec![info("a/c/1").id]);
    }
}
