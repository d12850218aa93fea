//! The wasm-security layer of airssys-wasm: what a component may do.
//!
//! It owns the declarative [`Grants`] (messaging targets, storage with quotas, filesystem
//! preopens, outbound network, environment), the [`IdPattern`] language over component ids
//! (`*` one segment, `**` any rest), the compiled [`CapabilitySet`] whose per-call checks are
//! allocation-free lookups, and the audit trail ([`AuditSink`], [`MemoryAuditLog`]).
//!
//! Everything is denied unless granted. This crate depends only on `wasm-core`: it knows
//! nothing of wasmtime, actors or storage backends.

#![deny(missing_docs)]

mod audit;
mod capability_set;
mod error;
mod grants;
mod origin;
mod pattern;

pub use audit::{AuditEvent, AuditSink, Decision, MemoryAuditLog, audit_denial};
pub use capability_set::{Capability, CapabilitySet, Denial};
pub use error::{Error, Result};
pub use grants::{
    FilesystemGrant, FsAccess, Grants, MessagingAction, MessagingGrant, NetworkGrant, StorageGrant,
    StorageOp,
};
pub use origin::{HttpOrigin, HttpScheme};
pub use pattern::IdPattern;
