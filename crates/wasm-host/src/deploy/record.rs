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

/// Checks that a manifest can be deployed as an application: no `[cluster]` section, no
/// settings that belong to a host (`storage`, `admin`, `shards`, `http`...), and no HTTP
/// ingress (`[[handlers]]`, `[[http]]`), which a host serves and placement would drop.
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
    if host.http.is_some() || host.http_max_body.is_some() || host.http_concurrency.is_some() {
        return refuse("`[host] http`, `http_max_body` or `http_concurrency`");
    }
    // HTTP ingress is served by a host (`run --http`); deployed, it would be dropped.
    let http = manifest.http();
    if !http.handlers.is_empty() || !http.routes.is_empty() {
        return refuse("`[[handlers]]` or `[[http]]` (HTTP ingress, which `run --http` serves)");
    }
    Ok(())
}

/// The application name of a manifest file: its file name without `.toml`.
pub fn app_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        let manifest = Manifest::parse(text, "/tmp/app.toml").unwrap();
        check_deployable("app", &manifest).unwrap_err().to_string()
    }

    #[test]
    fn host_settings_and_http_ingress_are_refused_by_name() {
        let echo = "[[components]]\nid = \"a/echo/1\"\npath = \"echo.wasm\"\n";
        let ok = Manifest::parse(echo, "/tmp/app.toml").unwrap();
        assert!(check_deployable("app", &ok).is_ok());
        let said = refused(&format!("[host]\nadmin = \"127.0.0.1:9100\"\n{echo}"));
        assert!(
            said.contains("`[host] admin`") && said.contains("/tmp/app.toml"),
            "{said}"
        );
        let said = refused(&format!("[host]\nhttp = \"127.0.0.1:8080\"\n{echo}"));
        assert!(said.contains("`[host] http`"), "{said}");
        let said = refused(&format!(
            "{echo}[[http]]\nroute = \"/e\"\ncomponent = \"a/echo/1\"\n"
        ));
        assert!(said.contains("`[[http]]`"), "{said}");
    }
}
