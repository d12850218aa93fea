//! The services a component's host functions reach, bundled per instance.

mod memory_storage;
mod standalone;

use std::sync::Arc;

use wasm_core::{Clock, ComponentDirectory, MessageRouter, StorageBackend, SystemClock};
use wasm_security::{AuditSink, MemoryAuditLog};

pub use memory_storage::MemoryStorage;
pub use standalone::{NoComponents, Unrouted};

/// Handles to the services behind the host functions. Higher layers supply their
/// implementations; [`HostServices::standalone`] runs a component on its own.
#[derive(Debug, Clone)]
pub struct HostServices {
    /// Delivers `send`, `request`, `cancel-request` and `broadcast`.
    pub router: Arc<dyn MessageRouter>,
    /// Answers `list-components` and `get-component-metadata`.
    pub directory: Arc<dyn ComponentDirectory>,
    /// Backs the `storage` interface.
    pub storage: Arc<dyn StorageBackend>,
    /// Answers `current-time`.
    pub clock: Arc<dyn Clock>,
    /// Receives every capability denial.
    pub audit: Arc<dyn AuditSink>,
}

impl HostServices {
    /// Services for a component that runs alone: no other components (every message fails
    /// with `target-not-found`), in-memory storage, the system clock, and an in-memory audit log
    /// of the last 1024 events.
    pub fn standalone() -> Self {
        Self {
            router: Arc::new(Unrouted),
            directory: Arc::new(NoComponents),
            storage: Arc::new(MemoryStorage::new()),
            clock: Arc::new(SystemClock),
            audit: Arc::new(MemoryAuditLog::new(1024)),
        }
    }

    /// Replaces the router.
    pub fn with_router(mut self, router: Arc<dyn MessageRouter>) -> Self {
        self.router = router;
        self
    }

    /// Replaces the directory.
    pub fn with_directory(mut self, directory: Arc<dyn ComponentDirectory>) -> Self {
        self.directory = directory;
        self
    }

    /// Replaces the storage backend.
    pub fn with_storage(mut self, storage: Arc<dyn StorageBackend>) -> Self {
        self.storage = storage;
        self
    }

    /// Replaces the clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the audit sink.
    pub fn with_audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = audit;
        self
    }
}
