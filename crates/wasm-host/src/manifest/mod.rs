//! The TOML manifest that describes a system: parsing (with positions in every error), the
//! validated model, and the check that every component file loads.
//!
//! The format is documented in `docs/manifest.md`.

mod build;
mod check;
mod cluster;
mod entry;
mod raw;
mod source;

use std::path::{Path, PathBuf};
use std::time::Duration;

use wasm_actor::{ComponentSpec, GroupSpec, Intensity, RestartPolicy, Strategy};
use wasm_cluster::ClusterConfig;
use wasm_core::{ComponentId, ResourceLimits};
use wasm_runtime::{LoadedComponent, WasmEngine};
use wasm_security::Grants;

use crate::error::{Error, ManifestErrorKind, Result};
pub use source::Position;
use source::{Source, manifest_error};

/// The `storage` value that keeps storage in memory.
pub const MEMORY_STORAGE: &str = ":memory:";

/// The `storage` value that keeps storage in the cluster (a file of that name is `./cluster`).
pub const CLUSTER_STORAGE: &str = "cluster";

/// Where the host keeps component storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocation {
    /// In memory: nothing survives the process.
    Memory,
    /// A redb database file.
    File(PathBuf),
    /// In the cluster's JetStream storage bucket: a component started on another host finds
    /// every write whose reply was delivered (needs a `[cluster]` section).
    Cluster,
}

/// Limits that override defaults key by key; `None` keeps the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitOverrides {
    /// Overrides [`ResourceLimits::max_memory_bytes`].
    pub max_memory_bytes: Option<u64>,
    /// Overrides [`ResourceLimits::max_execution_time_ms`].
    pub max_execution_time_ms: Option<u64>,
    /// Overrides [`ResourceLimits::max_wall_time_ms`].
    pub max_wall_time_ms: Option<u64>,
    /// Overrides [`ResourceLimits::max_fuel`].
    pub max_fuel: Option<u64>,
}

impl LimitOverrides {
    /// `base` with these overrides applied.
    pub fn apply(&self, base: ResourceLimits) -> ResourceLimits {
        ResourceLimits {
            max_memory_bytes: self.max_memory_bytes.unwrap_or(base.max_memory_bytes),
            max_execution_time_ms: self
                .max_execution_time_ms
                .unwrap_or(base.max_execution_time_ms),
            max_wall_time_ms: self.max_wall_time_ms.unwrap_or(base.max_wall_time_ms),
            max_fuel: self.max_fuel.or(base.max_fuel),
        }
    }

    /// These overrides, then `other`'s where these set none.
    pub fn or(&self, other: &LimitOverrides) -> LimitOverrides {
        LimitOverrides {
            max_memory_bytes: self.max_memory_bytes.or(other.max_memory_bytes),
            max_execution_time_ms: self.max_execution_time_ms.or(other.max_execution_time_ms),
            max_wall_time_ms: self.max_wall_time_ms.or(other.max_wall_time_ms),
            max_fuel: self.max_fuel.or(other.max_fuel),
        }
    }
}

/// The `[host]` section: system-wide settings and defaults. Every field is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostSection {
    /// Where storage lives (`storage`), resolved against the manifest's directory.
    pub storage: Option<StorageLocation>,
    /// Default mailbox capacity (`mailbox`).
    pub mailbox: Option<usize>,
    /// How often components' `health` is polled (`health_interval_ms`).
    pub health_interval: Option<Duration>,
    /// How long a component's `shutdown` may take (`shutdown_deadline_ms`).
    pub shutdown_deadline: Option<Duration>,
    /// Default timeout of requests the host makes (`request_timeout_ms`).
    pub request_timeout: Option<Duration>,
    /// Default limits (`[host.limits]`).
    pub limits: LimitOverrides,
    /// Where the admin endpoint listens (`admin = "127.0.0.1:9100"`).
    pub admin: Option<std::net::SocketAddr>,
    /// How many shards the components are placed on (`shards`); `None` for one per core.
    pub shards: Option<usize>,
    /// Where HTTP ingress listens (`http = "127.0.0.1:8080"`).
    pub http: Option<std::net::SocketAddr>,
    /// The largest HTTP request body (`http_max_body`).
    pub http_max_body: Option<usize>,
    /// HTTP requests in flight per route (`http_concurrency`).
    pub http_concurrency: Option<usize>,
}

/// `[[handlers]]` and `[[http]]`: HTTP handler components and the routes of HTTP ingress.
#[derive(Debug, Clone, Default)]
pub struct HttpSection {
    /// Handler components (they export `wasi:http/incoming-handler`), in the order written.
    pub handlers: Vec<ComponentEntry>,
    /// The routes, in the order written.
    pub routes: Vec<RouteEntry>,
}

/// One `[[http]]` route.
#[derive(Debug, Clone)]
pub struct RouteEntry {
    /// The route, in Spin's syntax.
    pub route: String,
    /// The handler or actor it leads to.
    pub component: ComponentId,
    /// Where it is written.
    pub at: Position,
}

/// One `[[components]]` entry, validated.
#[derive(Debug, Clone)]
pub struct ComponentEntry {
    /// Its id.
    pub id: ComponentId,
    /// The `.wasm` file, resolved against the manifest's directory.
    pub path: PathBuf,
    /// What it may do (`[components.capabilities]` and `env`).
    pub grants: Grants,
    /// Its limits over the host defaults (`[components.limits]`).
    pub limits: LimitOverrides,
    /// The `config-data` passed to `initialize` (`config`).
    pub config_data: Option<Vec<u8>>,
    /// Its mailbox capacity (`mailbox`); `None` for the host default.
    pub mailbox: Option<usize>,
    /// When it is restarted (`restart`).
    pub restart: RestartPolicy,
    /// The component it talks to most (`neighbour`): placed on the same shard if that one
    /// has started first.
    pub neighbour: Option<ComponentId>,
    /// Labels a host must have to run it when the manifest is deployed to a cluster
    /// (`hosts = ["zone=a"]`, each `key=value`).
    pub hosts: Vec<String>,
    /// The digest its file must have (`sha256 = "sha256:<hex>"`), if the manifest pins it.
    pub sha256: Option<String>,
    /// Where its `path` value is written, for errors found when the file is checked.
    pub path_at: Position,
    /// Where its `id` value is written.
    pub at: Position,
}

/// One `[[groups]]` entry, validated.
#[derive(Debug, Clone)]
pub struct GroupEntry {
    /// Its name.
    pub name: String,
    /// Which members restart when one fails.
    pub strategy: Strategy,
    /// Restart limits and backoff.
    pub intensity: Intensity,
    /// The members, in start order; each is a component of the manifest.
    pub members: Vec<ComponentId>,
    /// Labels a host must have to run the group when deployed (over its members' own).
    pub hosts: Vec<String>,
}

/// A parsed and validated manifest.
///
/// Parsing checks everything that can be checked from the text (keys, types, ids, patterns,
/// groups); [`Manifest::check`] then loads every component file. Every error is an
/// [`Error::Manifest`] naming the file, line, column and key.
///
/// # Examples
///
/// ```
/// use wasm_host::{Error, Manifest};
///
/// let text = r#"
/// [[components]]
/// id = "demo/echo/1"
/// path = "echo.wasm"
/// "#;
/// let manifest = Manifest::parse(text, "demo.toml")?;
/// assert_eq!(manifest.components()[0].id.to_string(), "demo/echo/1");
///
/// let err = Manifest::parse("[[components]]\nid = \"demo/echo\"\npath = \"e.wasm\"\n", "bad.toml")
///     .unwrap_err();
/// assert!(matches!(err, Error::Manifest { line: 2, column: 6, .. }));
/// assert!(err.to_string().starts_with("bad.toml:2:6: `components[0].id`"));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Manifest {
    file: PathBuf,
    dir: PathBuf,
    host: HostSection,
    cluster: Option<ClusterConfig>,
    components: Vec<ComponentEntry>,
    groups: Vec<GroupEntry>,
    http: HttpSection,
}

impl Manifest {
    /// Reads and parses a manifest file. Relative paths in it are resolved against its
    /// directory.
    ///
    /// # Errors
    ///
    /// [`Error::ReadManifest`] if the file cannot be read, and as [`Manifest::parse`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadManifest {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses manifest text. `file` names it in errors, and its directory is the base of
    /// relative paths. No component file is read.
    ///
    /// # Errors
    ///
    /// [`Error::Manifest`] for the first problem found: TOML syntax, an unknown key, a value
    /// of the wrong type or out of range, a malformed id, a pattern that cannot match, a
    /// duplicate id or group, a group naming an unknown component, a component in two groups.
    pub fn parse(text: &str, file: impl AsRef<Path>) -> Result<Self> {
        let file = file.as_ref();
        let dir = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let source = Source { file, text };
        let raw: raw::RawManifest = toml::from_str(text).map_err(|e| source.toml_error(&e))?;
        let (host, cluster, components, groups, http) = build::build(&source, &dir, raw)?;
        Ok(Self {
            file: file.to_owned(),
            dir,
            host,
            cluster,
            components,
            groups,
            http,
        })
    }

    /// The file the manifest was read from (or the label given to [`Manifest::parse`]).
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The directory relative paths are resolved against.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `[host]` section.
    pub fn host(&self) -> &HostSection {
        &self.host
    }

    /// The `[cluster]` section: this host joins that cluster when it starts.
    pub fn cluster(&self) -> Option<&ClusterConfig> {
        self.cluster.as_ref()
    }

    /// The components, in the order written.
    pub fn components(&self) -> &[ComponentEntry] {
        &self.components
    }

    /// The supervision groups, in the order written.
    pub fn groups(&self) -> &[GroupEntry] {
        &self.groups
    }

    /// The HTTP handler components and routes.
    pub fn http(&self) -> &HttpSection {
        &self.http
    }

    /// Loads every `[[handlers]]` file as a handler component on `engine`, in order.
    ///
    /// # Errors
    ///
    /// [`Error::Manifest`] of kind [`ManifestErrorKind::MissingFile`] or
    /// [`ManifestErrorKind::InvalidComponent`] at the offending `path`.
    pub fn check_handlers(&self, engine: &WasmEngine) -> Result<Vec<wasm_runtime::LoadedHandler>> {
        self.http
            .handlers
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let key = format!("handlers[{i}].path");
                if !entry.path.is_file() {
                    return Err(self.missing_file(entry, key, "handler"));
                }
                engine.load_handler_file(&entry.path).map_err(|e| {
                    manifest_error(
                        &self.file,
                        entry.path_at,
                        key,
                        ManifestErrorKind::InvalidComponent,
                        format!(
                            "{} cannot be loaded as an HTTP handler: {}",
                            entry.id,
                            wasm_core::with_causes(&e)
                        ),
                    )
                })
            })
            .collect()
    }

    /// The error of an entry whose file does not exist, at its `path` value.
    fn missing_file(&self, entry: &ComponentEntry, key: String, what: &str) -> Error {
        manifest_error(
            &self.file,
            entry.path_at,
            key,
            ManifestErrorKind::MissingFile,
            format!(
                "{what} file `{}` of {} not found",
                entry.path.display(),
                entry.id
            ),
        )
    }

    /// A component by id.
    pub fn component(&self, id: &ComponentId) -> Option<&ComponentEntry> {
        self.components.iter().find(|c| &c.id == id)
    }

    /// Whether some component sets a fuel limit (the engine must meter fuel then).
    pub fn uses_fuel(&self) -> bool {
        self.host.limits.max_fuel.is_some()
            || self.components.iter().any(|c| c.limits.max_fuel.is_some())
    }

    /// Checks what parsing could not: every `.wasm` file exists and loads as a component on
    /// `engine` (valid, exports the lifecycle, imports only what the host provides), and
    /// every preopened directory exists. Returns the loaded components, in the order of
    /// [`Manifest::components`].
    ///
    /// # Errors
    ///
    /// [`Error::Manifest`] of kind [`ManifestErrorKind::MissingFile`] or
    /// [`ManifestErrorKind::InvalidComponent`] at the offending `path` or `host` value.
    pub fn check(&self, engine: &WasmEngine) -> Result<Vec<LoadedComponent>> {
        let loader = engine.loader();
        let mut loaded = Vec::with_capacity(self.components.len());
        for (i, entry) in self.components.iter().enumerate() {
            let key = format!("components[{i}].path");
            if !entry.path.is_file() {
                return Err(self.missing_file(entry, key, "component"));
            }
            for (j, preopen) in entry.grants.filesystem.iter().enumerate() {
                if !preopen.host_path.is_dir() {
                    return Err(manifest_error(
                        &self.file,
                        entry.at,
                        format!("components[{i}].capabilities.filesystem[{j}].host"),
                        ManifestErrorKind::MissingFile,
                        format!(
                            "preopened directory `{}` of {} not found",
                            preopen.host_path.display(),
                            entry.id
                        ),
                    ));
                }
            }
            if let Some(pinned) = &entry.sha256 {
                let bytes = std::fs::read(&entry.path).map_err(|e| {
                    manifest_error(
                        &self.file,
                        entry.path_at,
                        key.clone(),
                        ManifestErrorKind::MissingFile,
                        format!(
                            "component file `{}` of {} cannot be read: {e}",
                            entry.path.display(),
                            entry.id
                        ),
                    )
                })?;
                let actual = wasm_cluster::deploy::digest(&bytes);
                if &actual != pinned {
                    return Err(manifest_error(
                        &self.file,
                        entry.path_at,
                        format!("components[{i}].sha256"),
                        ManifestErrorKind::DigestMismatch,
                        format!(
                            "component file `{}` of {} has digest {actual}, not the pinned {pinned}",
                            entry.path.display(),
                            entry.id
                        ),
                    ));
                }
            }
            let component = loader.load_file(&entry.path).map_err(|e| {
                let message = format!("{} cannot be loaded", entry.id);
                match manifest_error(
                    &self.file,
                    entry.path_at,
                    key,
                    ManifestErrorKind::InvalidComponent,
                    message,
                ) {
                    Error::Manifest {
                        file,
                        line,
                        column,
                        key,
                        kind,
                        message,
                        ..
                    } => Error::Manifest {
                        file,
                        line,
                        column,
                        key,
                        kind,
                        message,
                        source: Some(Box::new(e)),
                    },
                    other => other,
                }
            })?;
            loaded.push(component);
        }
        Ok(loaded)
    }

    /// Checks the manifest ([`Manifest::check`]) and builds the groups to start: the
    /// manifest's groups, then one single-member group per component in no group (named
    /// `component:<id>`). Limits are the component's overrides, then `[host.limits]`, then
    /// `base_limits`; the mailbox is the component's, then `[host] mailbox`.
    ///
    /// # Errors
    ///
    /// As [`Manifest::check`].
    pub fn specs(
        &self,
        engine: &WasmEngine,
        base_limits: ResourceLimits,
    ) -> Result<Vec<GroupSpec>> {
        let loaded = self.check(engine)?;
        Ok(self.specs_of(loaded, base_limits))
    }

    /// The spec of one of its components, running `component`: its grants, limits (its own,
    /// then `[host.limits]`, then `base_limits`), restart policy, config, mailbox and
    /// neighbour.
    pub fn component_spec(
        &self,
        entry: &ComponentEntry,
        component: LoadedComponent,
        base_limits: ResourceLimits,
    ) -> ComponentSpec {
        let mut spec = ComponentSpec::new(entry.id.clone(), component)
            .with_grants(entry.grants.clone())
            .with_limits(entry.limits.or(&self.host.limits).apply(base_limits))
            .with_restart(entry.restart);
        spec.config_data = entry.config_data.clone();
        spec.mailbox_capacity = entry.mailbox.or(self.host.mailbox);
        spec.neighbour = entry.neighbour.clone();
        spec
    }

    /// A group of the manifest by name.
    pub fn group(&self, name: &str) -> Option<&GroupEntry> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The groups to start, as [`Manifest::specs`], with each component's code given
    /// (`loaded`, in the order of [`Manifest::components`]) instead of read from its file.
    pub fn specs_of(
        &self,
        loaded: Vec<LoadedComponent>,
        base_limits: ResourceLimits,
    ) -> Vec<GroupSpec> {
        let mut specs: Vec<Option<ComponentSpec>> = self
            .components
            .iter()
            .zip(loaded)
            .map(|(entry, component)| Some(self.component_spec(entry, component, base_limits)))
            .collect();
        let mut take = |id: &ComponentId| {
            self.components
                .iter()
                .position(|c| &c.id == id)
                .and_then(|i| specs.get_mut(i))
                .and_then(Option::take)
        };
        let mut groups = Vec::new();
        for group in &self.groups {
            let mut spec = GroupSpec::new(group.name.clone())
                .with_strategy(group.strategy)
                .with_intensity(group.intensity);
            spec.members = group.members.iter().filter_map(&mut take).collect();
            groups.push(spec);
        }
        for entry in &self.components {
            if let Some(member) = take(&entry.id) {
                groups.push(GroupSpec::new(format!("component:{}", entry.id)).with_member(member));
            }
        }
        groups
    }
}
