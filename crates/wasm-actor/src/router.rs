//! The router: the public handle on delivery.
//!
//! It implements `wasm-core`'s [`MessageRouter`] for the runtime's host functions and offers a
//! cluster transport the inbound side (messages and answers from other hosts). All the work
//! is done by the delivery module, which owns every envelope.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use wasm_core::{
    ComponentId, ComponentInfo, ComponentMessage, CorrelationId, MessagePayload, MessageRouter,
    MessagingError, Routed,
};

use crate::correlation::{Outcome, Requester};
use crate::delivery::Delivery;
use crate::events::SystemEvent;
use crate::remote::RemoteReply;

/// Routes messages between the components of one host, and to other hosts through a
/// [`crate::RemoteTransport`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Router {
    pub(crate) delivery: Arc<Delivery>,
}

impl Router {
    pub(crate) fn new(delivery: Arc<Delivery>) -> Self {
        Self { delivery }
    }

    /// A request from the embedding host: the receiver resolves to the outcome.
    pub(crate) fn host_request(
        &self,
        host: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
        timeout: Duration,
    ) -> Routed<oneshot::Receiver<Outcome>> {
        let (tx, rx) = oneshot::channel();
        self.delivery
            .request(Requester::Host(tx), host, to, payload, timeout)
            .map(move |_| rx)
    }

    /// Replies that arrived after their request timed out or was cancelled.
    pub fn late_replies(&self) -> u64 {
        self.delivery.late_replies()
    }

    /// Requests waiting for an answer.
    pub fn pending_requests(&self) -> usize {
        self.delivery.pending_requests()
    }

    /// Queues a message that arrived from another host in the mailbox of `to`, a component of
    /// this host. With `reply`, it is a request: the target's answer (or the error callback's
    /// reason: target failed, stopped, timed out here after `timeout`) goes to `reply`, once.
    ///
    /// # Errors
    ///
    /// [`MessagingError::TargetNotFound`] if `to` is not registered here,
    /// [`MessagingError::QueueFull`] if its mailbox is full; nothing was queued and `reply` is
    /// not called then.
    pub fn deliver_from_remote(
        &self,
        to: &ComponentId,
        message: ComponentMessage,
        reply: Option<(Box<dyn RemoteReply>, Duration)>,
    ) -> Result<(), MessagingError> {
        self.delivery.deliver_inbound(to, message, reply)
    }

    /// Holds up to `wanted` slots in the mailbox of `to` for messages another host will send
    /// on credit ([`Router::deliver_reserved_from_remote`]); returns how many it holds.
    ///
    /// # Errors
    ///
    /// [`MessagingError::TargetNotFound`] if `to` is not registered here.
    pub fn reserve_for_remote(
        &self,
        to: &ComponentId,
        wanted: usize,
    ) -> Result<usize, MessagingError> {
        self.delivery.reserve_inbound(to, wanted)
    }

    /// Holds up to `wanted` slots, and at most a quarter of the mailbox of `to`, as credit for
    /// another host's sends; returns how many it holds.
    ///
    /// # Errors
    ///
    /// [`MessagingError::TargetNotFound`] if `to` is not registered here.
    pub fn lend_for_remote(
        &self,
        to: &ComponentId,
        wanted: usize,
    ) -> Result<usize, MessagingError> {
        self.delivery.lend_inbound(to, wanted)
    }

    /// Gives back `n` slots held for another host (it is gone, or `to` stopped).
    pub fn release_for_remote(&self, to: &ComponentId, n: usize) {
        self.delivery.release_inbound(to, n);
    }

    /// Queues a message another host sent without waiting for an acknowledgement: into a
    /// slot held for it when `held` (it cannot be refused for capacity), else as an ordinary
    /// push. One that cannot be queued is reported as a dead letter.
    pub fn deliver_reserved_from_remote(
        &self,
        to: &ComponentId,
        message: ComponentMessage,
        held: bool,
    ) {
        self.delivery.deliver_reserved_inbound(to, message, held);
    }

    /// Reports `count` messages that host `host` sent to `to` and that never arrived, each as
    /// a dead letter (nothing is lost silently).
    pub fn lost_in_transit(&self, to: &ComponentId, host: &str, count: u64) {
        self.delivery.lost_in_transit(to, host, count);
    }

    /// The answer from another host to request `id`, made by a component (or the embedder) of
    /// this host. An answer for a request that timed out or was cancelled is counted as late.
    pub fn answer_from_remote(&self, id: &CorrelationId, outcome: Outcome) {
        self.delivery.complete_remote(id, outcome);
    }

    /// What is known about each component registered on this host, sorted by id.
    pub fn local_components(&self) -> Vec<ComponentInfo> {
        self.delivery.local_components()
    }

    /// Reports that another host of the cluster was heard from for the first time.
    pub fn host_up(&self, host: &str) {
        self.delivery.publish(SystemEvent::HostUp {
            host: host.to_owned(),
        });
    }

    /// Reports that another host of the cluster is gone.
    pub fn host_down(&self, host: &str, reason: &str) {
        self.delivery.publish(SystemEvent::HostDown {
            host: host.to_owned(),
            reason: reason.to_owned(),
        });
    }

    /// Answers every pending request to a target that `gone` selects with `reason` (a peer
    /// host went away): each requester gets its one error callback now.
    pub fn fail_requests_where(
        &self,
        gone: impl Fn(&ComponentId) -> bool,
        reason: &wasm_core::ErrorCallback,
    ) {
        self.delivery.fail_requests_where(gone, reason);
    }
}

impl MessageRouter for Router {
    fn send(&self, from: &ComponentId, to: &ComponentId, payload: MessagePayload) -> Routed<()> {
        self.delivery.send(from, to, payload)
    }

    fn request(
        &self,
        from: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
        timeout: Duration,
    ) -> Routed<CorrelationId> {
        self.delivery.request(
            Requester::Component(from.clone()),
            from,
            to,
            payload,
            timeout,
        )
    }

    fn cancel_request(&self, from: &ComponentId, id: &CorrelationId) -> Result<(), MessagingError> {
        self.delivery.cancel(from, id)
    }

    fn broadcast(
        &self,
        from: &ComponentId,
        targets: &[ComponentId],
        payload: MessagePayload,
    ) -> Routed<()> {
        self.delivery.broadcast(from, targets, payload)
    }
}
