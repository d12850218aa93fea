//! Delivery's side of the cluster seam: messages from other hosts, slots held for them, what
//! a host does when it loses its lease, and a component evicted because another host took
//! its id.

use std::sync::atomic::Ordering;

use wasm_core::{ComponentId, ComponentMessage, ErrorCallback, MessagePayload, MessagingError};

use super::Delivery;
use super::correlation::{Requester, format_id};
use crate::mailbox::{Envelope, Refused};
use crate::seam::{FromRemote, RemoteReply};
use crate::stats::bump;

impl Delivery {
    /// Queues a message from another host in the mailbox of `to`. Never refuses to the
    /// caller: a request that cannot be queued is answered through its reply (target not
    /// found, or failed for a full mailbox), any other message is reported as a dead letter.
    /// The receipt is dropped once the message is done with, whichever way.
    pub(crate) fn deliver_remote(
        &self,
        to: &ComponentId,
        message: ComponentMessage,
        from: FromRemote,
    ) {
        self.deliver_remote_run(to, vec![(message, from)]);
    }

    /// As [`Delivery::deliver_remote`] for a run of messages to one target, in order, under
    /// one lock of its mailbox.
    pub(crate) fn deliver_remote_run(
        &self,
        to: &ComponentId,
        run: Vec<(ComponentMessage, FromRemote)>,
    ) {
        let Some(slot) = self.registry.get(to) else {
            for (message, from) in run {
                refuse(self, to, message, from.reply, Refused::Closed);
            }
            return;
        };
        let mut envelopes = Vec::with_capacity(run.len());
        for (mut message, from) in run {
            let FromRemote {
                reply,
                held,
                receipt,
            } = from;
            let request = match reply {
                Some((reply, timeout)) => {
                    match self
                        .correlations
                        .register(Requester::Remote(reply), to.clone(), timeout)
                    {
                        Ok(n) => {
                            message.metadata.reply_to = Some(message.sender.clone());
                            message.metadata.correlation_id = Some(format_id(n));
                            Some(n)
                        }
                        // Shut down: nobody here will answer; its host hears of this one's end.
                        Err(error) => {
                            tracing::debug!(component = %to, %error, "a request from another host dropped at shutdown");
                            continue;
                        }
                    }
                }
                None => None,
            };
            let envelope = Envelope::Message {
                message,
                request,
                receipt: Some(receipt),
            };
            envelopes.push((envelope, held));
        }
        for (why, envelope) in slot.mailbox.push_run(envelopes) {
            if let Envelope::Message {
                message, request, ..
            } = envelope
            {
                match request {
                    Some(n) => self.fail(n, refusal_callback(to, why)),
                    None => self.dead_letter(
                        to,
                        &message.sender,
                        message.payload,
                        refusal_reason(to, why),
                    ),
                }
            }
        }
    }

    /// Holds up to `wanted` free slots in the mailbox of `to` for messages another host
    /// will send; returns how many it holds.
    pub(crate) fn hold_for_remote(
        &self,
        to: &ComponentId,
        wanted: usize,
    ) -> Result<usize, MessagingError> {
        let slot = self
            .registry
            .get(to)
            .ok_or_else(|| MessagingError::TargetNotFound(to.clone()))?;
        Ok(slot.mailbox.reserve(wanted))
    }

    /// Gives back `n` slots held in the mailbox of `to`.
    pub(crate) fn release_for_remote(&self, to: &ComponentId, n: usize) {
        if n > 0
            && let Some(slot) = self.registry.get(to)
        {
            slot.mailbox.release(n);
        }
    }

    /// The mailbox capacity of `to`, if it is registered here.
    pub(crate) fn capacity_of(&self, to: &ComponentId) -> Option<usize> {
        self.registry.get(to).map(|slot| slot.mailbox.capacity())
    }

    /// A message this host sent to another host's component will not be handled there (that
    /// host is lost, or refused it unread): reported here as a dead letter.
    pub(crate) fn report_undelivered(
        &self,
        target: &ComponentId,
        sender: &ComponentId,
        payload: MessagePayload,
        reason: String,
    ) {
        self.dead_letter(target, sender, payload, reason);
    }

    /// Whether request `n` still waits for its answer here.
    pub(crate) fn is_pending(&self, n: u64) -> bool {
        self.correlations.contains(n)
    }

    /// This host lost its lease in the cluster: its peers take it as gone, answer their own
    /// requesters and report what they sent it. So every message from another host still
    /// queued here is dropped unhandled, the requests of other hosts are dropped unanswered
    /// (their answers could only reach an incarnation that has ended), and each request a
    /// component or the embedder of this host made to another host is answered
    /// `target-failed` with `reason` (its answer would come to the old incarnation).
    /// Returns how many messages were dropped.
    pub(crate) fn lease_lost(&self, reason: &str) -> usize {
        let mut dropped = 0;
        for id in self.registry.ids() {
            if let Some(slot) = self.registry.get(&id) {
                let purged = slot.mailbox.take_remote();
                dropped += purged.len();
                for envelope in purged {
                    if let Envelope::Message {
                        request: Some(n), ..
                    } = envelope
                    {
                        // Its requester is another host's: no answer goes back.
                        drop(self.correlations.take(n));
                    }
                }
            }
        }
        drop(
            self.correlations
                .take_matching(|pending| matches!(pending.requester, Requester::Remote(_))),
        );
        let callback = ErrorCallback::TargetFailed(reason.to_owned());
        for (n, pending) in self
            .correlations
            .take_matching(|pending| !self.registry.contains(&pending.target))
        {
            self.answer(n, pending, Err(callback.clone()));
        }
        for _ in 0..dropped {
            bump(&self.counters.remote_dropped);
        }
        dropped
    }

    /// Another host holds the id of `id` now: it must not run here. Its registration is
    /// withdrawn at once (queued messages become dead letters, queued requests are answered
    /// `target-stopped`), and its instance stops after the message in hand; its supervisor
    /// does not restart it.
    pub(crate) fn evict(&self, id: &ComponentId, reason: &str) {
        let Some(slot) = self.registry.get(id) else {
            return;
        };
        tracing::warn!(component = %id, %reason, "component evicted: another host holds its id");
        *slot.evicted.lock() = Some(reason.to_owned());
        self.retire(&slot, reason);
        slot.stopping.store(true, Ordering::Release);
        slot.mailbox.wake();
    }
}

/// A message from another host for `to`, which does not run here: a request is answered
/// through its reply, anything else is a dead letter.
fn refuse(
    delivery: &Delivery,
    to: &ComponentId,
    message: ComponentMessage,
    reply: Option<(Box<dyn RemoteReply>, std::time::Duration)>,
    why: Refused,
) {
    match reply {
        Some((reply, _)) => reply.answer(Err(refusal_callback(to, why))),
        None => delivery.dead_letter(
            to,
            &message.sender,
            message.payload,
            refusal_reason(to, why),
        ),
    }
}

fn refusal_callback(to: &ComponentId, why: Refused) -> ErrorCallback {
    match why {
        Refused::Closed => ErrorCallback::TargetNotFound(to.clone()),
        Refused::Full => ErrorCallback::TargetFailed(format!(
            "{to}: its mailbox was full when the request arrived from another host"
        )),
    }
}

fn refusal_reason(to: &ComponentId, why: Refused) -> String {
    match why {
        Refused::Closed => format!("{to} does not run on this host"),
        Refused::Full => {
            format!("{to}: its mailbox was full when the message arrived from another host")
        }
    }
}
