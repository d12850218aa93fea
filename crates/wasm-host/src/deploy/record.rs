//! An application's record in the cluster: the manifest as deployed and the digest of each
//! component's code. `deploy` writes it; every host reads it back as a [`Deployed`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use wasm_core::ComponentId;

use super::placement::{Unit, units_of};
use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// What the applications bucket holds for one application (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    /// The application's name.
    pub name: String,
    /// The manifest's text as deployed: its components, grants, limits, groups and host
    /// labels (each `path` names a file on the deploying machine only; the code is `code`).
    pub manifest: String,
    /// The SHA-256 of each component's code, by component id.
    pub code: BTreeMap<String, String>,
}

impl AppRecord {
    /// The record as bytes.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a record written by [`AppRecord::encode`].
    ///
    /// # Errors
    ///
    /// [`Error::Deploy`] naming the application if the bytes are not such a record.
    pub fn decode(app: &str, bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::Deploy {
            app: app.to_owned(),
            detail: format!("its record in the cluster cannot be read: {e}"),
        })
    }
}

/// A deployed application as a host reads it: the manifest parsed, its placement units, and
/// each component's digest.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// The application's name.
    pub name: String,
    /// The bucket revision of its record.
    pub revision: u64,
    /// Its manifest.
    pub manifest: Manifest,
    /// What is placed together: each group, and each component in no group.
    pub units: Vec<Unit>,
    /// Each component's code digest.
    pub code: BTreeMap<ComponentId, String>,
}

impl Deployed {
    /// Parses `record` (at `revision`).
    ///
    /// # Errors
    ///
    /// [`Error::Deploy`] naming the application if its manifest does not parse, or a
    /// component has no code digest.
    pub fn from_record(record: &AppRecord, revision: u64) -> Result<Self> {
        let bad = |detail: String| Error::Deploy {
            app: record.name.clone(),
            detail,
        };
        let manifest = Manifest::parse(&record.manifest, format!("{}.toml", record.name))
            .map_err(|e| bad(format!("its manifest does not parse: {e}")))?;
        let mut code = BTreeMap::new();
        for entry in manifest.components() {
            let digest = record
                .code
                .get(&entry.id.to_string())
                .ok_or_else(|| bad(format!("{} has no code digest", entry.id)))?;
            code.insert(entry.id.clone(), digest.clone());
        }
        Ok(Self {
            name: record.name.clone(),
            revision,
            units: units_of(&record.name, &manifest),
            manifest,
            code,
        })
    }
}

/// Checks that a manifest can be deployed as an application: no `[cluster]` section and
/// no host settings that belong to a host (`storage`, `admin`, `shards`).
///
/// # Errors
///
/// [`Error::Deploy`] naming the section or key.
pub fn check_deployable(app: &str, manifest: &Manifest) -> Result<()> {
    let refuse = |what: &str| {
        Err(Error::Deploy {
            app: app.to_owned(),
            detail: format!(
                "{} sets {what}, which belongs to a host, not to an application: remove it (hosts are started with `airssys-wasm host`)",
                manifest.file().display()
            ),
        })
    };
    if manifest.cluster().is_some() {
        return refuse("`[cluster]`");
    }
    let host = manifest.host();
    if host.storage.is_some() {
        return refuse("`[host] storage` (deployed components keep their storage in the cluster)");
    }
    if host.admin.is_some() {
        return refuse("`[host] admin`");
    }
    if host.shards.is_some() {
        return refuse("`[host] shards`");
    }
    Ok(())
}

/// The application name of a manifest file: its file name without `.toml`.
pub fn app_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
