//! What `deploy` and `undeploy` write: each component's code into the code store, then the
//! application's record, and what that changed.

use std::collections::BTreeMap;

use wasm_cluster::deploy::ClusterClient;
use wasm_core::ComponentId;
use wasm_runtime::WasmEngine;

use super::record::{AppRecord, Deployed, check_deployable};
use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// What a deploy changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployReport {
    /// The application.
    pub app: String,
    /// The revision of its record now.
    pub revision: u64,
    /// Components new to the application: they are placed and started.
    pub added: Vec<ComponentId>,
    /// Components no longer in it: they are stopped.
    pub removed: Vec<ComponentId>,
    /// Components with new code: their hosts upgrade them in place.
    pub upgraded: Vec<ComponentId>,
    /// Components whose code is the same.
    pub unchanged: Vec<ComponentId>,
}

/// Deploys `manifest` as application `app`: checks it (it must load, every pinned digest
/// must match, no id may belong to another application), puts each component's code in the
/// cluster's code store, then writes the record. Hosts start, upgrade and stop what changed.
/// The record keeps the manifest's text as written, so `manifest` must have been read from
/// its file ([`Manifest::from_file`]).
///
/// # Errors
///
/// [`Error::Manifest`] for a component that does not load or does not match its pinned
/// digest; [`Error::ReadManifest`] if the manifest's file cannot be read again; [`Error::Deploy`] for a manifest with host settings, or an id another
/// application holds; [`Error::Cluster`] if the cluster cannot be written.
pub async fn publish(
    client: &ClusterClient,
    app: &str,
    manifest: &Manifest,
    engine: &WasmEngine,
) -> Result<DeployReport> {
    if app.trim().is_empty() || app.contains(['\n', '\r']) {
        return Err(Error::Deploy {
            app: app.to_owned(),
            detail: "an application's name must not be empty".into(),
        });
    }
    check_deployable(app, manifest)?;
    manifest.check(engine)?;
    let apps = client.apps().await?;
    let code = client.code().await?;
    let mine: Vec<&ComponentId> = manifest.components().iter().map(|c| &c.id).collect();
    let mut old = None;
    for entry in apps.list().await? {
        let record = AppRecord::decode(&entry.name, &entry.record)?;
        if entry.name == app {
            old = Some(Deployed::from_record(&record, entry.revision)?);
            continue;
        }
        if let Some(id) = mine
            .iter()
            .find(|id| record.code.contains_key(&id.to_string()))
        {
            return Err(Error::Deploy {
                app: app.to_owned(),
                detail: format!(
                    "{id} belongs to application `{}`: an id runs once in a cluster",
                    entry.name
                ),
            });
        }
    }
    let text = std::fs::read_to_string(manifest.file()).map_err(|source| Error::ReadManifest {
        path: manifest.file().to_owned(),
        source,
    })?;
    let mut digests = BTreeMap::new();
    for entry in manifest.components() {
        let bytes = std::fs::read(&entry.path).map_err(|e| Error::Deploy {
            app: app.to_owned(),
            detail: format!("cannot read {} of {}: {e}", entry.path.display(), entry.id),
        })?;
        let digest = code.put(&bytes).await?;
        digests.insert(entry.id.to_string(), digest);
    }
    let record = AppRecord {
        name: app.to_owned(),
        manifest: text,
        code: digests,
    };
    let revision = apps.put(app, record.encode()).await?;
    let mut report = DeployReport {
        app: app.to_owned(),
        revision,
        ..DeployReport::default()
    };
    let before = old.map(|o| o.code).unwrap_or_default();
    for entry in manifest.components() {
        let digest = record.code.get(&entry.id.to_string());
        match before.get(&entry.id) {
            None => report.added.push(entry.id.clone()),
            Some(old) if Some(old) == digest => report.unchanged.push(entry.id.clone()),
            Some(_) => report.upgraded.push(entry.id.clone()),
        }
    }
    report.removed = before
        .keys()
        .filter(|id| !mine.contains(id))
        .cloned()
        .collect();
    Ok(report)
}

/// Undeploys application `app`; returns its components (their hosts stop them).
///
/// # Errors
///
/// [`Error::Cluster`] with `UnknownApp` naming the deployed applications if `app` is not
/// one; [`Error::Cluster`] if the cluster cannot be written.
pub async fn withdraw(client: &ClusterClient, app: &str) -> Result<Vec<ComponentId>> {
    let apps = client.apps().await?;
    let components = match apps.get(app).await? {
        Some(entry) => {
            let record = AppRecord::decode(app, &entry.record)?;
            record
                .code
                .keys()
                .filter_map(|id| id.parse().ok())
                .collect()
        }
        None => Vec::new(),
    };
    apps.remove(app).await?;
    Ok(components)
}
