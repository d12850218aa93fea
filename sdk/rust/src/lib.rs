//! Write airssys-wasm components in Rust.
//!
//! The bindings of the contract (`airssys:core@1.0.0`, world `runtime-host`, generated once
//! here from the repository's `wit/`), a [`Component`] trait in which only
//! [`Component::handle`] is required, and typed helpers for what every component does: read a
//! text payload, reply, make a request and tell its reply from an error callback
//! ([`Callback`]), name components ([`parse_id`], [`id_text`]) and use storage.
//!
//! ```ignore
//! use airssys_guest::{Component, ComponentMessage, Reply, export_component, reply, text};
//!
//! struct Upper;
//!
//! impl Component for Upper {
//!     const OPERATIONS: &'static [&'static str] = &["<any text>"];
//!
//!     fn handle(message: ComponentMessage) -> Reply {
//!         reply(text(&message).to_uppercase())
//!     }
//! }
//!
//! export_component!(Upper);
//! ```
//!
//! Build for `wasm32-wasip2` (the output is a component) or for `wasm32-unknown-unknown`
//! (a core module to wrap with `wasm-tools component new`). The metadata is the crate's own
//! (name, version, description, authors and licence from its `Cargo.toml`) unless
//! [`Component::metadata`] says otherwise.

wit_bindgen::generate!({
    path: "../../wit",
    world: "airssys:core/runtime-host",
    pub_export_macro: true,
    export_macro_name: "export_bindings",
    default_bindings_module: "airssys_guest",
});

/// The bindings of the optional hand-off interface of 1.1.0 (`airssys:core/state-handoff`,
/// world `handoff` in `wit/v1.1`), kept apart from the 1.0.0 bindings they sit beside.
pub mod handoff_bindings {
    wit_bindgen::generate!({
        path: "../../wit/v1.1",
        world: "airssys:core/handoff@1.1.0",
        pub_export_macro: true,
        export_macro_name: "export_handoff_bindings",
        default_bindings_module: "airssys_guest::handoff_bindings",
    });
}

mod callback;
mod ids;

pub use airssys::core::errors::{ComponentError, MessagingError, StorageError, WasmError};
pub use airssys::core::types::{
    ComponentConfig, ComponentId, ComponentInfo, ComponentMessage, ComponentMetadata, HealthStatus,
    LogLevel, MessageMetadata,
};
pub use airssys::core::{host_messaging, host_services, storage};
pub use callback::{Callback, ERROR_CONTENT_TYPE, ErrorKind};
pub use exports::airssys::core::component_lifecycle::Guest;
pub use ids::{id_text, parse_id};

/// What [`Component::handle`] returns: the reply to a request (`None`: an empty reply), or an
/// error reply.
pub type Reply = Result<Option<Vec<u8>>, WasmError>;

/// A component's behaviour. Only [`Component::handle`] is required; the rest has the
/// defaults most components want.
pub trait Component {
    /// What it does, in one line (default: the crate's `description`).
    const DESCRIPTION: &'static str = "";
    /// The operations it understands, as listed in its metadata.
    const OPERATIONS: &'static [&'static str] = &[];
    /// Whether it keeps state between messages.
    const STATEFUL: bool = false;

    /// Handles a message, or a request whose reply is the result.
    fn handle(message: ComponentMessage) -> Reply;

    /// Handles the answer to a request it made ([`Callback::of`] tells a reply from an error
    /// callback). Default: ignores it.
    fn callback(_message: ComponentMessage) -> Result<(), WasmError> {
        Ok(())
    }

    /// Called once before any message. Default: nothing to do.
    fn initialize(_config: ComponentConfig) -> Result<(), ComponentError> {
        Ok(())
    }

    /// Its health, polled by the supervisor. Default: healthy.
    fn health() -> HealthStatus {
        HealthStatus::Healthy
    }

    /// Called once when the host stops it. Default: nothing to do.
    fn shutdown() -> Result<(), ComponentError> {
        Ok(())
    }

    /// Its metadata, given the crate's own (see [`export_component!`]). Default: that.
    fn metadata(package: ComponentMetadata) -> ComponentMetadata {
        package
    }
}

/// The metadata of `C` from its crate's package fields (filled in by
/// [`export_component!`], which reads them where it is expanded).
#[doc(hidden)]
pub fn package_metadata<C: Component>(
    name: &str,
    version: &str,
    description: &str,
    authors: &str,
    license: &str,
) -> ComponentMetadata {
    C::metadata(ComponentMetadata {
        name: name.into(),
        version: version.into(),
        description: if C::DESCRIPTION.is_empty() {
            description.into()
        } else {
            C::DESCRIPTION.into()
        },
        author: authors.replace(':', ", "),
        license: license.into(),
        supported_operations: C::OPERATIONS.iter().map(|s| (*s).to_owned()).collect(),
        stateful: C::STATEFUL,
    })
}

/// Exports a [`Component`] as the component's `component-lifecycle`.
#[macro_export]
macro_rules! export_component {
    ($component:ty) => {
        struct AirssysGuest;

        impl $crate::Guest for AirssysGuest {
            fn initialize(config: $crate::ComponentConfig) -> Result<(), $crate::ComponentError> {
                <$component as $crate::Component>::initialize(config)
            }
            fn handle_message(message: $crate::ComponentMessage) -> $crate::Reply {
                <$component as $crate::Component>::handle(message)
            }
            fn handle_callback(message: $crate::ComponentMessage) -> Result<(), $crate::WasmError> {
                <$component as $crate::Component>::callback(message)
            }
            fn metadata() -> $crate::ComponentMetadata {
                $crate::package_metadata::<$component>(
                    env!("CARGO_PKG_NAME"),
                    env!("CARGO_PKG_VERSION"),
                    env!("CARGO_PKG_DESCRIPTION"),
                    env!("CARGO_PKG_AUTHORS"),
                    env!("CARGO_PKG_LICENSE"),
                )
            }
            fn health() -> $crate::HealthStatus {
                <$component as $crate::Component>::health()
            }
            fn shutdown() -> Result<(), $crate::ComponentError> {
                <$component as $crate::Component>::shutdown()
            }
        }

        $crate::export_bindings!(AirssysGuest with_types_in $crate);
    };
}

/// A component that hands its in-memory state to its next version in a live upgrade
/// (`airssys:core/state-handoff@1.1.0`); export it with [`export_handoff!`] beside
/// [`export_component!`]. Without it, a new version starts fresh (storage is kept either way).
pub trait Handoff {
    /// The state the next version needs, in the component's own format.
    fn save() -> Vec<u8>;

    /// Takes over what a previous version (`from_version`, its metadata version) saved;
    /// `Err` refuses it, and the upgrade is rolled back (the old version keeps running).
    fn restore(state: Vec<u8>, from_version: String) -> Result<(), String>;
}

/// Exports a [`Handoff`] implementation as `airssys:core/state-handoff@1.1.0`.
#[macro_export]
macro_rules! export_handoff {
    ($component:ty) => {
        struct AirssysHandoff;

        impl $crate::handoff_bindings::exports::airssys::core::state_handoff::Guest for AirssysHandoff {
            fn save() -> Vec<u8> {
                <$component as $crate::Handoff>::save()
            }
            fn restore(state: Vec<u8>, from_version: String) -> Result<(), String> {
                <$component as $crate::Handoff>::restore(state, from_version)
            }
        }

        $crate::handoff_bindings::export_handoff_bindings!(AirssysHandoff with_types_in $crate::handoff_bindings);
    };
}

/// The payload as text (invalid UTF-8 replaced).
pub fn text(message: &ComponentMessage) -> String {
    String::from_utf8_lossy(&message.payload).into_owned()
}

/// A text reply.
pub fn reply(text: impl Into<String>) -> Reply {
    Ok(Some(text.into().into_bytes()))
}

/// An error reply (`runtime-error`) with `detail`; the requester sees
/// `error-reply: runtime error: <detail>`.
pub fn failure(detail: impl Into<String>) -> WasmError {
    WasmError::RuntimeError(detail.into())
}

/// Whether the message is a request (its reply goes back to the sender).
pub fn is_request(message: &ComponentMessage) -> bool {
    message.metadata.correlation_id.is_some()
}

/// Sends a request to `target` (`namespace/name/instance`) and returns its correlation id;
/// the answer arrives later through [`Component::callback`].
///
/// # Errors
///
/// A malformed id is `invalid-message`; otherwise the host's refusal (a capability not
/// granted, a full mailbox, no such component).
pub fn request(target: &str, payload: &[u8], timeout_ms: u64) -> Result<String, MessagingError> {
    let id =
        parse_id(target).ok_or_else(|| MessagingError::InvalidMessage(format!("`{target}`")))?;
    host_messaging::request(&id, payload, timeout_ms)
}

/// Sends a fire-and-forget message to `target` (`namespace/name/instance`).
///
/// # Errors
///
/// As [`request`].
pub fn send(target: &str, payload: &[u8]) -> Result<(), MessagingError> {
    let id =
        parse_id(target).ok_or_else(|| MessagingError::InvalidMessage(format!("`{target}`")))?;
    host_messaging::send(&id, payload)
}

/// Logs through the host's `tracing`, tagged with this component's id.
pub fn log(level: LogLevel, message: &str) {
    host_services::log(level, message, None);
}

/// A stored value as text, `None` if the key is absent.
///
/// # Errors
///
/// The host's storage error (no read grant, an invalid key).
pub fn get_text(key: &str) -> Result<Option<String>, StorageError> {
    Ok(storage::get(key)?.map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// Stores text under `key`.
///
/// # Errors
///
/// The host's storage error (no write grant, over the quota, an invalid key).
pub fn set_text(key: &str, value: &str) -> Result<(), StorageError> {
    storage::set(key, value.as_bytes())
}

/// A messaging error in words (`queue full`, `target not found: a/b/c`).
pub fn messaging_error(e: &MessagingError) -> String {
    match e {
        MessagingError::DeliveryFailed(s) => format!("delivery failed: {s}"),
        MessagingError::CorrelationTimeout(s) => format!("correlation timeout: {s}"),
        MessagingError::InvalidMessage(s) => format!("invalid message: {s}"),
        MessagingError::QueueFull => "queue full".into(),
        MessagingError::TargetNotFound(id) => format!("target not found: {}", id_text(id)),
    }
}

/// A storage error in words (`quota exceeded`, `invalid key: ...`).
pub fn storage_error(e: &StorageError) -> String {
    match e {
        StorageError::NotFound(s) => format!("not found: {s}"),
        StorageError::AlreadyExists(s) => format!("already exists: {s}"),
        StorageError::QuotaExceeded => "quota exceeded".into(),
        StorageError::InvalidKey(s) => format!("invalid key: {s}"),
        StorageError::IoError(s) => format!("io error: {s}"),
    }
}
