//! Delivery: the one owner of an envelope from the push to its answer.
//!
//! This module looks targets up, pushes into mailboxes (or hands a message to the remote
//! transport for a target on another host), keeps the pending-request table and its timer,
//! and is the only place where a request is answered and where an envelope that cannot be
//! delivered is reported as a dead letter. Actors, the spawner and supervisors tell it what
//! happened (a call returned, an instance failed, a component was retired); they never reach
//! into its state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasm_core::{
    ComponentId, ComponentInfo, ComponentMessage, CorrelationId, ERROR_CONTENT_TYPE, ErrorCallback,
    MessageMetadata, MessagePayload, MessagingError, Routed, Timestamp,
};

use crate::events::{EventBus, SystemEvent};
use crate::fence::Fence;
use crate::mailbox::{Envelope, Mailbox, Refused};
use crate::registry::{ComponentRegistry, Slot};
use crate::seam::{Outcome, RemoteLink};
use crate::stats::{Counters, bump};

mod correlation;
mod remote;
mod timer;

pub(crate) use correlation::{Correlations, Requester};
use correlation::{Pending, format_id, parse_id};
pub(crate) use timer::run_timers;

#[derive(Debug)]
pub(crate) struct Delivery {
    registry: Arc<ComponentRegistry>,
    correlations: Correlations,
    events: EventBus,
    remote: Option<Arc<dyn RemoteLink>>,
    /// With a transport: until when this host may serve its components.
    fence: Option<Fence>,
    counters: Arc<Counters>,
}

fn refused(to: &ComponentId, refused: Refused) -> MessagingError {
    match refused {
        Refused::Full => MessagingError::QueueFull,
        Refused::Closed => MessagingError::TargetNotFound(to.clone()),
    }
}

/// A message from `from`; a request when it carries its correlation id.
pub(crate) fn message(
    from: &ComponentId,
    payload: MessagePayload,
    correlation_id: Option<CorrelationId>,
) -> ComponentMessage {
    ComponentMessage {
        sender: from.clone(),
        payload,
        metadata: MessageMetadata {
            reply_to: correlation_id.as_ref().map(|_| from.clone()),
            correlation_id,
            timestamp: Timestamp::now(),
            content_type: None,
            trace: crate::trace::current(),
        },
    }
}

impl Delivery {
    pub(crate) fn new(
        registry: Arc<ComponentRegistry>,
        correlations: Correlations,
        events: EventBus,
        remote: Option<Arc<dyn RemoteLink>>,
        counters: Arc<Counters>,
    ) -> Self {
        let fence = remote.as_ref().map(|_| Fence::new());
        Self {
            registry,
            correlations,
            events,
            remote,
            fence,
            counters,
        }
    }

    /// The fence, with a transport.
    pub(crate) fn fence(&self) -> Option<&Fence> {
        self.fence.as_ref()
    }

    pub(crate) fn remote(&self) -> Option<&Arc<dyn RemoteLink>> {
        self.remote.as_ref()
    }

    pub(crate) fn local_components(&self) -> Vec<ComponentInfo> {
        self.registry
            .ids()
            .iter()
            .filter_map(|id| self.registry.get(id).map(|slot| slot.info()))
            .collect()
    }

    pub(crate) fn publish(&self, event: SystemEvent) {
        self.events.publish(event);
    }

    /// Queues a fire-and-forget message for `to`, here or on another host.
    pub(crate) fn send(
        &self,
        from: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
    ) -> Routed<()> {
        let message = message(from, payload, None);
        match self.registry.get(to) {
            Some(slot) => Routed::Done(
                slot.mailbox
                    .push(Envelope::Message {
                        message,
                        request: None,
                        receipt: None,
                    })
                    .map_err(|r| refused(to, r)),
            ),
            None => match &self.remote {
                Some(remote) => remote.send(to, message),
                None => Routed::Done(Err(MessagingError::TargetNotFound(to.clone()))),
            },
        }
    }

    /// As [`Delivery::send`], but a full local mailbox is waited on, up to `timeout`, instead
    /// of refused at once. A component on another host is sent to as by `send` (its host
    /// applies its own flow control).
    pub(crate) async fn send_waiting(
        &self,
        from: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
        timeout: Duration,
    ) -> Result<(), MessagingError> {
        let message = message(from, payload, None);
        match self.registry.get(to) {
            Some(slot) => slot
                .mailbox
                .push_waiting(
                    Envelope::Message {
                        message,
                        request: None,
                        receipt: None,
                    },
                    timeout,
                )
                .await
                .map_err(|r| refused(to, r.0)),
            None => match &self.remote {
                Some(remote) => remote.send(to, message).finish().await,
                None => Err(MessagingError::TargetNotFound(to.clone())),
            },
        }
    }

    /// Registers a request and queues it for `to`. The entry is registered before delivery so
    /// a fast reply always finds it, and taken back if delivery is refused (no callback then).
    pub(crate) fn request(
        self: &Arc<Self>,
        requester: Requester,
        from: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
        timeout: Duration,
    ) -> Routed<CorrelationId> {
        let slot = self.registry.get(to);
        if slot.is_none() && self.remote.is_none() {
            return Routed::Done(Err(MessagingError::TargetNotFound(to.clone())));
        }
        let message = message(from, payload, None);
        let traced = message.metadata.trace;
        let n = match self
            .correlations
            .register_traced(requester, to.clone(), timeout, traced)
        {
            Ok(n) => n,
            Err(error) => return Routed::Done(Err(error)),
        };
        let id = format_id(n);
        let mut message = message;
        message.metadata.reply_to = Some(from.clone());
        message.metadata.correlation_id = Some(id.clone());
        let Some(slot) = slot else {
            let remote = self
                .remote
                .as_ref()
                .map(|r| r.request(to, message, timeout));
            return match remote {
                Some(Routed::Done(result)) => Routed::Done(self.queued_or_withdrawn(n, result, id)),
                Some(Routed::Later(future)) => {
                    let delivery = Arc::clone(self);
                    Routed::Later(Box::pin(async move {
                        let result = future.await;
                        delivery.queued_or_withdrawn(n, result, id)
                    }))
                }
                None => Routed::Done(Err(MessagingError::TargetNotFound(to.clone()))),
            };
        };
        let pushed = slot
            .mailbox
            .push(Envelope::Message {
                message,
                request: Some(n),
                receipt: None,
            })
            .map_err(|r| refused(to, r));
        Routed::Done(self.queued_or_withdrawn(n, pushed, id))
    }

    /// The request's id once it is queued; a refused request leaves the table unanswered.
    fn queued_or_withdrawn(
        &self,
        n: u64,
        queued: Result<(), MessagingError>,
        id: CorrelationId,
    ) -> Result<CorrelationId, MessagingError> {
        match queued {
            Ok(()) => Ok(id),
            Err(error) => {
                self.correlations.take(n);
                Err(error)
            }
        }
    }

    /// Cancels a pending request `from` made; no callback follows.
    pub(crate) fn cancel(
        &self,
        from: &ComponentId,
        id: &CorrelationId,
    ) -> Result<(), MessagingError> {
        match parse_id(id) {
            Some(n) if self.correlations.cancel(from, n) => Ok(()),
            _ => Err(MessagingError::InvalidMessage(format!(
                "{from} has no pending request {id}"
            ))),
        }
    }

    /// Queues one message in every target's mailbox, or in none. With targets on other
    /// hosts, the transport holds a slot in each of their mailboxes first, then the local ones
    /// are pushed together, then the remote ones go into their held slots, which cannot be
    /// refused for capacity (see [`RemoteLink::broadcast`]).
    pub(crate) fn broadcast(
        &self,
        from: &ComponentId,
        targets: &[ComponentId],
        payload: MessagePayload,
    ) -> Routed<()> {
        let mut slots = Vec::with_capacity(targets.len());
        let mut local = Vec::with_capacity(targets.len());
        let mut remote_targets = Vec::new();
        for target in targets {
            match self.registry.get(target) {
                Some(slot) => {
                    slots.push(slot);
                    local.push(target.clone());
                }
                None if self.remote.is_some() => remote_targets.push(target.clone()),
                None => return Routed::Done(Err(MessagingError::TargetNotFound(target.clone()))),
            }
        }
        let push_local = move |from: &ComponentId, payload: &MessagePayload| {
            let mailboxes: Vec<&Mailbox> = slots.iter().map(|s| &s.mailbox).collect();
            Mailbox::push_all(&mailboxes, || Envelope::Message {
                message: message(from, payload.clone(), None),
                request: None,
                receipt: None,
            })
            .map_err(|(i, r)| refused(&local[i], r))
        };
        let remote = match (&self.remote, remote_targets.is_empty()) {
            (Some(remote), false) => remote,
            _ => return Routed::Done(push_local(from, &payload)),
        };
        let sent = message(from, payload.clone(), None);
        let from = from.clone();
        remote.broadcast(
            &remote_targets,
            sent,
            Box::new(move || push_local(&from, &payload)),
        )
    }

    /// The answer, from another host, to request `id` that a component of this host made.
    pub(crate) fn complete_remote(&self, id: &CorrelationId, outcome: Outcome) {
        match parse_id(id) {
            Some(n) => self.complete(n, outcome),
            None => tracing::warn!(correlation = %id, "an answer for an id this host never made"),
        }
    }

    /// Answers request `n` with the target's outcome. A reply to a request that already timed
    /// out or was cancelled is dropped and counted.
    pub(crate) fn complete(&self, n: u64, outcome: Outcome) {
        match self.correlations.take(n) {
            Some(pending) => self.answer(n, pending, outcome),
            None => {
                self.correlations.count_late();
                tracing::debug!(correlation = n, "late reply dropped");
            }
        }
    }

    /// Answers request `n` with an error callback if it is still pending.
    pub(crate) fn fail(&self, n: u64, reason: ErrorCallback) {
        if let Some(pending) = self.correlations.take(n) {
            self.answer(n, pending, Err(reason));
        }
    }

    /// Answers every pending request addressed to a target `gone` selects with `reason`.
    pub(crate) fn fail_requests_where(
        &self,
        gone: impl Fn(&ComponentId) -> bool,
        reason: &ErrorCallback,
    ) {
        for (n, pending) in self.correlations.take_where(gone) {
            self.answer(n, pending, Err(reason.clone()));
        }
    }

    /// Answers every pending request with `target-stopped` (at shutdown), so no requester,
    /// local or waiting on a remote target, hangs.
    pub(crate) fn fail_all(&self) {
        for (n, pending) in self.correlations.take_all() {
            self.answer(n, pending, Err(ErrorCallback::TargetStopped));
        }
    }

    /// Answers every request whose deadline has passed with `timeout`; returns the next
    /// deadline (for the timer task).
    pub(crate) fn expire(&self, now: Instant) -> Option<Instant> {
        let (expired, next) = self.correlations.take_expired(now);
        for (n, pending) in expired {
            self.answer(n, pending, Err(ErrorCallback::Timeout));
        }
        next
    }

    /// The instance handling `message` (for request `request`, if any) failed or was killed:
    /// the request is answered `target-failed` and the message reported as a dead letter.
    pub(crate) fn failed_in_call(
        &self,
        target: &ComponentId,
        message: &ComponentMessage,
        request: Option<u64>,
        reason: &str,
    ) {
        if let Some(n) = request {
            self.fail(n, ErrorCallback::TargetFailed(reason.to_owned()));
        }
        self.dead_letter(
            target,
            &message.sender,
            message.payload.clone(),
            reason.to_owned(),
        );
    }

    /// A component stopped for good: its mailbox is closed, queued requests are answered
    /// `target-stopped`, queued messages become dead letters, and every request still pending
    /// to it is answered `target-stopped`.
    pub(crate) fn retire(&self, slot: &Slot, reason: &str) {
        let id = slot.id().clone();
        // Only this slot: a component started again under the id meanwhile stays.
        if self.registry.remove_slot(slot)
            && let Some(remote) = &self.remote
        {
            remote.unregister(&id);
        }
        for envelope in slot.mailbox.close() {
            match envelope {
                Envelope::Message {
                    request: Some(n), ..
                } => self.fail(n, ErrorCallback::TargetStopped),
                Envelope::Message { message, .. } | Envelope::Callback(message) => {
                    self.dead_letter(
                        &id,
                        &message.sender,
                        message.payload,
                        format!("{id} stopped: {reason}"),
                    );
                }
            }
        }
        self.fail_requests_where(|target| target == &id, &ErrorCallback::TargetStopped);
    }

    /// The one place a message that will not be handled is reported.
    fn dead_letter(
        &self,
        target: &ComponentId,
        sender: &ComponentId,
        payload: MessagePayload,
        reason: String,
    ) {
        self.events.publish(SystemEvent::DeadLetter {
            target: target.clone(),
            sender: sender.clone(),
            payload,
            reason,
        });
    }

    /// Delivers the outcome; the request's unit of work is given up only afterwards (when
    /// `pending` drops), so a queued callback keeps the system busy without a gap.
    fn answer(&self, n: u64, pending: Pending, outcome: Outcome) {
        bump(&self.counters.requests_answered);
        let Pending {
            requester,
            target,
            trace,
            _work,
            ..
        } = pending;
        match requester {
            Requester::Host(reply) => {
                // The host may have stopped waiting; nothing else to tell.
                let _ = reply.send(outcome);
            }
            Requester::Remote(reply) => reply.answer(outcome),
            Requester::Component(requester) => {
                let (payload, content_type) = match outcome {
                    Ok(payload) => (payload, None),
                    Err(error) => (error.to_payload(), Some(ERROR_CONTENT_TYPE.to_owned())),
                };
                let callback = ComponentMessage {
                    sender: target,
                    payload,
                    metadata: MessageMetadata {
                        correlation_id: Some(format_id(n)),
                        reply_to: None,
                        timestamp: Timestamp::now(),
                        content_type,
                        // The requesting span: the callback's span is linked to it.
                        trace,
                    },
                };
                let envelope = Envelope::Callback(callback);
                let refused = match self.registry.get(&requester) {
                    Some(slot) => slot
                        .mailbox
                        .try_push(envelope)
                        .err()
                        .map(|refused| refused.1),
                    None => Some(envelope),
                };
                if let Some(Envelope::Callback(callback)) = refused {
                    self.dead_letter(
                        &requester,
                        &callback.sender,
                        callback.payload,
                        "the requester stopped before its callback arrived".into(),
                    );
                }
            }
        }
        drop(_work);
    }

    /// Replies that arrived after their request timed out or was cancelled.
    pub(crate) fn late_replies(&self) -> u64 {
        self.correlations.late()
    }

    /// Requests waiting for an answer.
    pub(crate) fn pending_requests(&self) -> usize {
        self.correlations.pending()
    }
}
