//! Placement: which host runs what. Every host that takes placed components works out the
//! same plan from the same view (the live hosts, their labels, who runs what) and starts only
//! what the plan gives it; the ownership claim decides if two views differ for a moment, so
//! two hosts never both run an id, and there is no coordinator to lose.

use std::collections::BTreeMap;

use wasm_cluster::deploy::{ClusterView, HostView};
use wasm_core::ComponentId;

use crate::manifest::Manifest;

/// What is placed on one host together: a supervision group, or a component in none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The application.
    pub app: String,
    /// The group's name, or the component's id.
    pub name: String,
    /// Whether it is a group of the manifest.
    pub group: bool,
    /// Its components, in start order.
    pub members: Vec<ComponentId>,
    /// Labels its host must have (`zone=a`), from the group and every member.
    pub labels: Vec<String>,
    /// A component it runs best next to (its members' `neighbour`), if any.
    pub neighbour: Option<ComponentId>,
}

/// The units of an application: its groups, then each component in no group, in the order
/// written.
pub fn units_of(app: &str, manifest: &Manifest) -> Vec<Unit> {
    let mut units = Vec::new();
    let mut grouped = Vec::new();
    for group in manifest.groups() {
        let mut labels = group.hosts.clone();
        let mut neighbour = None;
        for id in &group.members {
            grouped.push(id.clone());
            if let Some(entry) = manifest.component(id) {
                labels.extend(entry.hosts.iter().cloned());
                neighbour = neighbour.or_else(|| {
                    entry
                        .neighbour
                        .clone()
                        .filter(|n| !group.members.contains(n))
                });
            }
        }
        labels.sort();
        labels.dedup();
        units.push(Unit {
            app: app.to_owned(),
            name: group.name.clone(),
            group: true,
            members: group.members.clone(),
            labels,
            neighbour,
        });
    }
    for entry in manifest.components() {
        if grouped.contains(&entry.id) {
            continue;
        }
        let mut labels = entry.hosts.clone();
        labels.sort();
        labels.dedup();
        units.push(Unit {
            app: app.to_owned(),
            name: entry.id.to_string(),
            group: false,
            members: vec![entry.id.clone()],
            labels,
            neighbour: entry.neighbour.clone(),
        });
    }
    units
}

/// The hosts that may run `unit`: they take placed components and have all its labels.
pub fn eligible<'a>(unit: &Unit, view: &'a ClusterView) -> Vec<&'a HostView> {
    view.hosts
        .iter()
        .filter(|h| h.places && h.has_labels(unit.labels.iter().map(String::as_str)))
        .collect()
}

/// Why `unit` can run nowhere now, if it cannot.
pub fn why_pending(unit: &Unit, view: &ClusterView) -> Option<String> {
    if !eligible(unit, view).is_empty() {
        return None;
    }
    let placing = view.hosts.iter().filter(|h| h.places).count();
    Some(if placing == 0 {
        "no live host takes placed components (start one with `airssys-wasm host`)".to_owned()
    } else {
        format!(
            "none of the {placing} live host(s) has the label(s) {}",
            unit.labels.join(", ")
        )
    })
}

/// Whether any member of `unit` runs on a live host.
pub fn is_placed(unit: &Unit, view: &ClusterView) -> bool {
    unit.members.iter().any(|id| view.owners.contains_key(id))
}

/// The plan for the units that run nowhere: each gets the eligible host next to its
/// neighbour if there is one, else the eligible host with the fewest components (counting
/// what this plan gives it), ties to the first by name. Units with no eligible host are left
/// out. The same view gives the same plan on every host.
pub fn plan<'a>(pending: &[&'a Unit], view: &ClusterView) -> Vec<(&'a Unit, String)> {
    let mut counts: BTreeMap<&str, usize> = view
        .hosts
        .iter()
        .map(|h| (h.name.as_str(), view.count(&h.name)))
        .collect();
    let mut placed_here: BTreeMap<&ComponentId, String> = BTreeMap::new();
    let mut ordered: Vec<&&Unit> = pending.iter().collect();
    // Units with a neighbour go after the others, so that the neighbour is placed first.
    ordered.sort_by(|a, b| {
        (a.neighbour.is_some(), &a.app, &a.name).cmp(&(b.neighbour.is_some(), &b.app, &b.name))
    });
    let mut out = Vec::new();
    for unit in ordered {
        let hosts = eligible(unit, view);
        if hosts.is_empty() {
            continue;
        }
        let near = unit.neighbour.as_ref().and_then(|n| {
            view.owners
                .get(n)
                .map(|o| o.host.clone())
                .or_else(|| placed_here.get(n).cloned())
        });
        let chosen = near
            .filter(|host| hosts.iter().any(|h| &h.name == host))
            .or_else(|| {
                hosts
                    .iter()
                    .min_by_key(|h| (counts.get(h.name.as_str()).copied().unwrap_or(0), &h.name))
                    .map(|h| h.name.clone())
            });
        let Some(chosen) = chosen else { continue };
        if let Some(count) = counts.get_mut(chosen.as_str()) {
            *count += unit.members.len();
        }
        for id in &unit.members {
            placed_here.insert(id, chosen.clone());
        }
        out.push((*unit, chosen));
    }
    out
}

#[cfg(test)]
mod tests {
    use wasm_cluster::deploy::OwnerView;

    use super::*;

    fn host(name: &str, labels: &[(&str, &str)]) -> HostView {
        HostView {
            name: name.into(),
            incarnation: 1,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            places: true,
        }
    }

    fn unit(name: &str, members: &[&str], labels: &[&str], neighbour: Option<&str>) -> Unit {
        Unit {
            app: "shop".into(),
            name: name.into(),
            group: members.len() > 1,
            members: members.iter().map(|m| m.parse().unwrap()).collect(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            neighbour: neighbour.map(|n| n.parse().unwrap()),
        }
    }

    #[test]
    fn units_spread_over_the_fewest_loaded_hosts_and_keep_to_their_labels() {
        let mut view = ClusterView {
            hosts: vec![
                host("a", &[("zone", "x")]),
                host("b", &[("zone", "y")]),
                host("c", &[("zone", "y")]),
            ],
            owners: BTreeMap::new(),
        };
        view.owners.insert(
            "shop/old/1".parse().unwrap(),
            OwnerView {
                host: "b".into(),
                epoch: 3,
                version: "1.0.0".into(),
            },
        );
        let units: Vec<Unit> = (0..6)
            .map(|i| unit(&format!("shop/u/{i}"), &[&format!("shop/u/{i}")], &[], None))
            .chain([
                unit("pair", &["shop/p/1", "shop/p/2"], &["zone=y"], None),
                unit("shop/n/1", &["shop/n/1"], &[], Some("shop/p/1")),
                unit("shop/z/1", &["shop/z/1"], &["zone=q"], None),
            ])
            .collect();
        let pending: Vec<&Unit> = units.iter().collect();
        let plan = plan(&pending, &view);
        let on = |name: &str| {
            plan.iter()
                .find(|(u, _)| u.name == name)
                .map(|(_, h)| h.as_str())
        };
        // No host has zone=q: left out. The pair goes to a zone=y host; its neighbour follows.
        assert_eq!(on("shop/z/1"), None);
        let pair_host = on("pair").unwrap();
        assert!(pair_host == "b" || pair_host == "c");
        assert_eq!(on("shop/n/1"), Some(pair_host));
        // Everything else evens out: b already ran one.
        let mut counts = BTreeMap::new();
        for (u, h) in &plan {
            *counts.entry(h.clone()).or_insert(0) += u.members.len();
        }
        *counts.entry("b".to_owned()).or_insert(0) += 1;
        let (min, max) = (
            counts.values().min().unwrap(),
            counts.values().max().unwrap(),
        );
        assert!(max - min <= 1, "{counts:?}");
        // The same view gives the same plan.
        let again = super::plan(&pending, &view);
        assert_eq!(again, plan);
        assert!(why_pending(&units[8], &view).unwrap().contains("zone=q"));
    }
}
