//! The seam to other hosts, as a transport implements it: [`RemoteTransport`] is
//! [`RemoteLink`] (what delivery asks of the other hosts) and how the transport reaches this
//! host's [`Router`].
//!
//! This crate owns the traits and never names a transport. A transport (the `wasm-cluster`
//! crate) implements [`RemoteTransport`]; the actor system attaches its [`Router`] to it once,
//! and the transport hands inbound messages and answers to that router.

use crate::router::Router;
use crate::seam::RemoteLink;

/// A cluster transport: [`RemoteLink`] for delivery, and the way in for messages and answers
/// from other hosts.
pub trait RemoteTransport: RemoteLink {
    /// Called once, when the actor system is built: inbound messages and answers go to
    /// `router`, and the transport tells it how long this host may serve
    /// ([`Router::serve_until`]).
    fn attach(&self, router: Router);
}
