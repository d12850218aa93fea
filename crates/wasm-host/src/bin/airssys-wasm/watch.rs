//! `run --watch`: a component whose `.wasm` file changes is upgraded in place; a manifest
//! that changes is applied (components added are started, removed are stopped, changed are
//! upgraded with their new code, grants, limits and config; a changed mailbox or restart
//! policy, fixed for a component's life, stops and starts it).
//!
//! Files are polled (modification time and size), with no platform watcher: a change is
//! acted on once the file has looked the same for two polls in a row, so a file still being
//! written is not read half-way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use wasm_host::{ComponentEntry, ComponentId, ComponentSpec, Host, Manifest};

/// How often files are looked at.
const POLL: Duration = Duration::from_millis(250);

/// What a file looked like: modification time and length, or absent.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// One watched file: what was applied, and what the last poll saw.
#[derive(Debug)]
struct Watched {
    applied: Stamp,
    seen: Stamp,
}

impl Watched {
    fn new(path: &Path) -> Self {
        let now = stamp(path);
        Self {
            applied: now,
            seen: now,
        }
    }

    /// Polls; `true` once a change has held still for one poll.
    fn settled_change(&mut self, path: &Path) -> bool {
        let now = stamp(path);
        let settled = now == self.seen && now != self.applied && now.is_some();
        self.seen = now;
        if settled {
            self.applied = now;
        }
        settled
    }
}

/// Watches a manifest and its components' files.
#[derive(Debug)]
pub struct Watcher {
    manifest: Manifest,
    manifest_file: Watched,
    components: HashMap<ComponentId, Watched>,
}

impl Watcher {
    pub fn new(manifest: Manifest) -> Self {
        let manifest_file = Watched::new(manifest.file());
        let components = manifest
            .components()
            .iter()
            .map(|c| (c.id.clone(), Watched::new(&c.path)))
            .collect();
        Self {
            manifest,
            manifest_file,
            components,
        }
    }

    /// Polls for ever; each change is applied and logged, and a failure never stops it.
    pub async fn run(mut self, host: &Host) {
        tracing::info!(target: "airssys::cli", manifest = %self.manifest.file().display(), "watching the manifest and its components' files");
        loop {
            tokio::time::sleep(POLL).await;
            self.poll(host).await;
        }
    }

    async fn poll(&mut self, host: &Host) {
        let file = self.manifest.file().to_path_buf();
        if self.manifest_file.settled_change(&file) {
            match Manifest::from_file(&file) {
                Ok(next) => self.apply(host, next).await,
                Err(e) => {
                    tracing::warn!(target: "airssys::cli", error = %wasm_host::with_causes(&e), "the changed manifest is not valid; nothing changed");
                }
            }
            return;
        }
        let entries: Vec<(ComponentId, PathBuf)> = self
            .manifest
            .components()
            .iter()
            .map(|c| (c.id.clone(), c.path.clone()))
            .collect();
        for (id, path) in entries {
            let changed = self
                .components
                .get_mut(&id)
                .is_some_and(|w| w.settled_change(&path));
            if changed {
                upgrade(host, &id, &path).await;
            }
        }
    }

    /// Applies a new version of the manifest.
    async fn apply(&mut self, host: &Host, next: Manifest) {
        let specs: HashMap<ComponentId, ComponentSpec> = match next
            .specs(host.engine(), host.default_limits())
        {
            Ok(groups) => groups
                .into_iter()
                .flat_map(|g| g.members)
                .map(|spec| (spec.id.clone(), spec))
                .collect(),
            Err(e) => {
                tracing::warn!(target: "airssys::cli", error = %wasm_host::with_causes(&e), "the changed manifest's components cannot be loaded; nothing changed");
                return;
            }
        };
        for old in self.manifest.components() {
            if next.component(&old.id).is_none() {
                match host.stop_component(&old.id).await {
                    Ok(()) => {
                        tracing::info!(target: "airssys::cli", component = %old.id, "removed from the manifest: stopped")
                    }
                    Err(e) => {
                        tracing::warn!(target: "airssys::cli", component = %old.id, error = %wasm_host::with_causes(&e), "removed from the manifest, but it could not be stopped")
                    }
                }
            }
        }
        for entry in next.components() {
            let Some(spec) = specs.get(&entry.id) else {
                continue;
            };
            match self.manifest.component(&entry.id) {
                None => start(host, spec.clone(), "added to the manifest").await,
                Some(old) if old.mailbox != entry.mailbox || old.restart != entry.restart => {
                    // Fixed for a component's life: it is stopped and started with them.
                    match host.stop_component(&entry.id).await {
                        Ok(()) => {
                            start(host, spec.clone(), "its mailbox or restart policy changed").await
                        }
                        Err(e) => {
                            tracing::warn!(target: "airssys::cli", component = %entry.id, error = %wasm_host::with_causes(&e), "its manifest entry changed, but it could not be stopped")
                        }
                    }
                }
                Some(old) => {
                    let settings_changed = old.grants != entry.grants
                        || old.limits != entry.limits
                        || old.config_data != entry.config_data;
                    if settings_changed || old.path != entry.path || self.file_changed(entry) {
                        match host.upgrade_spec(spec.clone()).await {
                            Ok(up) => {
                                tracing::info!(target: "airssys::cli", component = %entry.id, from = %up.from, to = %up.to, settings_changed, "its manifest entry changed: upgraded")
                            }
                            Err(e) => {
                                tracing::warn!(target: "airssys::cli", component = %entry.id, error = %wasm_host::with_causes(&e), "its manifest entry changed, but the upgrade failed; the old version keeps running")
                            }
                        }
                    }
                }
            }
        }
        self.components = next
            .components()
            .iter()
            .map(|c| (c.id.clone(), Watched::new(&c.path)))
            .collect();
        self.manifest = next;
    }

    /// Whether a component's file changed since it was last applied (checked when the
    /// manifest changed in the same moment).
    fn file_changed(&self, entry: &ComponentEntry) -> bool {
        self.components
            .get(&entry.id)
            .is_some_and(|w| stamp(&entry.path) != w.applied)
    }
}

async fn start(host: &Host, spec: ComponentSpec, why: &str) {
    let id = spec.id.clone();
    // A component the host stopped before is started afresh from the manifest's spec.
    match host.start_component(spec).await {
        Ok(()) => tracing::info!(target: "airssys::cli", component = %id, "{why}: started"),
        Err(e) => {
            tracing::warn!(target: "airssys::cli", component = %id, error = %wasm_host::with_causes(&e), "{why}, but it could not be started")
        }
    }
}

async fn upgrade(host: &Host, id: &ComponentId, path: &Path) {
    match host.upgrade_file(id, path).await {
        Ok(up) => {
            tracing::info!(target: "airssys::cli", component = %id, from = %up.from, to = %up.to, state_handed_over = up.state_handed_over, "its file changed: upgraded")
        }
        Err(e) => {
            tracing::warn!(target: "airssys::cli", component = %id, error = %wasm_host::with_causes(&e), "its file changed, but the upgrade failed; the old version keeps running")
        }
    }
}
