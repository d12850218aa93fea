//! [`Agent`]: what a host without a manifest runs. It reads the cluster's deployed
//! applications, fetches and checks their code, starts what the placement plan gives this
//! host (and what stays unplaced too long), upgrades what it runs when a deploy changes its
//! code, and stops what was undeployed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasm_actor::GroupSpec;
use wasm_cluster::NatsTransport;
use wasm_cluster::deploy::{AppStore, ClusterView, CodeStore};
use wasm_core::ComponentId;
use wasm_runtime::LoadedComponent;

use super::placement::{self, Unit};
use super::record::{AppRecord, Deployed};
use crate::error::{Error, Result};
use crate::host::Host;

/// How often the applications are read when nothing else wakes the agent.
const POLL: Duration = Duration::from_millis(500);
/// How long a unit may stay unplaced before a host the plan did not choose starts it (the
/// chosen one may be gone, or see another plan); each eligible host waits a step longer than
/// the one before it.
const STALL: Duration = Duration::from_secs(2);
/// How long reading the applications or fetching code may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a unit that failed to start here is not tried here again.
const RETRY: Duration = Duration::from_secs(5);

/// A component this agent started here.
#[derive(Debug, Clone)]
struct Running {
    app: String,
    digest: String,
}

/// Runs the deployed applications' share of one host.
pub struct Agent<'h> {
    host: &'h Host,
    transport: NatsTransport,
    apps: AppStore,
    code: CodeStore,
    /// Code by digest, compiled.
    loaded: HashMap<String, LoadedComponent>,
    /// Code that could not be fetched or loaded, and why (tried again after `RETRY`).
    bad_code: HashMap<String, (Instant, String)>,
    deployed: BTreeMap<String, Arc<Deployed>>,
    running: BTreeMap<ComponentId, Running>,
    /// Units seen unplaced, since when.
    unplaced: HashMap<(String, String), Instant>,
    /// Units that failed to start here, when.
    failed: HashMap<(String, String), Instant>,
}

impl std::fmt::Debug for Agent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("host", &self.transport.host())
            .field("running", &self.running.len())
            .finish_non_exhaustive()
    }
}

impl<'h> Agent<'h> {
    /// An agent for `host`, which must be in a cluster.
    ///
    /// # Errors
    ///
    /// [`Error::PlacementWithoutCluster`] if the host is in no cluster; [`Error::Cluster`] if the cluster's
    /// applications bucket or code store cannot be opened.
    pub async fn new(host: &'h Host) -> Result<Self> {
        let transport = host
            .cluster()
            .cloned()
            .ok_or(Error::PlacementWithoutCluster)?;
        let apps = transport.apps().await?;
        let code = transport.code().await?;
        Ok(Self {
            host,
            transport,
            apps,
            code,
            loaded: HashMap::new(),
            bad_code: HashMap::new(),
            deployed: BTreeMap::new(),
            running: BTreeMap::new(),
            unplaced: HashMap::new(),
            failed: HashMap::new(),
        })
    }

    /// Runs until `stop` completes.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            self.tick().await;
            tokio::select! {
                () = &mut stop => return,
                () = self.transport.changed() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// One pass: read the applications, then stop, upgrade and start what differs.
    pub async fn tick(&mut self) {
        self.read_apps().await;
        let here: BTreeSet<ComponentId> = self.host.components().into_iter().collect();
        self.running.retain(|id, _| here.contains(id));
        self.stop_undeployed().await;
        self.upgrade_changed().await;
        self.place().await;
    }

    async fn read_apps(&mut self) {
        let entries = match tokio::time::timeout(READ_TIMEOUT, self.apps.list()).await {
            Ok(Ok(entries)) => entries,
            Ok(Err(e)) => {
                tracing::warn!(error = %wasm_core::with_causes(&e), "cannot read the deployed applications");
                return;
            }
            Err(_) => {
                tracing::warn!(timeout = ?READ_TIMEOUT, "the deployed applications were not read in time");
                return;
            }
        };
        let names: BTreeSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        self.deployed
            .retain(|name, _| names.contains(name.as_str()));
        for entry in &entries {
            if self
                .deployed
                .get(&entry.name)
                .is_some_and(|d| d.revision == entry.revision)
            {
                continue;
            }
            let parsed = AppRecord::decode(&entry.name, &entry.record)
                .and_then(|record| Deployed::from_record(&record, entry.revision));
            match parsed {
                Ok(deployed) => {
                    tracing::info!(app = %entry.name, revision = entry.revision, components = deployed.code.len(), "deployed application read");
                    self.deployed.insert(entry.name.clone(), Arc::new(deployed));
                }
                Err(e) => {
                    tracing::warn!(app = %entry.name, error = %e, "a deployed application cannot be run");
                    self.deployed.remove(&entry.name);
                }
            }
        }
        // Code is fetched ahead, so that a failover starts without waiting for it.
        let digests: BTreeSet<String> = self
            .deployed
            .values()
            .flat_map(|d| d.code.values().cloned())
            .collect();
        self.loaded.retain(|digest, _| digests.contains(digest));
        for digest in digests {
            let _ = self.load(&digest).await;
        }
    }

    /// The compiled code of `digest`: fetched, checked against the digest, and compiled
    /// (through the host's compile cache) once.
    async fn load(&mut self, digest: &str) -> std::result::Result<LoadedComponent, String> {
        if let Some(loaded) = self.loaded.get(digest) {
            return Ok(loaded.clone());
        }
        if let Some((at, why)) = self.bad_code.get(digest)
            && at.elapsed() < RETRY
        {
            return Err(why.clone());
        }
        let fetched = tokio::time::timeout(READ_TIMEOUT, self.code.get(digest))
            .await
            .unwrap_or_else(|_| {
                Err(wasm_cluster::Error::Code {
                    digest: digest.to_owned(),
                    cluster: self.transport.config().name.clone(),
                    detail: format!("not fetched within {READ_TIMEOUT:?}"),
                })
            });
        let loaded = match fetched {
            Ok(bytes) => self.host.load_component_bytes(digest, &bytes).map_err(|e| {
                format!(
                    "code {digest} does not load: {}",
                    wasm_core::with_causes(&e)
                )
            }),
            Err(e) => Err(e.to_string()),
        };
        match loaded {
            Ok(loaded) => {
                self.bad_code.remove(digest);
                self.loaded.insert(digest.to_owned(), loaded.clone());
                Ok(loaded)
            }
            Err(why) => {
                if !self.bad_code.contains_key(digest) {
                    tracing::error!(%digest, error = %why, "deployed code refused");
                }
                self.bad_code
                    .insert(digest.to_owned(), (Instant::now(), why.clone()));
                Err(why)
            }
        }
    }

    fn wanted(&self, app: &str, id: &ComponentId) -> Option<(Arc<Deployed>, String)> {
        let deployed = self.deployed.get(app)?;
        let digest = deployed.code.get(id)?.clone();
        Some((deployed.clone(), digest))
    }

    async fn stop_undeployed(&mut self) {
        let gone: Vec<ComponentId> = self
            .running
            .iter()
            .filter(|(id, r)| self.wanted(&r.app, id).is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            tracing::info!(component = %id, "undeployed: stopping");
            if let Err(e) = self.host.stop_component(&id).await {
                tracing::warn!(component = %id, error = %e, "an undeployed component did not stop");
            }
            self.running.remove(&id);
        }
    }

    async fn upgrade_changed(&mut self) {
        let changed: Vec<(ComponentId, Arc<Deployed>, String)> = self
            .running
            .iter()
            .filter_map(|(id, r)| {
                let (deployed, digest) = self.wanted(&r.app, id)?;
                (digest != r.digest).then(|| (id.clone(), deployed, digest))
            })
            .collect();
        for (id, deployed, digest) in changed {
            let Some(entry) = deployed.manifest.component(&id) else {
                continue;
            };
            let code = match self.load(&digest).await {
                Ok(code) => code,
                Err(why) => {
                    tracing::warn!(component = %id, error = %why, "not upgraded: its new code is refused");
                    continue;
                }
            };
            let spec = deployed
                .manifest
                .component_spec(entry, code, self.host.default_limits());
            match self.host.upgrade_spec(spec).await {
                Ok(upgrade) => {
                    tracing::info!(component = %id, %digest, ?upgrade, "upgraded to the deployed code");
                    if let Some(running) = self.running.get_mut(&id) {
                        running.digest = digest;
                    }
                }
                Err(e) => {
                    tracing::warn!(component = %id, error = %wasm_core::with_causes(&e), "the deployed upgrade failed; the old code runs on");
                    // Not tried again until the code changes once more.
                    if let Some(running) = self.running.get_mut(&id) {
                        running.digest = digest;
                    }
                }
            }
        }
    }

    async fn place(&mut self) {
        let view = self.transport.view();
        let me = self.transport.host().to_owned();
        let units: Vec<Unit> = self
            .deployed
            .values()
            .flat_map(|d| d.units.iter().cloned())
            .collect();
        let pending: Vec<&Unit> = units
            .iter()
            .filter(|u| !placement::is_placed(u, &view))
            .filter(|u| !u.members.iter().any(|id| self.running.contains_key(id)))
            .collect();
        let keys: BTreeSet<(String, String)> = pending
            .iter()
            .map(|u| (u.app.clone(), u.name.clone()))
            .collect();
        self.unplaced.retain(|key, _| keys.contains(key));
        let now = Instant::now();
        for key in &keys {
            self.unplaced.entry(key.clone()).or_insert(now);
        }
        let plan = placement::plan(&pending, &view);
        let mut mine: Vec<&Unit> = plan
            .iter()
            .filter(|(_, host)| *host == me)
            .map(|(unit, _)| *unit)
            .collect();
        // What the plan gave another host, which has not started it for a while.
        for unit in &pending {
            if mine.contains(unit) {
                continue;
            }
            let rank = placement::eligible(unit, &view)
                .iter()
                .position(|h| h.name == me);
            let since = self.unplaced.get(&(unit.app.clone(), unit.name.clone()));
            if let (Some(rank), Some(since)) = (rank, since) {
                let wait = STALL + STALL / 2 * u32::try_from(rank).unwrap_or(u32::MAX);
                if since.elapsed() >= wait {
                    mine.push(unit);
                }
            }
        }
        for unit in mine {
            let key = (unit.app.clone(), unit.name.clone());
            if self.failed.get(&key).is_some_and(|at| at.elapsed() < RETRY) {
                continue;
            }
            if let Err(why) = self.start(unit, &view).await {
                tracing::warn!(app = %unit.app, unit = %unit.name, error = %why, "a placed unit did not start here");
                self.failed.insert(key, Instant::now());
            } else {
                self.failed.remove(&key);
            }
        }
    }

    async fn start(&mut self, unit: &Unit, view: &ClusterView) -> std::result::Result<(), String> {
        let Some(deployed) = self.deployed.get(&unit.app).cloned() else {
            return Ok(());
        };
        if unit.members.iter().any(|id| view.owners.contains_key(id)) {
            return Ok(());
        }
        let mut members = Vec::with_capacity(unit.members.len());
        let mut digests = Vec::with_capacity(unit.members.len());
        for id in &unit.members {
            let (Some(entry), Some(digest)) =
                (deployed.manifest.component(id), deployed.code.get(id))
            else {
                return Err(format!("{id} is not in application `{}`", unit.app));
            };
            let code = self.load(digest).await?;
            members.push(
                deployed
                    .manifest
                    .component_spec(entry, code, self.host.default_limits()),
            );
            digests.push(digest.clone());
        }
        let mut group = GroupSpec::new(format!("{}:{}", unit.app, unit.name));
        if unit.group
            && let Some(entry) = deployed.manifest.group(&unit.name)
        {
            group = group
                .with_strategy(entry.strategy)
                .with_intensity(entry.intensity);
        }
        group.members = members;
        self.host
            .start_group(group)
            .await
            .map_err(|e| wasm_core::with_causes(&e).to_string())?;
        tracing::info!(app = %unit.app, unit = %unit.name, members = unit.members.len(), "started here");
        for (id, digest) in unit.members.iter().zip(digests) {
            self.running.insert(
                id.clone(),
                Running {
                    app: unit.app.clone(),
                    digest,
                },
            );
        }
        Ok(())
    }
}
