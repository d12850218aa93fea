//! The seam to other hosts: what a cluster transport implements, and what it calls back.
//!
//! This crate owns the traits and never names a transport. A transport (the `wasm-cluster`
//! crate) implements [`RemoteTransport`]; the actor system attaches its [`Router`] to it once,
//! and the transport hands inbound messages and answers to that router.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use wasm_core::{ComponentId, ComponentInfo, ComponentMessage, Routed};

use crate::correlation::Outcome;
use crate::router::Router;

/// The claim of an id in the cluster: resolves to `Err` with a message naming the id and the
/// host that has it.
pub type Claim = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Delivers messages to components that live on other hosts, and tells this host which ids
/// the other hosts run.
///
/// The router consults it only for ids that are not registered on this host: local delivery
/// never touches it.
pub trait RemoteTransport: Send + Sync + fmt::Debug {
    /// Called once, when the actor system is built: inbound messages and answers go to
    /// `router`.
    fn attach(&self, router: Router);

    /// Queues `message` in the mailbox of `to`, a component on another host. `Ok` only once
    /// that host has queued it. A [`Routed::Later`] does the work when polled: dropped
    /// unpolled, it sends nothing (the same holds for every method returning one).
    ///
    /// # Errors
    ///
    /// [`wasm_core::MessagingError::TargetNotFound`] if no host runs `to`, [`wasm_core::MessagingError::QueueFull`]
    /// if its mailbox is full, [`wasm_core::MessagingError::DeliveryFailed`] if the other host cannot be
    /// reached; nothing was queued then.
    fn send(&self, to: &ComponentId, message: ComponentMessage) -> Routed<()>;

    /// Queues request `message` (its correlation id and `reply-to` set) for `to`. The answer
    /// comes back through [`Router::answer_from_remote`]; `timeout` bounds how long the other
    /// host keeps the request (this host raises the requester's timeout itself).
    ///
    /// # Errors
    ///
    /// As [`RemoteTransport::send`]; no answer follows an error.
    fn request(&self, to: &ComponentId, message: ComponentMessage, timeout: Duration)
    -> Routed<()>;

    /// Makes sure a slot is held for one message in the mailbox of every target (each on
    /// another host), asking their hosts for the ones not held yet. The first half of a
    /// broadcast: nothing is sent.
    ///
    /// # Errors
    ///
    /// The first failing target's error, as for [`RemoteTransport::send`]; the slots held
    /// for the targets before it are given back.
    fn reserve(&self, targets: &[ComponentId]) -> Routed<()>;

    /// Gives back the slots [`RemoteTransport::reserve`] held (the broadcast will not be
    /// sent: a local target refused it).
    fn release(&self, targets: &[ComponentId]) -> Routed<()>;

    /// Sends `message` to every target into a slot [`RemoteTransport::reserve`] held. The
    /// second half of a broadcast.
    ///
    /// # Errors
    ///
    /// [`wasm_core::MessagingError::DeliveryFailed`] if the NATS server cannot be reached.
    fn send_reserved(&self, targets: &[ComponentId], message: ComponentMessage) -> Routed<()>;

    /// A component is being registered on this host: claim its id in the cluster and start
    /// taking its messages from other hosts. Resolves once both are done.
    ///
    /// # Errors
    ///
    /// A message naming the id and the host that already runs it, or why the claim could not
    /// be made.
    fn register(&self, id: &ComponentId) -> Claim;

    /// A component was unregistered from this host for good.
    fn unregister(&self, id: &ComponentId);

    /// The ids the other hosts run, sorted.
    fn components(&self) -> Vec<ComponentId>;

    /// What another host knows about one of its components.
    fn info(&self, id: &ComponentId) -> Option<ComponentInfo>;
}

/// Where the answer to a request from another host goes. Called at most once.
pub trait RemoteReply: Send + Sync + fmt::Debug {
    /// Sends the answer (the reply, or the error callback's reason) to the requesting host.
    fn answer(self: Box<Self>, outcome: Outcome);
}
