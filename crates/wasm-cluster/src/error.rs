//! The error type of the cluster layer.

/// Everything that can go wrong joining or talking to a cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cluster settings are not usable.
    #[error("cluster config: {0}")]
    Config(String),
    /// The NATS server could not be reached or refused the connection.
    #[error("cannot connect to the NATS server at {url} as host `{host}`")]
    Connect {
        /// The server URL(s).
        url: String,
        /// This host's name.
        host: String,
        /// Why.
        #[source]
        source: async_nats::ConnectError,
    },
    /// A credentials or nkey file could not be read.
    #[error("cannot read the NATS credentials file {path}")]
    Credentials {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Subscribing to one of the cluster's subjects failed.
    #[error("cannot subscribe to {subject} on the NATS server at {url}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// The server URL(s).
        url: String,
        /// Why.
        #[source]
        source: async_nats::SubscribeError,
    },
    /// A JetStream operation the cluster rests on failed (opening its buckets, claiming this
    /// host's name, reading the directory).
    #[error("{what} (NATS at {url})")]
    JetStream {
        /// What was being done, naming the bucket or key.
        what: String,
        /// The server URL(s).
        url: String,
        /// Why.
        #[source]
        source: async_nats::Error,
    },
    /// A component's storage is held by a newer owner than the one taking it.
    #[error(
        "the storage of {component} is held by epoch {holder}, newer than epoch {epoch} taking it"
    )]
    Fenced {
        /// The component.
        component: String,
        /// The epoch that tried to take it.
        epoch: u64,
        /// The epoch that holds it.
        holder: u64,
    },
    /// A component's code in the cluster's code store is missing, or is not what its digest
    /// says.
    #[error("code {digest} in cluster `{cluster}`: {detail}")]
    Code {
        /// The SHA-256 digest it was asked by (`sha256:<hex>`).
        digest: String,
        /// The cluster.
        cluster: String,
        /// What is wrong.
        detail: String,
    },
    /// An application that is not deployed was named.
    #[error("no application `{app}` is deployed in cluster `{cluster}` (deployed: {deployed})")]
    UnknownApp {
        /// The name given.
        app: String,
        /// The cluster.
        cluster: String,
        /// The applications that are deployed, or `none`.
        deployed: String,
    },
    /// Another live process holds this host's name in the cluster.
    #[error("host name `{host}` is taken in cluster `{cluster}`: {holder}")]
    HostNameTaken {
        /// The name.
        host: String,
        /// The cluster.
        cluster: String,
        /// Who holds it: its incarnation, process id, machine and start time.
        holder: String,
    },
}

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
