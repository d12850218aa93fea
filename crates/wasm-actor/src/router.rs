//! The router: delivers messages between components and from the host, and answers requests.
//!
//! It implements `wasm-core`'s [`MessageRouter`] for the runtime's host functions. Delivery is
//! in-process through the registry; a [`RemoteTransport`] is consulted only for ids that are not
//! registered here, so local delivery never pays for it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use wasm_core::{
    ComponentId, ComponentMessage, CorrelationId, ERROR_CONTENT_TYPE, ErrorCallback,
    MessageMetadata, MessagePayload, MessageRouter, MessagingError, Timestamp,
};

use crate::correlation::{Correlations, Outcome, Pending, Requester, format_id, parse_id};
use crate::events::{EventBus, SystemEvent};
use crate::mailbox::{Envelope, Mailbox, Refused};
use crate::registry::{ComponentRegistry, Slot};
use crate::stats::{Counters, bump};

/// Delivers messages to components that live in another host. The seam for a future remote
/// transport; none is built in.
pub trait RemoteTransport: Send + Sync + fmt::Debug {
    /// Delivers `message` to `to`, which is not registered in this host. A request carries its
    /// correlation id and `reply-to` in the metadata.
    ///
    /// # Errors
    ///
    /// [`MessagingError::TargetNotFound`] if no peer has `to`, or any delivery failure.
    fn deliver(&self, to: &ComponentId, message: ComponentMessage) -> Result<(), MessagingError>;
}

/// Routes messages between the components of one host. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Router {
    pub(crate) inner: Arc<RouterInner>,
}

#[derive(Debug)]
pub(crate) struct RouterInner {
    pub(crate) registry: Arc<ComponentRegistry>,
    pub(crate) correlations: Correlations,
    pub(crate) events: EventBus,
    pub(crate) remote: Option<Arc<dyn RemoteTransport>>,
    pub(crate) counters: Arc<Counters>,
}

fn refused(to: &ComponentId, refused: Refused) -> MessagingError {
    match refused {
        Refused::Full => MessagingError::QueueFull,
        Refused::Closed => MessagingError::TargetNotFound(to.clone()),
    }
}

/// A message from `from`; a request when it carries its correlation id.
fn message(
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
        },
    }
}

/// A request's number and its text form.
type Correlation = (u64, CorrelationId);

impl RouterInner {
    /// Queues a message (or request) for `to`, locally or through the remote transport.
    fn deliver(
        &self,
        from: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
    ) -> Result<(), MessagingError> {
        self.deliver_to(self.registry.get(to), from, to, payload, None)
    }

    /// As [`RouterInner::deliver`], with `to`'s slot already looked up.
    fn deliver_to(
        &self,
        slot: Option<Arc<Slot>>,
        from: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
        request: Option<Correlation>,
    ) -> Result<(), MessagingError> {
        let (request, correlation_id) = request.unzip();
        let message = message(from, payload, correlation_id);
        match slot {
            Some(slot) => slot
                .mailbox
                .push(Envelope::Message { message, request })
                .map_err(|r| refused(to, r)),
            None => match &self.remote {
                Some(remote) => remote.deliver(to, message),
                None => Err(MessagingError::TargetNotFound(to.clone())),
            },
        }
    }

    fn request(
        &self,
        requester: Requester,
        from: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
        timeout: Duration,
    ) -> Result<CorrelationId, MessagingError> {
        let slot = self.registry.get(to);
        if slot.is_none() && self.remote.is_none() {
            return Err(MessagingError::TargetNotFound(to.clone()));
        }
        // Registered before delivery so a fast reply always finds its entry.
        let n = self.correlations.register(requester, to.clone(), timeout)?;
        let id = format_id(n);
        if let Err(error) = self.deliver_to(slot, from, to, payload, Some((n, id.clone()))) {
            self.correlations.take(n);
            return Err(error);
        }
        Ok(id)
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

    /// Answers every pending request with `target-stopped` (at shutdown), so no requester,
    /// local or waiting on a remote target, hangs.
    pub(crate) fn fail_all(&self) {
        for (n, pending) in self.correlations.take_all() {
            self.answer(n, pending, Err(ErrorCallback::TargetStopped));
        }
    }

    /// Answers request `n` with an error callback if it is still pending.
    pub(crate) fn fail(&self, n: u64, reason: ErrorCallback) {
        if let Some(pending) = self.correlations.take(n) {
            self.answer(n, pending, Err(reason));
        }
    }

    /// Answers every pending request addressed to `target` with `reason`.
    pub(crate) fn fail_requests_to(&self, target: &ComponentId, reason: &ErrorCallback) {
        for (n, pending) in self.correlations.take_for_target(target) {
            self.answer(n, pending, Err(reason.clone()));
        }
    }

    /// Delivers the outcome; the request's unit of work is given up only afterwards (when
    /// `pending` drops), so a queued callback keeps the system busy without a gap.
    pub(crate) fn answer(&self, n: u64, pending: Pending, outcome: Outcome) {
        bump(&self.counters.requests_answered);
        match pending.requester {
            Requester::Host(reply) => {
                // The host may have stopped waiting; nothing else to tell.
                let _ = reply.send(outcome);
            }
            Requester::Component(requester) => {
                let (payload, content_type) = match outcome {
                    Ok(payload) => (payload, None),
                    Err(error) => (error.to_payload(), Some(ERROR_CONTENT_TYPE.to_owned())),
                };
                let callback = ComponentMessage {
                    sender: pending.target,
                    payload,
                    metadata: MessageMetadata {
                        correlation_id: Some(format_id(n)),
                        reply_to: None,
                        timestamp: Timestamp::now(),
                        content_type,
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
                    self.events.publish(SystemEvent::DeadLetter {
                        target: requester,
                        sender: callback.sender,
                        payload: callback.payload,
                        reason: "the requester stopped before its callback arrived".into(),
                    });
                }
            }
        }
    }
}

impl Router {
    pub(crate) fn new(
        registry: Arc<ComponentRegistry>,
        correlations: Correlations,
        events: EventBus,
        remote: Option<Arc<dyn RemoteTransport>>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            inner: Arc::new(RouterInner {
                registry,
                correlations,
                events,
                remote,
                counters,
            }),
        }
    }

    /// A request from the embedding host: the receiver resolves to the outcome.
    pub(crate) fn host_request(
        &self,
        host: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
        timeout: Duration,
    ) -> Result<oneshot::Receiver<Outcome>, MessagingError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .request(Requester::Host(tx), host, to, payload, timeout)?;
        Ok(rx)
    }

    /// Replies that arrived after their request timed out or was cancelled.
    pub fn late_replies(&self) -> u64 {
        self.inner.correlations.late()
    }

    /// Requests waiting for an answer.
    pub fn pending_requests(&self) -> usize {
        self.inner.correlations.pending()
    }
}

impl MessageRouter for Router {
    fn send(
        &self,
        from: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
    ) -> Result<(), MessagingError> {
        self.inner.deliver(from, to, payload)
    }

    fn request(
        &self,
        from: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
        timeout: Duration,
    ) -> Result<CorrelationId, MessagingError> {
        self.inner.request(
            Requester::Component(from.clone()),
            from,
            to,
            payload,
            timeout,
        )
    }

    fn cancel_request(&self, from: &ComponentId, id: &CorrelationId) -> Result<(), MessagingError> {
        match parse_id(id) {
            Some(n) if self.inner.correlations.cancel(from, n) => Ok(()),
            _ => Err(MessagingError::InvalidMessage(format!(
                "{from} has no pending request {id}"
            ))),
        }
    }

    fn broadcast(
        &self,
        from: &ComponentId,
        targets: &[ComponentId],
        payload: MessagePayload,
    ) -> Result<(), MessagingError> {
        let slots = targets
            .iter()
            .map(|t| {
                self.inner
                    .registry
                    .get(t)
                    .ok_or_else(|| MessagingError::TargetNotFound(t.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mailboxes: Vec<&Mailbox> = slots.iter().map(|s| &s.mailbox).collect();
        Mailbox::push_all(&mailboxes, || Envelope::Message {
            message: message(from, payload.clone(), None),
            request: None,
        })
        .map_err(|(i, r)| refused(&targets[i], r))
    }
}
