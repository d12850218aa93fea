//! What comes in on a local component's subject: the sender is checked, the message pushed
//! (or a slot held or used), and the acknowledgement sent; a request's answer goes back to
//! the requesting host through [`NatsReply`].

use std::sync::Arc;

use async_nats::{HeaderMap, Message};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use wasm_actor::{Outcome, RemoteReply};
use wasm_core::{ComponentId, CorrelationId, MessagingError};

use super::{Inner, Outgoing};
use crate::wire::{self, Kind};

impl Inner {
    /// Serves one local component's subject until it is unregistered.
    pub(super) async fn serve(
        self: Arc<Self>,
        id: ComponentId,
        mut subscriber: async_nats::Subscriber,
    ) {
        while let Some(message) = subscriber.next().await {
            self.on_message(&id, message).await;
        }
    }

    async fn on_message(&self, to: &ComponentId, message: Message) {
        let Some(reply_to) = message.reply.clone() else {
            self.on_unacknowledged(to, message).await;
            return;
        };
        let mut credit = None;
        let result = match wire::read_inbound(message.headers.as_ref(), &message.payload) {
            Err(detail) => {
                tracing::warn!(component = %to, %detail, "a malformed cluster message refused");
                wire::ack_value(&Err(MessagingError::InvalidMessage(detail)))
            }
            Ok(inbound) if inbound.kind == Kind::Probe => wire::RUNNING.to_owned(),
            Ok(inbound) => {
                let delivered = match self.check_sender(&inbound).await {
                    Ok(()) if inbound.kind == Kind::Send => {
                        let (host, spent) = (inbound.host.clone(), inbound.spent);
                        let queued = self.deliver_inbound(to, inbound);
                        if queued.is_ok()
                            && let Some(router) = self.router()
                        {
                            credit = Some(self.lent.settle_and_lend(router, &host, to, spent));
                        }
                        queued
                    }
                    Ok(()) => self.deliver_inbound(to, inbound),
                    Err(refusal) => {
                        tracing::warn!(component = %to, %refusal, "a cluster message refused");
                        Err(MessagingError::InvalidMessage(refusal))
                    }
                };
                wire::ack_value(&delivered)
            }
        };
        let mut headers = HeaderMap::new();
        headers.insert(wire::HOST, self.config.host.as_str());
        headers.insert(wire::RESULT, result.as_str());
        if let Some(credit) = credit {
            headers.insert(wire::CREDIT, credit.to_string().as_str());
        }
        if let Err(e) = self
            .client
            .publish_with_headers(reply_to, headers, Bytes::new())
            .await
        {
            tracing::warn!(component = %to, error = %e, "cannot acknowledge a cluster message");
        }
    }

    /// A message with no reply subject: only a send on credit comes so. It is checked like any
    /// other; what cannot be queued is reported, since nobody waits for an answer.
    async fn on_unacknowledged(&self, to: &ComponentId, message: Message) {
        match wire::read_inbound(message.headers.as_ref(), &message.payload) {
            Ok(inbound) if inbound.kind == Kind::Credited => {
                match self.check_sender(&inbound).await {
                    Ok(()) => {
                        if let Err(e) = self.deliver_inbound(to, inbound) {
                            tracing::warn!(component = %to, error = %e, "a message sent on credit was not queued");
                        }
                    }
                    Err(refusal) => {
                        tracing::warn!(component = %to, %refusal, "a message sent on credit refused");
                    }
                }
            }
            Ok(inbound) => {
                tracing::warn!(component = %to, kind = ?inbound.kind, "a message that must be acknowledged came with no reply subject; dropped");
            }
            Err(detail) => {
                tracing::warn!(component = %to, %detail, "a malformed cluster message dropped");
            }
        }
    }

    /// Pushes a checked inbound message into the local mailbox of `to` (or, for a
    /// `reserve`, holds a slot there; for a `credited`, uses one).
    fn deliver_inbound(
        &self,
        to: &ComponentId,
        inbound: wire::Inbound,
    ) -> std::result::Result<(), MessagingError> {
        let Some(router) = self.router() else {
            return Err(MessagingError::TargetNotFound(to.clone()));
        };
        match inbound.kind {
            Kind::Reserve => return self.loans.lend(router, &inbound.host, to),
            Kind::Release => {
                self.loans.give_back(router, &inbound.host, to);
                return Ok(());
            }
            Kind::Reserved if self.loans.repay(&inbound.host, to) => {
                router.deliver_reserved_from_remote(to, inbound.message, true);
                return Ok(());
            }
            Kind::Credited => {
                self.lent
                    .arrived(router, &inbound.host, to, inbound.message);
                return Ok(());
            }
            _ => {}
        }
        let reply = match (inbound.kind, inbound.correlation) {
            (Kind::Request, Some(correlation)) => {
                let reply = NatsReply {
                    subject: self.subjects.answers_of(&inbound.host),
                    correlation,
                    outbox: self.outbox.clone(),
                };
                Some((Box::new(reply) as Box<dyn RemoteReply>, inbound.timeout))
            }
            _ => None,
        };
        router.deliver_from_remote(to, inbound.message, reply)
    }

    /// A host may speak only for its own components (and for its embedder, whose id is the
    /// same on every host): the sender id must be one its heartbeats list, or one whose
    /// subject that host answers a probe for. Verified pairs are kept until the host is lost.
    async fn check_sender(&self, inbound: &wire::Inbound) -> std::result::Result<(), String> {
        let sender = &inbound.message.sender;
        let host = &inbound.host;
        if sender == &ComponentId::host() {
            return Ok(());
        }
        if self.senders.lock().get(sender) == Some(host)
            || self.peers.owner(sender).as_ref() == Some(host)
        {
            return Ok(());
        }
        // Not known for that host (a heartbeat may be a beat behind): ask the subject.
        match self.owner_of(sender).await? {
            Some(owner) if &owner == host => {
                self.senders.lock().insert(sender.clone(), owner);
                Ok(())
            }
            Some(owner) => Err(format!(
                "host `{host}` sent a message as {sender}, which runs on host `{owner}`"
            )),
            None => Err(format!(
                "host `{host}` sent a message as {sender}, which no host runs"
            )),
        }
    }
}

/// Where the answer to a request from another host goes: that host's answer subject.
#[derive(Debug)]
pub(super) struct NatsReply {
    subject: String,
    correlation: CorrelationId,
    outbox: mpsc::UnboundedSender<Outgoing>,
}

impl RemoteReply for NatsReply {
    fn answer(self: Box<Self>, outcome: Outcome) {
        let (payload, error) = match outcome {
            Ok(payload) => (payload, false),
            Err(reason) => (reason.to_payload(), true),
        };
        let out = Outgoing {
            subject: self.subject,
            headers: wire::answer_headers(&self.correlation, error),
            payload: Bytes::from(payload),
        };
        if self.outbox.send(out).is_err() {
            tracing::warn!(correlation = %self.correlation, "the cluster transport is closed; an answer is lost");
        }
    }
}
