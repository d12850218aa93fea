//! Rust forms of the error variants of the WIT contract (`airssys:core/errors`).
//!
//! These are contract data, not this crate's own failures (see [`crate::Error`]): the runtime
//! converts them to and from the generated WIT types, and the display text is what hosts log.

use crate::id::ComponentId;
use crate::message::CorrelationId;

/// A failure of the runtime or of a call into a component (`wasm-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WasmError {
    /// No component with this id.
    #[error("component not found: {0}")]
    ComponentNotFound(String),
    /// The component could not be instantiated.
    #[error("instantiation failed: {0}")]
    InstantiationFailed(String),
    /// A required export is missing.
    #[error("export not found: {0}")]
    ExportNotFound(String),
    /// A call did not finish in time.
    #[error("timeout")]
    Timeout,
    /// A call exceeded a resource limit; the detail names it.
    #[error("resource limit exceeded: {0}")]
    ResourceLimitExceeded(String),
    /// The bytes are not a usable component.
    #[error("invalid component: {0}")]
    InvalidComponent(String),
    /// Any other runtime failure.
    #[error("runtime error: {0}")]
    RuntimeError(String),
}

/// A failure in a component's lifecycle (`component-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComponentError {
    /// `initialize` failed.
    #[error("initialization failed: {0}")]
    InitializationFailed(String),
    /// `initialize` was called twice.
    #[error("already initialized")]
    AlreadyInitialized,
    /// A call came before `initialize`.
    #[error("not initialized")]
    NotInitialized,
    /// `shutdown` failed.
    #[error("shutdown failed: {0}")]
    ShutdownFailed(String),
    /// The component is in a state that does not allow the call.
    #[error("invalid state: {0}")]
    InvalidState(String),
}

/// A call the caller's capabilities do not allow (`security-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    /// No capability grants the call.
    #[error("capability denied: {0}")]
    CapabilityDenied(String),
    /// The call breaks a policy.
    #[error("policy violation: {0}")]
    PolicyViolation(String),
    /// The security context is missing or malformed.
    #[error("invalid context: {0}")]
    InvalidContext(String),
    /// Access to a resource is not permitted.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
}

/// A message could not be sent or answered (`messaging-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessagingError {
    /// Refused before delivery; the detail says why.
    #[error("delivery failed: {0}")]
    DeliveryFailed(String),
    /// A request was not answered in time.
    #[error("request {0} timed out")]
    CorrelationTimeout(CorrelationId),
    /// The message or request id is not valid.
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// The target's mailbox is full; nothing was queued.
    #[error("queue full")]
    QueueFull,
    /// No running component has this id; nothing was queued.
    #[error("target not found: {0}")]
    TargetNotFound(ComponentId),
}

/// A storage call failed (`storage-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The key is absent.
    #[error("not found: {0}")]
    NotFound(String),
    /// The key is already present.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The write would exceed the namespace's byte or key quota.
    #[error("quota exceeded")]
    QuotaExceeded,
    /// The key is empty, too long or otherwise unusable.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The backend failed, or the capability for the call is missing.
    #[error("io error: {0}")]
    IoError(String),
}

/// A failure of an operation a component carries out (`execution-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionError {
    /// The operation is not valid here.
    #[error("invalid operation: {0}")]
    InvalidOperation(String),
    /// The operation failed.
    #[error("operation failed: {0}")]
    OperationFailed(String),
    /// The payload's codec is not supported.
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    /// The payload could not be (de)serialized.
    #[error("serialization error: {0}")]
    SerializationError(String),
}
