//! The wasm-actor layer of airssys-wasm: every component instance an actor.
//!
//! It owns the [`ActorSystem`] embedding API, the component actors (one instance each,
//! draining a bounded mailbox one message at a time), the [`ComponentRegistry`], the spawner,
//! the [`Router`] that implements `wasm-core`'s routing trait for the runtime's host
//! functions, request correlation with timer-driven deadlines, supervision groups with
//! OTP-style strategies, restart intensity and backoff, and the shards (a current-thread
//! runtime per core) the component actors are placed on.
//!
//! The actor runtime (`ractor`) stays inside this crate: no public type names it. This crate
//! runs wasm only through `wasm-runtime` and never touches wasmtime.

#![deny(missing_docs)]

mod actor;
mod context;
mod delivery;
mod error;
mod events;
mod fence;
mod mailbox;
mod registry;
mod remote;
mod router;
mod seam;
mod shard;
mod spawner;
mod spec;
mod stats;
mod supervisor;
mod system;
mod trace;
mod upgrade;
mod usage;
mod wake;

pub use context::{Placement, SystemConfig};
pub use error::{Error, Result};
pub use events::SystemEvent;
pub use registry::ComponentRegistry;
pub use remote::RemoteTransport;
pub use router::Router;
pub use seam::{
    Claim, FromRemote, LocalPush, Outcome, Receipt, ReceiptGuard, RemoteLink, RemoteReply,
};
pub use spec::{ComponentSpec, GroupSpec, Intensity, RestartPolicy, Strategy};
pub use stats::SystemStats;
pub use system::ActorSystem;
pub use trace::SpanLink;
pub use upgrade::Upgrade;
pub use usage::{
    ComponentState, ComponentStats, ComponentStatus, DURATION_BUCKETS_NANOS, ERROR_KINDS,
};
