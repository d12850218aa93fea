//! The seam to other hosts, as delivery sees it: what it asks of them ([`RemoteLink`]) and
//! what comes with a message from another host. Nothing here names the router or a
//! transport: delivery depends on this module, and [`crate::remote`] (the transport's trait,
//! which names the router) depends on both.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use wasm_core::{
    ComponentId, ComponentInfo, ComponentMessage, ErrorCallback, MessagingError, Routed,
};

/// How a request ended: the reply payload, or why there is none.
pub type Outcome = Result<Vec<u8>, ErrorCallback>;

/// The claim of an id in the cluster: resolves to `Err` with a message naming the id and the
/// host that has it.
pub type Claim = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// The local half of a broadcast that also reaches other hosts: pushes the message into
/// every local target's mailbox, or into none (the error names the first refusing target).
pub type LocalPush = Box<dyn FnOnce() -> Result<(), MessagingError> + Send>;

/// What this host asks of the other hosts: deliver messages to components that live there,
/// claim and release ids, and say which ids they run. Delivery calls it (and owns no
/// transport); [`crate::RemoteTransport`] adds how the transport reaches this host's router.
///
/// Delivery consults it only for ids that are not registered on this host: local delivery
/// never touches it.
pub trait RemoteLink: Send + Sync + fmt::Debug {
    /// Queues `message` for `to`, a component on another host. `Ok` means the message has a
    /// place held for it in the target's mailbox and is on its way: it is handled there, or
    /// reported as a dead letter (on the target's host, or on this one if that host is lost
    /// first). A [`Routed::Later`] does the work when polled: dropped unpolled, it sends
    /// nothing (the same holds for every method returning one). It never waits on the other
    /// host for longer than the transport's bound on asking for room.
    ///
    /// # Errors
    ///
    /// [`MessagingError::TargetNotFound`] if no live host runs `to`,
    /// [`MessagingError::QueueFull`] if its host gives no room for it,
    /// [`MessagingError::DeliveryFailed`] if its host did not answer in time; nothing was
    /// sent then.
    fn send(&self, to: &ComponentId, message: ComponentMessage) -> Routed<()>;

    /// Queues request `message` (its correlation id and `reply-to` set) for `to`, as
    /// [`RemoteLink::send`]. The answer comes back through
    /// [`crate::Router::answer_from_remote`]; the target's host does not start the request
    /// once `timeout` has passed since the message's `timestamp` (taken before the requester's
    /// timer started, so never after the requester gave up). This host raises the requester's
    /// timeout itself.
    ///
    /// # Errors
    ///
    /// As [`RemoteLink::send`]; no answer follows an error.
    fn request(&self, to: &ComponentId, message: ComponentMessage, timeout: Duration)
    -> Routed<()>;

    /// Queues `message` in the mailbox of every target (each on another host) and, through
    /// `local`, of every local one: in all of them or in none. A slot is first held in each
    /// remote target's mailbox (a hold that is not filled in time lapses), then `local`
    /// runs, then every held slot is filled. If a target refuses the hold, or `local`
    /// refuses, every slot held is given back and nothing is sent.
    ///
    /// # Errors
    ///
    /// The first refusing target's error, as for [`RemoteLink::send`], or `local`'s.
    fn broadcast(
        &self,
        targets: &[ComponentId],
        message: ComponentMessage,
        local: LocalPush,
    ) -> Routed<()>;

    /// A component is being registered on this host: claim its id in the cluster, so that
    /// messages from other hosts reach it here. Resolves once the claim holds.
    ///
    /// # Errors
    ///
    /// A message naming the id and the host that already runs it, or why the claim could not
    /// be made.
    fn register(&self, id: &ComponentId) -> Claim;

    /// A registered component's instance is running: what other hosts may learn of it
    /// (`list-components`, `get-component-metadata`).
    fn announce(&self, info: ComponentInfo);

    /// A component was unregistered from this host for good.
    fn unregister(&self, id: &ComponentId);

    /// The ids the other hosts run, sorted.
    fn components(&self) -> Vec<ComponentId>;

    /// What another host said about one of its components.
    fn info(&self, id: &ComponentId) -> Option<ComponentInfo>;
}

/// Where the answer to a request from another host goes. Called at most once.
pub trait RemoteReply: Send + Sync + fmt::Debug {
    /// Sends the answer (the reply, or the error callback's reason) to the requesting host.
    fn answer(self: Box<Self>, outcome: Outcome);
}

/// What a transport keeps with a message from another host (inside a [`Receipt`]): told
/// when the message is taken from the mailbox to be handled (its slot is free again), and
/// dropped when this host is done with it.
pub trait ReceiptGuard: Send + Sync + fmt::Debug {
    /// The message left the mailbox to be handled. Called at most once; a message that is
    /// done with without being handled (answered unstarted, reported, dropped) is not taken.
    fn taken(&self) {}
}

impl ReceiptGuard for () {}

/// Kept with a message from another host until this host is done with it: the message was
/// handled (its call returned and its writes were committed), or its request was answered
/// without running, or it was reported as a dead letter here, or this host dropped it when
/// it lost its lease. The transport learns of it by the guard it wraps being dropped.
#[derive(Debug)]
pub struct Receipt {
    guard: Box<dyn ReceiptGuard>,
}

impl Receipt {
    /// Wraps `guard`, which is dropped when the message is done with.
    pub fn new(guard: impl ReceiptGuard + 'static) -> Self {
        Self {
            guard: Box::new(guard),
        }
    }

    /// The message left the mailbox to be handled.
    pub(crate) fn taken(&self) {
        self.guard.taken();
    }
}

/// How a message from another host is to be delivered ([`crate::Router::deliver_remote`]).
#[derive(Debug)]
pub struct FromRemote {
    /// With a reply, the message is a request: its answer (or error callback) goes there,
    /// once, and it is not started after `timeout` from now.
    pub reply: Option<(Box<dyn RemoteReply>, Duration)>,
    /// Whether a slot is held for it in the target's mailbox ([`crate::Router::hold_for_remote`]):
    /// it cannot be refused for capacity then.
    pub held: bool,
    /// Dropped when this host is done with the message.
    pub receipt: Receipt,
}
