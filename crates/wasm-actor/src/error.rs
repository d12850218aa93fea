//! The error type of the actor layer.

use wasm_core::{ComponentId, ErrorCallback, MessagingError};

/// Everything that can go wrong when running components as actors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A component with this id is already running.
    #[error("component {0} is already running")]
    AlreadyRunning(ComponentId),
    /// No running component has this id.
    #[error("component {0} is not running")]
    NotRunning(ComponentId),
    /// A group with this name already exists.
    #[error("supervision group `{0}` already exists")]
    GroupExists(String),
    /// A component's grants could not be compiled.
    #[error("component {component}: invalid grants")]
    Grants {
        /// The component.
        component: ComponentId,
        /// Why.
        #[source]
        source: Box<wasm_security::Error>,
    },
    /// A component could not be started (instantiation or `initialize` failed).
    #[error("component {component} failed to start: {reason}")]
    StartFailed {
        /// The component.
        component: ComponentId,
        /// Why.
        reason: String,
    },
    /// A message from the host could not be delivered.
    #[error("message to {target} not delivered: {source}")]
    Delivery {
        /// The target.
        target: ComponentId,
        /// Why.
        #[source]
        source: MessagingError,
    },
    /// A request from the host was answered with an error callback.
    #[error("request to {target} failed: {reason}")]
    Request {
        /// The target.
        target: ComponentId,
        /// What the error callback said.
        reason: ErrorCallback,
    },
    /// The actor runtime failed (spawning or messaging an actor).
    #[error("actor runtime: {0}")]
    Actor(String),
    /// The system is shutting down or shut down.
    #[error("the system is shut down")]
    ShutDown,
}

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
