//! The wasm-cluster layer of airssys-wasm: components on many hosts, messaging over NATS.
//!
//! It owns everything NATS: the connection and its authentication, the subjects (every id,
//! host and cluster name escaped), the wire form of messages, acknowledgements and answers,
//! heartbeats and the view of the other hosts. It implements `wasm-actor`'s
//! [`wasm_actor::RemoteTransport`] seam with [`NatsTransport`]; the actor layer never names
//! NATS, and no other crate depends on `async-nats`.
//!
//! It must not touch wasmtime or run wasm, and it reaches components only through the
//! actor layer's [`wasm_actor::Router`].

#![deny(missing_docs)]

mod config;
mod credit;
mod error;
mod loans;
mod peers;
pub mod subject;
mod transport;
mod wire;

pub use config::{Auth, ClusterConfig};
pub use error::{Error, Result};
pub use transport::NatsTransport;
