//! Sending to components on other hosts: on a window of credit the target's host granted,
//! at once (the message is numbered, kept until its receiver is done with it, and appended
//! to the bundle the writer sends next); with no credit, the first message asks for a
//! window and waits for it at most `credit_wait`, whatever that host does. Nothing is sent
//! when the wait runs out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasm_core::{ComponentId, ComponentMessage, MessagingError, Routed};

use async_nats::jetstream::kv::Operation;

use crate::directory::Owner;
use crate::frame::{Frame, encode_message};
use crate::peer::{Asking, Peer};
use crate::records::OwnerRecord;
use crate::stats::add;
use crate::subject::owner_key;
use crate::transport::{Asked, Inner, deadline_ms};
use crate::window::Outgoing;

/// Bytes written in one round that mark a steady stream (about 32 small messages).
const STREAMING: usize = 1024;
/// How long the next bundle of a steady stream gathers (the timer's grain).
const GATHER: Duration = Duration::from_millis(1);

/// How long an unanswered ask is waited for before a later send asks again.
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(1);

/// What one try to send found.
#[derive(Debug)]
enum Attempt {
    Sent,
    Refused(MessagingError),
    /// No room yet: `full` if a window is open but used up, else an ask is underway.
    Wait {
        encoded: Vec<u8>,
        full: bool,
    },
}

/// A message ready to go: encoded, and (for a request) what to remember of it.
#[derive(Debug)]
struct Outbound {
    target: ComponentId,
    epoch: u64,
    request: Option<(wasm_core::CorrelationId, Instant)>,
}

impl Inner {
    /// Sends (or, with a timeout, requests) `message` to `to` on another host. An id the
    /// directory does not know yet (it started a moment ago elsewhere) is looked up on the
    /// server, within the same wait.
    pub(crate) fn send(
        self: Arc<Self>,
        to: &ComponentId,
        message: ComponentMessage,
        timeout: Option<Duration>,
    ) -> Routed<()> {
        match self.directory.owner(to) {
            Some(owner) => self.send_to(owner, to, message, timeout),
            None => {
                let to = to.clone();
                Routed::Later(Box::pin(async move {
                    let owner = self.look_up(&to).await?;
                    self.send_to(owner, &to, message, timeout).finish().await
                }))
            }
        }
    }

    /// Who runs `id`, read on the server (bounded by `credit_wait`): its record, if the
    /// incarnation it names holds its lease.
    ///
    /// # Errors
    ///
    /// `target-not-found` if no record names a live incarnation; `delivery-failed` if the
    /// host that runs it is away (its lease lapsed): nothing is sent.
    pub(crate) async fn look_up(&self, id: &ComponentId) -> Result<Owner, MessagingError> {
        let read = async {
            let store = &self.store;
            let entry = store
                .entry(&store.owners, &owner_key(id))
                .await
                .ok()
                .flatten()
                .filter(|e| e.operation == Operation::Put)?;
            let record = OwnerRecord::decode(&entry.value).ok()?;
            Some(Owner::of(record, entry.revision))
        };
        let owner = tokio::time::timeout(self.config.credit_wait, read)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| MessagingError::TargetNotFound(id.clone()))?;
        if let Some(known) = self.directory.host(&owner.host)
            && known.incarnation == owner.incarnation
            && !known.live
        {
            return Err(MessagingError::DeliveryFailed(format!(
                "host `{}`, which runs {id}, is away ({}); nothing was sent",
                owner.host, known.away
            )));
        }
        if self.is_member(&owner.host, owner.incarnation).await {
            Ok(owner)
        } else {
            Err(MessagingError::TargetNotFound(id.clone()))
        }
    }

    fn send_to(
        self: Arc<Self>,
        owner: Owner,
        to: &ComponentId,
        message: ComponentMessage,
        timeout: Option<Duration>,
    ) -> Routed<()> {
        if *owner.host == *self.config.host {
            // Recorded as this host's but not registered here: stopping, or not started.
            return Routed::Done(Err(MessagingError::TargetNotFound(to.clone())));
        }
        // From the message's timestamp, taken before the requester's timer started: the
        // target's host never starts a request its requester has given up on.
        let sent_at = message.metadata.timestamp.as_millis();
        let deadline = timeout.map(|t| deadline_ms(sent_at, t));
        let mut encoded = Vec::with_capacity(message.payload.len() + 48);
        encode_message(&mut encoded, &message, deadline);
        if encoded.len() + 1024 > self.max_payload {
            return Routed::Done(Err(MessagingError::DeliveryFailed(format!(
                "a message of {} bytes is over the NATS server's limit of {} bytes (max_payload); nothing was sent to {to}",
                message.payload.len(),
                self.max_payload
            ))));
        }
        let request = match (timeout, &message.metadata.correlation_id) {
            (Some(timeout), Some(correlation)) => {
                Some((correlation.clone(), Instant::now() + timeout))
            }
            _ => None,
        };
        let outbound = Outbound {
            target: to.clone(),
            epoch: owner.epoch,
            request,
        };
        let peer = self.peer(&owner.host, owner.incarnation);
        match self.try_send(&peer, &outbound, encoded, true) {
            Attempt::Sent => Routed::Done(Ok(())),
            Attempt::Refused(error) => Routed::Done(Err(error)),
            Attempt::Wait { encoded, .. } => {
                Routed::Later(Box::pin(self.send_waiting(peer, outbound, encoded)))
            }
        }
    }

    /// Waits up to `credit_wait` for room on `peer`, then sends.
    async fn send_waiting(
        self: Arc<Self>,
        peer: Arc<Peer>,
        outbound: Outbound,
        mut encoded: Vec<u8>,
    ) -> Result<(), MessagingError> {
        let deadline = tokio::time::Instant::now() + self.config.credit_wait;
        loop {
            let changed = peer.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let full = match self.try_send(&peer, &outbound, encoded, false) {
                Attempt::Sent => return Ok(()),
                Attempt::Refused(error) => return Err(error),
                Attempt::Wait {
                    encoded: back,
                    full,
                } => {
                    encoded = back;
                    full
                }
            };
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let waited = self.config.credit_wait.as_millis();
                return Err(if full {
                    MessagingError::QueueFull
                } else {
                    MessagingError::DeliveryFailed(format!(
                        "host `{}` gave no room for {} within {waited} ms; nothing was sent",
                        peer.host, outbound.target
                    ))
                });
            }
        }
    }

    /// Sends on the target's open window if it has room; else makes sure a window is asked
    /// for (when `may_ask`) and says to wait.
    fn try_send(
        &self,
        peer: &Arc<Peer>,
        outbound: &Outbound,
        encoded: Vec<u8>,
        may_ask: bool,
    ) -> Attempt {
        if peer.is_lost() {
            return Attempt::Refused(MessagingError::TargetNotFound(outbound.target.clone()));
        }
        let now = Instant::now();
        let mut out = peer.outgoing.lock();
        let out = &mut *out;
        if let Some(&id) = out.current.get(&outbound.target) {
            match out.windows.get_mut(&id) {
                // Granted under an earlier claim of the target (it started again there): a
                // new window is needed, under the new claim.
                Some(window) if window.epoch < outbound.epoch => {
                    window.closed = true;
                    out.current.remove(&outbound.target);
                }
                Some(window) if window.has_room() => {
                    if let Some((correlation, until)) = &outbound.request {
                        self.asked.lock().insert(
                            correlation.clone(),
                            Asked {
                                peer: peer.key(),
                                until: *until,
                            },
                        );
                    }
                    let seq = window.next_seq;
                    let mut wake = out.push_message(id, &outbound.target, seq, &encoded);
                    let more = out.windows.get_mut(&id).is_some_and(|window| {
                        window.push(encoded, now);
                        let more = window.wants_more();
                        window.more_asked |= more;
                        more
                    });
                    if more {
                        wake |= out.push(&Frame::More { window: id });
                    }
                    add(&self.stats.sent, 1);
                    if wake {
                        self.wake_writer(peer);
                    }
                    return Attempt::Sent;
                }
                Some(window) if window.open() => {
                    if window.needs_more() {
                        window.more_asked = true;
                        if out.push(&Frame::More { window: id }) {
                            self.wake_writer(peer);
                        }
                    }
                    return Attempt::Wait {
                        encoded,
                        full: true,
                    };
                }
                // Closed or given back: a new window is needed.
                _ => {
                    out.current.remove(&outbound.target);
                }
            }
        }
        match out.asks.get(&outbound.target) {
            Some(asking) if asking.refused.is_some() => {
                let refused = out
                    .asks
                    .remove(&outbound.target)
                    .and_then(|a| a.refused)
                    .unwrap_or(MessagingError::QueueFull);
                return Attempt::Refused(refused);
            }
            Some(asking) if asking.since.elapsed() < ASK_AGAIN_AFTER => {}
            _ if may_ask => {
                let ask = self.next_id();
                out.asks.insert(
                    outbound.target.clone(),
                    Asking {
                        ask,
                        since: now,
                        refused: None,
                    },
                );
                let frame = Frame::Ask {
                    ask,
                    target: outbound.target.clone(),
                    epoch: outbound.epoch,
                    want: u64::try_from(self.config.window).unwrap_or(u64::MAX),
                };
                if out.push(&frame) {
                    self.wake_writer(peer);
                }
            }
            _ => {}
        }
        Attempt::Wait {
            encoded,
            full: false,
        }
    }

    /// `peer` granted the window asked for by `ask`.
    pub(crate) fn granted(&self, peer: &Arc<Peer>, ask: u64, window: u64, limit: u64, epoch: u64) {
        let mut out = peer.outgoing.lock();
        let target = out
            .asks
            .iter()
            .find(|(_, a)| a.ask == ask)
            .map(|(t, _)| t.clone());
        match target {
            Some(target) if !out.current.contains_key(&target) => {
                out.asks.remove(&target);
                out.windows.insert(
                    window,
                    Outgoing::new(target.clone(), epoch, limit, Instant::now()),
                );
                out.current.insert(target, window);
            }
            _ => {
                // An ask given up on, or a second window for one target: given back at once.
                if out.push(&Frame::Return { window, last: 0 }) {
                    self.wake_writer(peer);
                }
            }
        }
        drop(out);
        peer.changed.notify_waiters();
    }

    /// `peer` refused the window asked for by `ask`.
    pub(crate) fn refused(&self, peer: &Arc<Peer>, ask: u64, error: MessagingError) {
        let mut out = peer.outgoing.lock();
        if let Some(asking) = out.asks.values_mut().find(|a| a.ask == ask) {
            asking.refused = Some(error);
        }
        drop(out);
        peer.changed.notify_waiters();
    }

    /// Asks for a window again under the claim `peer` says is current (the target started
    /// again there since this host looked).
    pub(crate) fn ask_again(&self, peer: &Arc<Peer>, ask: u64, epoch: u64) {
        let mut out = peer.outgoing.lock();
        let Some((target, asking)) = out.asks.iter_mut().find(|(_, a)| a.ask == ask) else {
            return;
        };
        let again = self.next_id();
        asking.ask = again;
        let frame = Frame::Ask {
            ask: again,
            target: target.clone(),
            epoch,
            want: u64::try_from(self.config.window).unwrap_or(u64::MAX),
        };
        if out.push(&frame) {
            self.wake_writer(peer);
        }
    }

    /// Writes what is queued, as it comes.
    pub(crate) async fn write_loop(self: Arc<Self>) {
        loop {
            let ready = self.outbox.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            match self.write_some().await {
                0 => ready.await,
                // A steady stream: the next bundle gathers for a moment, so it carries many
                // messages (one NATS message, one wake-up of the receiver) instead of a few.
                written if written >= STREAMING => tokio::time::sleep(GATHER).await,
                _ => {}
            }
        }
    }

    /// Writes every bundle queued now; returns how many bytes.
    async fn write_some(&self) -> usize {
        if self.outbox.queue.lock().is_empty() {
            return 0;
        }
        let peers = std::mem::take(&mut *self.outbox.queue.lock());
        let mut written = 0;
        for peer in peers {
            let bundles = peer.outgoing.lock().drain();
            add(&self.stats.bundles, bundles.len() as u64);
            for bundle in bundles {
                written += bundle.len();
                if let Err(e) = self
                    .client
                    .publish(peer.subject.clone(), bundle.into())
                    .await
                {
                    tracing::warn!(host = %peer.host, error = %e, "cannot publish to a host; what is not acknowledged is sent again");
                }
            }
        }
        written
    }

    /// Writes everything queued and flushes the connection (leaving the cluster).
    pub(crate) async fn write_all(&self) {
        while self.write_some().await > 0 {}
        if let Err(e) = self.client.flush().await {
            tracing::debug!(error = %e, "cannot flush the NATS connection");
        }
    }
}
