//! Declarative grants: what a manifest or an embedder says a component may do.

use std::path::PathBuf;

use wasm_core::StorageQuota;

/// A messaging action a grant can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessagingAction {
    /// `host-messaging.send`.
    Send,
    /// `host-messaging.request`.
    Request,
    /// `host-messaging.broadcast`.
    Broadcast,
}

impl MessagingAction {
    /// Every messaging action.
    pub const ALL: [MessagingAction; 3] = [Self::Send, Self::Request, Self::Broadcast];

    pub(crate) fn index(self) -> usize {
        match self {
            Self::Send => 0,
            Self::Request => 1,
            Self::Broadcast => 2,
        }
    }
}

/// Allows some messaging actions to the components a pattern names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagingGrant {
    /// The allowed actions.
    pub actions: Vec<MessagingAction>,
    /// An [`crate::IdPattern`] over target ids, e.g. `orders/**`.
    pub targets: String,
}

/// A storage operation a grant can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageOp {
    /// `get`, `exists`, `list-keys`, `usage`.
    Read,
    /// `set`.
    Write,
    /// `delete`.
    Delete,
}

/// Allows storage operations on the component's own namespace, within a quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageGrant {
    /// Reads allowed.
    pub read: bool,
    /// Writes allowed.
    pub write: bool,
    /// Deletes allowed.
    pub delete: bool,
    /// The namespace's quota.
    pub quota: StorageQuota,
}

/// Access to a preopened directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsAccess {
    /// Read only.
    Read,
    /// Read and write.
    ReadWrite,
}

/// A host directory the component sees (through WASI) at `guest_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesystemGrant {
    /// The directory on the host.
    pub host_path: PathBuf,
    /// Where the component sees it.
    pub guest_path: String,
    /// What it may do there.
    pub access: FsAccess,
}

/// Allows outbound connections (through WASI sockets) to an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkGrant {
    /// An IP address, or `*` for any.
    pub host: String,
    /// A port, or `None` for any.
    pub port: Option<u16>,
}

/// Everything a component is granted. The default grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Messaging targets and actions.
    pub messaging: Vec<MessagingGrant>,
    /// Storage, if any.
    pub storage: Option<StorageGrant>,
    /// Preopened directories.
    pub filesystem: Vec<FilesystemGrant>,
    /// Outbound network addresses.
    pub network: Vec<NetworkGrant>,
    /// Origins it may send HTTP requests to through `wasi:http` (`https://api.example.com`,
    /// `http://127.0.0.1:*`; see [`crate::HttpOrigin`]). None by default.
    pub http_outbound: Vec<String>,
    /// Environment variables passed to the component.
    pub env: Vec<(String, String)>,
    /// [`crate::IdPattern`]s of the components it may see through `list-components` and
    /// `get-component-metadata` (none by default: it sees nobody).
    pub discover: Vec<String>,
}

impl Grants {
    /// Grants nothing (the same as the default).
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds a messaging grant.
    pub fn with_messaging(mut self, actions: &[MessagingAction], targets: &str) -> Self {
        self.messaging.push(MessagingGrant {
            actions: actions.to_vec(),
            targets: targets.to_owned(),
        });
        self
    }

    /// Sets the storage grant.
    pub fn with_storage(mut self, grant: StorageGrant) -> Self {
        self.storage = Some(grant);
        self
    }

    /// Lets it see the components `targets` names through `list-components` and
    /// `get-component-metadata`.
    pub fn with_discover(mut self, targets: &str) -> Self {
        self.discover.push(targets.to_owned());
        self
    }

    /// Adds an environment variable.
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }
}
