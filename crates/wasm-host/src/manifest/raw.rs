//! The manifest as written: serde types that mirror the TOML, with spans on every value that
//! is validated after parsing.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawManifest {
    #[serde(default)]
    pub(crate) host: RawHost,
    #[serde(default)]
    pub(crate) components: Vec<Spanned<RawComponent>>,
    #[serde(default)]
    pub(crate) groups: Vec<Spanned<RawGroup>>,
    pub(crate) cluster: Option<super::cluster::RawCluster>,
    /// `[[handlers]]`: HTTP handler components (same keys as `[[components]]`).
    #[serde(default)]
    pub(crate) handlers: Vec<Spanned<RawComponent>>,
    /// `[[http]]`: routes of HTTP ingress.
    #[serde(default)]
    pub(crate) http: Vec<Spanned<RawRoute>>,
}

/// `[[http]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub(crate) route: Spanned<String>,
    pub(crate) component: Spanned<String>,
}

/// `[host]`: defaults for the whole system.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHost {
    pub(crate) storage: Option<Spanned<String>>,
    pub(crate) mailbox: Option<Spanned<u64>>,
    pub(crate) health_interval_ms: Option<Spanned<u64>>,
    pub(crate) shutdown_deadline_ms: Option<Spanned<u64>>,
    pub(crate) request_timeout_ms: Option<Spanned<u64>>,
    pub(crate) admin: Option<Spanned<String>>,
    pub(crate) http: Option<Spanned<String>>,
    pub(crate) http_max_body: Option<Spanned<u64>>,
    pub(crate) http_concurrency: Option<Spanned<u64>>,
    pub(crate) shards: Option<Spanned<u64>>,
    pub(crate) limits: Option<RawLimits>,
}

/// `limits`: every key optional, overriding the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub(crate) max_memory_bytes: Option<Spanned<u64>>,
    pub(crate) max_execution_time_ms: Option<Spanned<u64>>,
    pub(crate) max_wall_time_ms: Option<Spanned<u64>>,
    pub(crate) max_fuel: Option<Spanned<u64>>,
}

/// `[[components]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawComponent {
    pub(crate) id: Spanned<String>,
    pub(crate) path: Spanned<String>,
    pub(crate) config: Option<String>,
    #[serde(default)]
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) mailbox: Option<Spanned<u64>>,
    pub(crate) restart: Option<RawRestart>,
    pub(crate) neighbour: Option<Spanned<String>>,
    /// Labels a host must have to run it when deployed (`["zone=a"]`).
    #[serde(default)]
    pub(crate) hosts: Vec<Spanned<String>>,
    /// The SHA-256 its file must have (`sha256:<hex>`), checked by `deploy` and `validate`.
    pub(crate) sha256: Option<Spanned<String>>,
    pub(crate) limits: Option<RawLimits>,
    #[serde(default)]
    pub(crate) capabilities: RawCapabilities,
}

/// `restart = "permanent" | "transient" | "temporary"`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawRestart {
    Permanent,
    Transient,
    Temporary,
}

/// `[components.capabilities]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCapabilities {
    pub(crate) messaging: Option<RawMessaging>,
    pub(crate) storage: Option<RawStorage>,
    #[serde(default)]
    pub(crate) filesystem: Vec<RawPreopen>,
    pub(crate) network: Option<RawNetwork>,
    pub(crate) http: Option<RawHttp>,
    /// Target patterns of the components it may see (`list-components`, metadata).
    #[serde(default)]
    pub(crate) discover: Vec<Spanned<String>>,
}

/// `[components.capabilities.messaging]`: target patterns per action.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMessaging {
    #[serde(default)]
    pub(crate) send: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) request: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) broadcast: Vec<Spanned<String>>,
}

/// `[components.capabilities.storage]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStorage {
    #[serde(default)]
    pub(crate) read: bool,
    #[serde(default)]
    pub(crate) write: bool,
    #[serde(default)]
    pub(crate) delete: bool,
    pub(crate) quota_bytes: Option<Spanned<u64>>,
    pub(crate) quota_keys: Option<Spanned<u64>>,
}

/// `[[components.capabilities.filesystem]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPreopen {
    pub(crate) host: Spanned<String>,
    pub(crate) guest: Spanned<String>,
    #[serde(default)]
    pub(crate) mode: RawFsMode,
}

/// `mode = "read" | "read-write"`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawFsMode {
    #[default]
    Read,
    ReadWrite,
}

/// `[components.capabilities.network]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    #[serde(default)]
    pub(crate) hosts: Vec<Spanned<String>>,
}

/// `[components.capabilities.http]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    /// Origins it may send `wasi:http` requests to.
    #[serde(default)]
    pub(crate) outbound: Vec<Spanned<String>>,
}

/// `[[groups]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGroup {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    pub(crate) strategy: RawStrategy,
    pub(crate) members: Spanned<Vec<Spanned<String>>>,
    pub(crate) intensity: Option<RawIntensity>,
    /// Labels a host must have to run the group when deployed.
    #[serde(default)]
    pub(crate) hosts: Vec<Spanned<String>>,
}

/// `strategy = "one-for-one" | "one-for-all" | "rest-for-one"`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawStrategy {
    #[default]
    OneForOne,
    OneForAll,
    RestForOne,
}

/// `[groups.intensity]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIntensity {
    pub(crate) max_restarts: Option<u32>,
    pub(crate) window_ms: Option<Spanned<u64>>,
    pub(crate) backoff_base_ms: Option<u64>,
    pub(crate) backoff_max_ms: Option<u64>,
}
