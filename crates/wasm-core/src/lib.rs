//! The shared vocabulary of airssys-wasm.
//!
//! This crate owns the plain Rust types that every layer speaks (component ids, messages,
//! metadata, configuration, limits, the contract's error types) and the service traits through
//! which the runtime's host functions reach services that higher layers implement (message
//! routing, the component directory, storage, the clock).
//!
//! It must not depend on any other crate of the workspace, nor on wasmtime: it is the bottom
//! layer, and everything here is plain data and traits.

#![deny(missing_docs)]

mod config;
mod error;
mod errors;
mod id;
mod message;
mod metadata;
mod services;
mod status;
pub mod storage;
mod trace;
mod txn;

pub use config::{ComponentConfig, ResourceLimits};
pub use error::{Error, Result, with_causes};
pub use errors::{
    ComponentError, ExecutionError, MessagingError, SecurityError, StorageError, WasmError,
};
pub use id::ComponentId;
pub use message::{
    ComponentMessage, CorrelationId, ERROR_CONTENT_TYPE, ErrorCallback, MessageMetadata,
    MessagePayload, Timestamp,
};
pub use metadata::{ComponentInfo, ComponentMetadata};
pub use services::{
    CallError, CallFuture, Clock, CommitFuture, ComponentDirectory, MessageRouter, Routed,
    RoutedFuture, StorageBackend, SystemClock,
};
pub use status::{ExecutionStatus, HealthStatus, LogLevel};
pub use storage::{StorageQuota, StorageUsage};
pub use trace::TraceContext;
pub use txn::{StorageTxn, WriteSet};
