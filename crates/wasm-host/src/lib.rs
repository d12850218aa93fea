//! The airssys-wasm facade: everything an embedder needs, behind one crate.
//!
//! A [`Host`] runs WebAssembly components as isolated, supervised actors that talk only by
//! messages. Build it with [`HostBuilder`] (engine settings, storage location, defaults for
//! limits and mailboxes), start components from a TOML [`Manifest`] or from code, message them
//! with [`Host::send`] and [`Host::request`], watch [`Host::events`], and stop with
//! [`Host::shutdown`].
//!
//! This crate owns the facade, the manifest format (documented in `docs/manifest.md`) and the
//! storage backends ([`RedbStorage`] persistent, [`MemoryStorage`] for tests). The layers
//! underneath (`wasm-core`, `wasm-security`, `wasm-runtime`, `wasm-actor`) stay hidden: the
//! types an embedder needs are re-exported here, and no public item names wasmtime or ractor.
//!
//! # Examples
//!
//! ```
//! use wasm_host::{Host, Manifest};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/out");
//! let manifest = Manifest::parse(
//!     r#"
//!     [host]
//!     storage = ":memory:"
//!     mailbox = 64
//!
//!     [[components]]
//!     id = "demo/echo/1"
//!     path = "echo.wasm"
//!     "#,
//!     format!("{dir}/system.toml"),
//! )?;
//! let host = Host::builder().manifest_defaults(&manifest).build()?;
//! host.load(&manifest).await?;
//! let reply = host.request(&"demo/echo/1".parse()?, "ping").await?;
//! assert_eq!(reply, b"ping");
//! host.shutdown().await?;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod admin;
mod builder;
pub mod deploy;
mod error;
mod host;
pub mod ingress;
mod manifest;
mod serving;
mod state;
mod storage;

pub use admin::{AdminConfig, DEFAULT_MAX_BODY};
pub use builder::HostBuilder;
pub use error::{Error, ManifestErrorKind, Result};
pub use host::{Events, Host};
pub use manifest::{
    ComponentEntry, GroupEntry, HostSection, HttpSection, LimitOverrides, MEMORY_STORAGE, Manifest,
    Position, RouteEntry, StorageLocation,
};
pub use storage::{CommitStats, MemoryStorage, RedbOptions, RedbStorage};
pub use wasm_cluster::{Auth as ClusterAuth, ClusterConfig, ClusterStats};

/// The errors the facade's [`Error`] wraps, for matching on their variants.
pub use wasm_actor::Error as ActorError;
pub use wasm_cluster::Error as ClusterError;
pub use wasm_runtime::Error as RuntimeError;

pub use wasm_actor::{
    ComponentSpec, ComponentState, ComponentStats, ComponentStatus, DURATION_BUCKETS_NANOS,
    ERROR_KINDS, GroupSpec, Intensity, Placement, RestartPolicy, SpanLink, Strategy, SystemEvent,
    SystemStats, Upgrade,
};
pub use wasm_core::storage::{MAX_KEY_BYTES, validate_key};
/// An error's text with every cause in its `source()` chain, joined by `: `.
pub use wasm_core::with_causes;
pub use wasm_core::{
    CommitFuture, ComponentId, ComponentInfo, ComponentMetadata, ErrorCallback, ExecutionStatus,
    HealthStatus, MessagingError, ResourceLimits, StorageBackend, StorageError, StorageQuota,
    StorageTxn, StorageUsage, TraceContext, WriteSet,
};
pub use wasm_runtime::{
    CacheStats, ComponentShape, EngineConfig, LIFECYCLE_EXPORT, LoadedComponent, LoadedHandler,
    PoolingConfig, WasmEngine,
};
pub use wasm_security::{
    AuditEvent, Capability, Decision, FilesystemGrant, FsAccess, Grants, HttpOrigin,
    MemoryAuditLog, MessagingAction, MessagingGrant, NetworkGrant, StorageGrant, StorageOp,
};
