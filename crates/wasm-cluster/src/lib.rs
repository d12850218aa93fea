//! The wasm-cluster layer of airssys-wasm: components on many hosts, one system, over NATS.
//!
//! It owns everything NATS: the connection and its authentication, the cluster's JetStream
//! buckets (host leases and component ownership, with fencing), the wire form of messages,
//! credit windows, broadcast holds and answers, and the view of the other hosts. It
//! implements `wasm-actor`'s [`wasm_actor::RemoteTransport`] seam with [`NatsTransport`]; the
//! actor layer never names NATS, and no other crate depends on `async-nats`.
//!
//! It must not touch wasmtime or run wasm, and it reaches components only through the
//! actor layer's [`wasm_actor::Router`].

#![deny(missing_docs)]

mod acks;
mod broadcast;
mod claims;
mod config;
mod credit;
pub mod deploy;
mod directory;
mod error;
mod frame;
mod inbound;
mod incarnation;
mod lease;
mod membership;
mod outbound;
mod peer;
mod records;
mod state;
mod stats;
mod store;
pub mod subject;
mod sweep;
mod transport;
mod watch;
mod window;

pub use config::{Auth, ClusterConfig};
pub use error::{Error, Result};
pub use state::ClusterStorage;
pub use stats::ClusterStats;
pub use transport::NatsTransport;

#[cfg(test)]
mod tests;
