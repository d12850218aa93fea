//! The messages of a window of credit, taken once and in order and delivered to their
//! targets, and the answers to this host's requests.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::Operation;
use wasm_actor::{FromRemote, Outcome, Receipt, RemoteReply, Router};
use wasm_core::{ComponentId, CorrelationId, ErrorCallback, MessagingError};

use crate::acks::window_receipt;
use crate::credit::release;
use crate::frame::{Code, Frame, WireMsg};
use crate::peer::Peer;
use crate::stats::add;
use crate::transport::Inner;
use crate::window::Arrival;

impl Inner {
    /// Messages of a window arrive.
    pub(super) async fn data(
        self: &Arc<Self>,
        router: &Router,
        peer: &Arc<Peer>,
        window: u64,
        target: ComponentId,
        first_seq: u64,
        messages: Vec<WireMsg>,
    ) {
        let mut checked = Vec::with_capacity(messages.len());
        for wire in messages {
            let refusal = self.check_sender(peer, &wire.message.sender).await.err();
            checked.push((wire, refusal));
        }
        let now = Instant::now();
        let mut incoming = peer.incoming.lock();
        let Some((state, tally)) = incoming.windows.get_mut(&window) else {
            drop(incoming);
            tracing::debug!(host = %peer.host, window, "messages on a window this host does not know");
            for (wire, refusal) in checked {
                match refusal {
                    None => self.deliver(router, peer, &target, wire, false, Receipt::new(())),
                    Some(reason) => refuse(router, peer, self, &target, wire, reason),
                }
            }
            return;
        };
        let tally = tally.clone();
        let mut deliveries = Vec::with_capacity(checked.len());
        for (i, (wire, refusal)) in checked.into_iter().enumerate() {
            let seq = first_seq + i as u64;
            match state.arrive(seq, now) {
                Arrival::Duplicate => add(&self.stats.duplicates, 1),
                Arrival::Gap => break,
                Arrival::Refuse => {
                    let reason = state.closed.clone().unwrap_or_default();
                    deliveries.push((wire, false, Some(reason)));
                }
                Arrival::Deliver { held } => deliveries.push((wire, held, refusal)),
            }
        }
        drop(incoming);
        add(&self.stats.received, deliveries.len() as u64);
        let mut run = Vec::with_capacity(deliveries.len());
        for (wire, held, refusal) in deliveries {
            match refusal {
                // Into its held slot, the message keeps the room it has until it is taken.
                None => {
                    let receipt = window_receipt(&tally, held);
                    run.extend(self.prepare(router, peer, &target, wire, held, receipt));
                }
                Some(reason) => {
                    if held {
                        router.release_for_remote(&target, 1);
                        release(&tally.share, 1);
                    }
                    // Dropped once reported: the sender learns it is done.
                    let _receipt = window_receipt(&tally, false);
                    refuse(router, peer, self, &target, wire, reason);
                }
            }
        }
        if !run.is_empty() {
            router.deliver_remote_run(&target, run);
        }
        // What arrived is acknowledged even when nothing moved (a message sent again).
        self.acks.window(&tally);
    }

    /// Queues one message from `peer` for `target` (see [`Inner::prepare`]).
    pub(super) fn deliver(
        self: &Arc<Self>,
        router: &Router,
        peer: &Arc<Peer>,
        target: &ComponentId,
        wire: WireMsg,
        held: bool,
        receipt: Receipt,
    ) {
        if let Some((message, from)) = self.prepare(router, peer, target, wire, held, receipt) {
            router.deliver_remote(target, message, from);
        }
    }

    /// What to queue of one message from `peer` for `target`: a request with its reply and
    /// what is left of its requester's deadline (none left: nothing to queue, counted).
    pub(super) fn prepare(
        self: &Arc<Self>,
        router: &Router,
        peer: &Arc<Peer>,
        target: &ComponentId,
        wire: WireMsg,
        held: bool,
        receipt: Receipt,
    ) -> Option<(wasm_core::ComponentMessage, FromRemote)> {
        let reply = match (&wire.message.metadata.correlation_id, wire.deadline_ms) {
            (Some(correlation), Some(deadline)) => {
                let left = deadline.saturating_sub(Self::now_ms());
                if left == 0 {
                    add(&self.stats.expired, 1);
                    if held {
                        router.release_for_remote(target, 1);
                    }
                    return None;
                }
                let reply = NatsReply {
                    inner: Arc::downgrade(self),
                    host: peer.host.clone(),
                    incarnation: peer.incarnation,
                    correlation: correlation.clone(),
                };
                Some((
                    Box::new(reply) as Box<dyn RemoteReply>,
                    Duration::from_millis(left),
                ))
            }
            _ => None,
        };
        let mut message = wire.message;
        message.metadata.correlation_id = None;
        Some((
            message,
            FromRemote {
                reply,
                held,
                receipt,
            },
        ))
    }

    /// A host may speak only for its own components and its embedder. A sender the
    /// directory names as run by another live incarnation is checked on the server before
    /// it is refused (the directory may be a beat behind).
    pub(super) async fn check_sender(
        &self,
        peer: &Peer,
        sender: &ComponentId,
    ) -> std::result::Result<(), String> {
        if sender == &ComponentId::host() {
            return Ok(());
        }
        match self.directory.owner(sender) {
            Some(owner) if *owner.host == *peer.host && owner.incarnation == peer.incarnation => {
                Ok(())
            }
            Some(owner) => {
                let store = &self.store;
                let fresh = store
                    .entry(&store.owners, &crate::subject::owner_key(sender))
                    .await
                    .ok()
                    .flatten()
                    .filter(|e| e.operation == Operation::Put)
                    .and_then(|e| crate::records::OwnerRecord::decode(&e.value).ok());
                match fresh {
                    Some(record)
                        if record.host == peer.host && record.incarnation == peer.incarnation =>
                    {
                        Ok(())
                    }
                    _ => {
                        add(&self.stats.forged, 1);
                        Err(format!(
                            "host `{}` sent a message as {sender}, which runs on host `{}`",
                            peer.host, owner.host
                        ))
                    }
                }
            }
            None => Ok(()),
        }
    }

    pub(super) fn answered(
        &self,
        router: &Router,
        peer: &Peer,
        incarnation: u64,
        correlation: &CorrelationId,
        outcome: Outcome,
    ) {
        let asked = {
            let mut asked = self.asked.lock();
            match asked.get(correlation) {
                Some(a) if a.peer == peer.key() && incarnation == self.incarnation() => {
                    asked.remove(correlation)
                }
                _ => None,
            }
        };
        if asked.is_some() {
            router.answer_from_remote(correlation, outcome);
        } else {
            add(&self.stats.misrouted, 1);
            tracing::debug!(host = %peer.host, %correlation, "an answer to no request sent to its host dropped");
        }
    }
}

/// A message that will not be queued: a request is answered with the reason (its requester
/// is told), anything else is a dead letter here.
pub(super) fn refuse(
    router: &Router,
    peer: &Peer,
    inner: &Arc<Inner>,
    target: &ComponentId,
    wire: WireMsg,
    reason: String,
) {
    match (&wire.message.metadata.correlation_id, wire.deadline_ms) {
        (Some(correlation), Some(_)) => {
            let reply = NatsReply {
                inner: Arc::downgrade(inner),
                host: peer.host.clone(),
                incarnation: peer.incarnation,
                correlation: correlation.clone(),
            };
            Box::new(reply).answer(Err(ErrorCallback::TargetFailed(format!(
                "{target} refused it: {reason}"
            ))));
        }
        _ => router.report_undelivered(
            target,
            &wire.message.sender,
            wire.message.payload,
            format!("refused on arrival from host `{}`: {reason}", peer.host),
        ),
    }
}

/// The error a refused ask or hold means to the sender.
pub(super) fn refusal(
    code: Code,
    target: &ComponentId,
    host: &str,
    detail: &str,
) -> MessagingError {
    match code {
        Code::QueueFull => MessagingError::QueueFull,
        Code::NotFound | Code::Stale => MessagingError::TargetNotFound(target.clone()),
        Code::Ok | Code::Invalid => {
            MessagingError::DeliveryFailed(format!("host `{host}` refused it: {detail}"))
        }
    }
}

/// Where the answer to a request from another host goes: that incarnation's inbox.
#[derive(Debug)]
pub(crate) struct NatsReply {
    inner: Weak<Inner>,
    host: String,
    incarnation: u64,
    correlation: CorrelationId,
}

impl RemoteReply for NatsReply {
    fn answer(self: Box<Self>, outcome: Outcome) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        if !inner.directory.is_member(&self.host, self.incarnation)
            && !inner
                .confirmed
                .lock()
                .contains(&(self.host.clone(), self.incarnation))
        {
            // Its requester's incarnation ended: it was answered then.
            return;
        }
        let peer = inner.peer(&self.host, self.incarnation);
        let frame = Frame::Answer {
            incarnation: self.incarnation,
            correlation: self.correlation,
            outcome,
        };
        if peer.outgoing.lock().push(&frame) {
            inner.wake_writer(&peer);
        }
    }
}
