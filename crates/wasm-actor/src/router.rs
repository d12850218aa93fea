//! The router: the public handle on delivery.
//!
//! It implements `wasm-core`'s [`MessageRouter`] for the runtime's host functions and offers a
//! cluster transport the inbound side (messages and answers from other hosts). All the work
//! is done by the delivery module, which owns every envelope.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use wasm_core::{
    CallError, CallFuture, ComponentId, ComponentInfo, ComponentMessage, CorrelationId,
    ErrorCallback, MessagePayload, MessageRouter, MessagingError, Routed, TraceContext,
};

use crate::delivery::{Delivery, Requester};
use crate::events::SystemEvent;
use crate::seam::{FromRemote, Outcome};

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
    /// this host. Never refuses to the caller: a request that cannot be queued is answered
    /// through its reply (`target-not-found`, or `target-failed` for a full mailbox), any
    /// other message that cannot be is reported here as a dead letter. `from.receipt` is
    /// dropped once the message is done with (handled, answered unstarted, reported, or
    /// dropped when this host loses its lease).
    pub fn deliver_remote(&self, to: &ComponentId, message: ComponentMessage, from: FromRemote) {
        self.delivery.deliver_remote(to, message, from);
    }

    /// As [`Router::deliver_remote`] for a run of messages to one target, in order: one
    /// lookup, one lock of its mailbox and one wake-up for all of them.
    pub fn deliver_remote_run(&self, to: &ComponentId, run: Vec<(ComponentMessage, FromRemote)>) {
        self.delivery.deliver_remote_run(to, run);
    }

    /// Holds up to `wanted` free slots in the mailbox of `to` for messages another host will
    /// send ([`FromRemote::held`]); returns how many it holds (0 when it is full).
    ///
    /// # Errors
    ///
    /// [`MessagingError::TargetNotFound`] if `to` is not registered here.
    pub fn hold_for_remote(
        &self,
        to: &ComponentId,
        wanted: usize,
    ) -> Result<usize, MessagingError> {
        self.delivery.hold_for_remote(to, wanted)
    }

    /// Gives back `n` slots held in the mailbox of `to`.
    pub fn release_for_remote(&self, to: &ComponentId, n: usize) {
        self.delivery.release_for_remote(to, n);
    }

    /// The mailbox capacity of `to`, if it is registered here.
    pub fn mailbox_capacity(&self, to: &ComponentId) -> Option<usize> {
        self.delivery.capacity_of(to)
    }

    /// Whether `id` is registered on this host.
    pub fn is_local(&self, id: &ComponentId) -> bool {
        self.delivery.capacity_of(id).is_some()
    }

    /// Reports a message this host sent to `target` on another host that will not be handled
    /// there (that host was lost before it said so), as a dead letter here.
    pub fn report_undelivered(
        &self,
        target: &ComponentId,
        sender: &ComponentId,
        payload: MessagePayload,
        reason: String,
    ) {
        self.delivery
            .report_undelivered(target, sender, payload, reason);
    }

    /// This host may serve its components until `deadline`, no later (the transport's lease
    /// allows it). Components start no call past it until it is moved again.
    pub fn serve_until(&self, deadline: Instant) {
        if let Some(fence) = self.delivery.fence() {
            fence.serve_until(deadline);
        }
    }

    /// This host lost its lease: every message from another host still queued here is
    /// dropped unhandled, other hosts' requests are dropped unanswered, and every request
    /// made from this host to another host is answered `target-failed` with `reason`.
    /// Returns how many queued messages were dropped.
    pub fn lease_lost(&self, reason: &str) -> usize {
        self.delivery.lease_lost(reason)
    }

    /// Another host holds `id` now: its registration here is withdrawn (what is queued is
    /// answered or reported) and its instance stops after the message in hand, with no
    /// restart.
    pub fn evict(&self, id: &ComponentId, reason: &str) {
        self.delivery.evict(id, reason);
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

    fn call(
        &self,
        from: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
        timeout: Duration,
        trace: Option<TraceContext>,
    ) -> CallFuture {
        // The caller's own trace, or the traced call it runs inside (an actor's).
        let trace = trace.or_else(crate::trace::current);
        let asked =
            crate::trace::sync_scope(trace, || self.host_request(from, to, payload, timeout));
        Box::pin(async move {
            let answer = asked.finish().await.map_err(CallError::NotSent)?;
            match answer.await {
                Ok(outcome) => outcome.map_err(CallError::Answered),
                // The pending table went with the system: nothing will answer.
                Err(_) => Err(CallError::Answered(ErrorCallback::TargetStopped)),
            }
        })
    }
}
