//! The error type of the facade.

use std::fmt;
use std::path::PathBuf;

use wasm_runtime::BoxError;

/// What is wrong with a manifest entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestErrorKind {
    /// The text is not valid TOML.
    Syntax,
    /// A key the format does not know.
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong type.
    Type,
    /// A value outside the allowed set or range (an unknown enum name, a zero size).
    InvalidValue,
    /// A malformed component id.
    InvalidId,
    /// A target pattern that is malformed or cannot match any component id.
    InvalidPattern,
    /// Two components with the same id, or two groups with the same name.
    Duplicate,
    /// A group names a component the manifest does not define.
    UnknownComponent,
    /// A component is a member of two groups.
    InTwoGroups,
    /// The `.wasm` file (or a preopened directory) does not exist.
    MissingFile,
    /// The file exists but is not a usable component.
    InvalidComponent,
    /// The file's SHA-256 is not the one the manifest pins (`sha256`).
    DigestMismatch,
}

impl ManifestErrorKind {
    /// A short name of the kind (`syntax`, `unknown-key`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Syntax => "syntax",
            Self::UnknownKey => "unknown-key",
            Self::MissingKey => "missing-key",
            Self::Type => "type",
            Self::InvalidValue => "invalid-value",
            Self::InvalidId => "invalid-id",
            Self::InvalidPattern => "invalid-pattern",
            Self::Duplicate => "duplicate",
            Self::UnknownComponent => "unknown-component",
            Self::InTwoGroups => "in-two-groups",
            Self::DigestMismatch => "digest-mismatch",
            Self::MissingFile => "missing-file",
            Self::InvalidComponent => "invalid-component",
        }
    }
}

impl fmt::Display for ManifestErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in the facade.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest is invalid. `line` and `column` count from 1.
    #[error("{}:{line}:{column}: `{key}`: {message}", file.display())]
    Manifest {
        /// The manifest file (or the label given to [`crate::Manifest::parse`]).
        file: PathBuf,
        /// The line of the offending key or value.
        line: usize,
        /// The column of the offending key or value.
        column: usize,
        /// The offending key, as a dotted path (`components.limits.max_fuel`).
        key: String,
        /// What is wrong, in short.
        kind: ManifestErrorKind,
        /// What is wrong, naming the offending value.
        message: String,
        /// The underlying error, if any (a load failure of the component).
        #[source]
        source: Option<BoxError>,
    },
    /// A manifest file could not be read.
    #[error("cannot read manifest {}", path.display())]
    ReadManifest {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The storage database could not be opened, read or written.
    #[error("storage {}: {detail}", path.display())]
    Storage {
        /// The database file.
        path: PathBuf,
        /// What failed.
        detail: String,
        /// The database error.
        #[source]
        source: Option<BoxError>,
    },
    /// The wasm runtime failed (engine settings, loading a component).
    #[error(transparent)]
    Runtime(#[from] wasm_runtime::Error),
    /// The actor layer failed (starting a component, delivering a message, a request).
    #[error(transparent)]
    Actor(#[from] wasm_actor::Error),
    /// Joining the cluster failed (settings, the NATS server, credentials).
    #[error(transparent)]
    Cluster(#[from] wasm_cluster::Error),
    /// The default limits cannot be applied on the engine the builder makes; every start
    /// would fail.
    #[error("the default limits do not fit the engine: {detail}")]
    Limits {
        /// Which limit and why, naming both values.
        detail: String,
    },
    /// The admin endpoint cannot be served.
    #[error("admin endpoint {addr}: {reason}")]
    Admin {
        /// The address it was to listen on.
        addr: std::net::SocketAddr,
        /// Why it cannot.
        reason: String,
    },
    /// A builder with a cluster was built with `build`, which cannot wait for the NATS
    /// server.
    #[error(
        "host `{host}` is in cluster `{cluster}`: build it with HostBuilder::connect, which joins the NATS server"
    )]
    NeedsConnect {
        /// This host's name.
        host: String,
        /// The cluster's name.
        cluster: String,
    },
    /// HTTP ingress cannot be served.
    #[error("HTTP ingress on {addr}: {reason}")]
    Http {
        /// The address it was to listen on.
        addr: std::net::SocketAddr,
        /// Why it cannot, naming the route.
        reason: String,
    },
    /// An application cannot be deployed, or a host cannot run what was deployed.
    #[error("application `{app}`: {detail}")]
    Deploy {
        /// The application.
        app: String,
        /// What is wrong, naming the component, file or key.
        detail: String,
    },
    /// Deployed applications were asked of a host that joins no cluster.
    #[error(
        "a host runs deployed applications only in a cluster: build it with HostBuilder::cluster (or start it with `airssys-wasm host --cluster URL`)"
    )]
    PlacementWithoutCluster,
    /// Cluster storage was chosen for a host that joins no cluster.
    #[error(
        "cluster storage needs a cluster: set one (`[cluster]` in the manifest, `HostBuilder::cluster`) or choose a file or memory storage"
    )]
    ClusterStorageWithoutCluster,
}

impl Error {
    /// Why a message or request from the host was not delivered (queue full, target not
    /// found, ...), if that is what failed; no walking of `source()` needed.
    pub fn messaging(&self) -> Option<&wasm_core::MessagingError> {
        match self {
            Self::Actor(e) => e.messaging(),
            _ => None,
        }
    }

    /// Whether the target's mailbox was full and nothing was queued: the one delivery
    /// failure worth retrying (see [`crate::Host::send_timeout`], which waits for room).
    pub fn is_queue_full(&self) -> bool {
        matches!(self.messaging(), Some(wasm_core::MessagingError::QueueFull))
    }

    /// The error callback that answered a request from the host (timeout, error reply,
    /// target failed or stopped), if that is what failed.
    pub fn error_callback(&self) -> Option<&wasm_core::ErrorCallback> {
        match self {
            Self::Actor(e) => e.error_callback(),
            _ => None,
        }
    }
}

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
