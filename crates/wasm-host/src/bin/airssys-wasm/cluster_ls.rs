//! `ctl --cluster <url> ls`: every component of a cluster, read from its buckets: the
//! deployed ones (running with host and epoch, or pending and why), then those hosts run
//! from their own manifests.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anyhow::anyhow;
use serde_json::json;
use wasm_host::deploy::{AppRecord, ClusterView, Deployed, why_pending};

use crate::args::ClusterArgs;
use crate::exit::{Outcome, runtime};

/// One line of the listing.
struct Line {
    id: String,
    app: String,
    host: String,
    state: String,
    epoch: String,
    version: String,
    why: String,
}

fn lines(apps: &[Deployed], view: &ClusterView) -> Vec<Line> {
    let mut out = Vec::new();
    let mut listed = BTreeSet::new();
    for app in apps {
        for unit in &app.units {
            for id in &unit.members {
                listed.insert(id.clone());
                let (host, state, epoch, version, why) = match view.owners.get(id) {
                    Some(owner) => (
                        owner.host.clone(),
                        "running".to_owned(),
                        owner.epoch.to_string(),
                        owner.version.clone(),
                        String::new(),
                    ),
                    None => (
                        "-".to_owned(),
                        "pending".to_owned(),
                        "-".to_owned(),
                        "-".to_owned(),
                        why_pending(unit, view)
                            .unwrap_or_else(|| "waiting for a host to start it".to_owned()),
                    ),
                };
                out.push(Line {
                    id: id.to_string(),
                    app: app.name.clone(),
                    host,
                    state,
                    epoch,
                    version,
                    why,
                });
            }
        }
    }
    for (id, owner) in &view.owners {
        if !listed.contains(id) {
            out.push(Line {
                id: id.to_string(),
                app: "-".to_owned(),
                host: owner.host.clone(),
                state: "running".to_owned(),
                epoch: owner.epoch.to_string(),
                version: owner.version.clone(),
                why: String::new(),
            });
        }
    }
    out
}

pub async fn ls(args: &ClusterArgs, as_json: bool) -> Outcome {
    let client = crate::deploy::client(args).await?;
    let view = client.view().await.map_err(|e| runtime(anyhow!(e)))?;
    let store = client.apps().await.map_err(|e| runtime(anyhow!(e)))?;
    let mut apps = Vec::new();
    for entry in store.list().await.map_err(|e| runtime(anyhow!(e)))? {
        let deployed = AppRecord::decode(&entry.name, &entry.record)
            .and_then(|record| Deployed::from_record(&record, entry.revision))
            .map_err(|e| runtime(anyhow!(e)))?;
        apps.push(deployed);
    }
    client.close().await;
    let lines = lines(&apps, &view);
    if as_json {
        let list: Vec<_> = lines
            .iter()
            .map(|l| {
                json!({"id": l.id, "app": l.app, "host": l.host, "state": l.state, "epoch": l.epoch, "version": l.version, "why": l.why})
            })
            .collect();
        let hosts: Vec<_> = view
            .hosts
            .iter()
            .map(|h| json!({"name": h.name, "labels": h.labels, "places": h.places, "components": view.count(&h.name)}))
            .collect();
        println!("{}", json!({"components": list, "hosts": hosts}));
        return Ok(());
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32} {:<12} {:<12} {:<8} {:>6} {:<10} WHY",
        "COMPONENT", "APP", "HOST", "STATE", "EPOCH", "VERSION"
    );
    for l in &lines {
        let _ = writeln!(
            out,
            "{:<32} {:<12} {:<12} {:<8} {:>6} {:<10} {}",
            l.id, l.app, l.host, l.state, l.epoch, l.version, l.why
        );
    }
    let _ = writeln!(out, "hosts:");
    for h in &view.hosts {
        let labels: Vec<String> = h.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            out,
            "  {} ({} components{}{})",
            h.name,
            view.count(&h.name),
            if h.places {
                ", takes placed components"
            } else {
                ""
            },
            if labels.is_empty() {
                String::new()
            } else {
                format!(", labels {}", labels.join(","))
            }
        );
    }
    print!("{out}");
    Ok(())
}
