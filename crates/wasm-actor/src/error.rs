//! The error type of the actor layer.

use wasm_core::{ComponentId, ErrorCallback, MessagingError};

/// Everything that can go wrong when running components as actors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A component with this id is already running.
    #[error("component {0} is already running")]
    AlreadyRunning(ComponentId),
    /// The cluster refused the id: another host runs it.
    #[error("component {component} cannot start on this host: {reason}")]
    Claimed {
        /// The component.
        component: ComponentId,
        /// Why (names the host that has it).
        reason: String,
    },
    /// No running component has this id.
    #[error("component {0} is not running")]
    NotRunning(ComponentId),
    /// A group with this name already exists.
    #[error("supervision group `{0}` already exists")]
    GroupExists(String),
    /// A component's grants could not be compiled.
    #[error("component {component} cannot start")]
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
    #[error("message to {target} not delivered")]
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
    /// An upgrade did not happen; the old version keeps running with its mailbox.
    #[error("upgrade of {component} failed at {step}: {reason}")]
    UpgradeFailed {
        /// The component.
        component: ComponentId,
        /// The step that failed: `compile`, `instantiate`, `initialize`, `metadata`, `save`,
        /// `restore`, or `switch` (the component was not running to take it).
        step: &'static str,
        /// Why.
        reason: String,
    },
    /// The actor runtime failed (spawning or messaging an actor).
    #[error("actor runtime: {0}")]
    Actor(String),
    /// The system is shutting down or shut down.
    #[error("the system is shut down")]
    ShutDown,
}

impl Error {
    /// Why a message or request from the host was not delivered, if that is what failed.
    pub fn messaging(&self) -> Option<&MessagingError> {
        match self {
            Self::Delivery { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether the target's mailbox was full (nothing was queued): worth retrying later.
    pub fn is_queue_full(&self) -> bool {
        matches!(self.messaging(), Some(MessagingError::QueueFull))
    }

    /// The error callback that answered a request from the host, if that is what failed.
    pub fn error_callback(&self) -> Option<&ErrorCallback> {
        match self {
            Self::Request { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) use wasm_core::with_causes;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_are_appended_once() {
        let error = Outer(std::io::Error::other("Cannot allocate memory"));
        assert_eq!(with_causes(&error), "outer: Cannot allocate memory");
        let io = std::io::Error::other("alone");
        assert_eq!(with_causes(&io), "alone");
    }
}
