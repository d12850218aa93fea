//! What comes to this incarnation's inbox, one bundle at a time and in order: asks for
//! credit and the windows' messages (for this host's components), credit and answers (for
//! what this host sent), and broadcast holds. A bundle from an incarnation that has ended is
//! not settled: its messages are dropped and counted (the sender, if it lives on as a new
//! incarnation, reports them) and its requests are not started (their requesters were
//! answered when it ended).
//!
//! - `windows`: windows of credit this host grants, and the acknowledgements of its own;
//! - `data`: the messages of a window, delivered in order, once, and the answers to requests;
//! - `holds`: a broadcast's holds and fills.

mod data;
mod holds;
mod windows;

use std::sync::Arc;

use async_nats::Subscriber;
use async_nats::jetstream::kv::Operation;
use futures_util::StreamExt;

use crate::error::{Error, Result};
use crate::frame::{self, Code, Frame};
use crate::peer::Peer;
use crate::records::HostRecord;
use crate::stats::add;
use crate::subject::host_key;
use crate::transport::Inner;
use data::refusal;

impl Inner {
    /// Subscribes to the current incarnation's inbox and reads it in a task of its own
    /// (replacing the previous incarnation's).
    pub(crate) async fn open_inbox(self: Arc<Self>) -> Result<()> {
        let subject = self.names.inbox(&self.config.host, self.incarnation());
        let subscriber = self
            .client
            .subscribe(subject.clone())
            .await
            .map_err(|source| Error::Subscribe {
                subject,
                url: self.config.url_text(),
                source,
            })?;
        let task = tokio::spawn(self.clone().read_inbox(subscriber));
        if let Some(old) = self.inbox_task.lock().replace(task) {
            old.abort();
        }
        Ok(())
    }

    async fn read_inbox(self: Arc<Self>, mut inbox: Subscriber) {
        while let Some(message) = inbox.next().await {
            match frame::decode(&message.payload) {
                Ok(bundle) => self.take_bundle(bundle).await,
                Err(detail) => tracing::warn!(%detail, "a malformed bundle dropped"),
            }
        }
    }

    async fn take_bundle(self: &Arc<Self>, bundle: frame::Received) {
        let member = self.is_member(&bundle.host, bundle.incarnation).await;
        let peer = member.then(|| self.peer(&bundle.host, bundle.incarnation));
        if peer.is_none() {
            let key = (bundle.host.clone(), bundle.incarnation);
            if !self.ended.lock().contains_key(&key) {
                // Not a member this host knows of, live or lately ended: nothing it says is
                // taken (NATS permissions decide who may publish to an inbox at all).
                add(&self.stats.forged, 1);
                tracing::warn!(host = %bundle.host, incarnation = %format!("{:016x}", bundle.incarnation), "a bundle from no known host incarnation dropped");
                return;
            }
        }
        for frame in bundle.frames {
            match frame {
                Ok(frame) => self.take_frame(peer.as_ref(), &bundle.host, frame).await,
                Err(detail) => {
                    tracing::warn!(host = %bundle.host, %detail, "a malformed frame dropped");
                }
            }
        }
    }

    /// Whether a bundle's sender is an incarnation that has not ended (live, or lapsed and
    /// able to come back): the directory says so, or (for one the watch has not shown yet)
    /// its record on the server does.
    pub(crate) async fn is_member(&self, host: &str, incarnation: u64) -> bool {
        if self.directory.is_member(host, incarnation) {
            return true;
        }
        let key = (host.to_owned(), incarnation);
        if self.confirmed.lock().contains(&key) {
            return true;
        }
        let store = &self.store;
        let live = match store.entry(&store.hosts, &host_key(host)).await {
            Ok(Some(entry)) if entry.operation == Operation::Put => {
                HostRecord::decode(&entry.value).is_ok_and(|r| r.incarnation == incarnation)
            }
            Ok(_) => false,
            Err(e) => {
                tracing::debug!(%host, error = %e, "cannot read a host's lease; taking its bundle as from an ended incarnation");
                false
            }
        };
        if live {
            self.confirmed.lock().insert(key);
        }
        live
    }

    async fn take_frame(self: &Arc<Self>, peer: Option<&Arc<Peer>>, host: &str, frame: Frame) {
        let Some(router) = self.router().cloned() else {
            tracing::warn!(host = %self.config.host, "cluster traffic before the actor system attached");
            return;
        };
        let Some(peer) = peer else {
            self.drop_from_ended(host, frame);
            return;
        };
        match frame {
            Frame::Ask {
                ask,
                target,
                epoch,
                want,
            } => self.asked_for_window(&router, peer, ask, target, epoch, want),
            Frame::Grant {
                ask,
                window,
                limit,
                epoch,
            } => self.granted(peer, ask, window, limit, epoch),
            Frame::Refuse {
                ask,
                code: Code::Stale,
                epoch,
                ..
            } => self.ask_again(peer, ask, epoch),
            Frame::Refuse {
                ask, code, detail, ..
            } => {
                let target = peer
                    .outgoing
                    .lock()
                    .asks
                    .iter()
                    .find(|(_, a)| a.ask == ask)
                    .map(|(t, _)| t.clone());
                if let Some(target) = target {
                    self.refused(peer, ask, refusal(code, &target, &peer.host, &detail));
                }
            }
            Frame::Data {
                window,
                target,
                first_seq,
                messages,
            } => {
                self.data(&router, peer, window, target, first_seq, messages)
                    .await;
            }
            Frame::Ack {
                window,
                received,
                done,
                limit,
            } => self.acked(peer, window, received, done, limit),
            Frame::More { window } => {
                let tally = peer
                    .incoming
                    .lock()
                    .windows
                    .get_mut(&window)
                    .map(|(state, tally)| {
                        state.more = true;
                        tally.clone()
                    });
                if let Some(tally) = tally {
                    self.acks.window(&tally);
                }
            }
            Frame::Return { window, last } => self.returned(&router, peer, window, last),
            Frame::Closed { window, reason } => self.closed(peer, window, &reason),
            Frame::Answer {
                incarnation,
                correlation,
                outcome,
            } => self.answered(&router, peer, incarnation, &correlation, outcome),
            Frame::Reserve { rid, target, epoch } => {
                self.hold_for(&router, peer, rid, target, epoch)
            }
            Frame::Reserved {
                rid, code, detail, ..
            } => {
                let mut out = peer.outgoing.lock();
                if let Some((target, answer)) = out.holds.get_mut(&rid) {
                    *answer = Some(match code {
                        Code::Ok => Ok(()),
                        other => Err(refusal(other, target, &peer.host, &detail)),
                    });
                }
                drop(out);
                peer.changed.notify_waiters();
            }
            Frame::Fill {
                rid,
                target,
                message,
            } => self.fill(&router, peer, rid, target, message).await,
            Frame::Release { rid } => {
                let hold = peer.incoming.lock().holds.remove(&rid);
                if let Some((target, _)) = hold {
                    self.unhold(Some(&router), &target, 1);
                }
            }
            Frame::FillDone { rid } => {
                peer.outgoing.lock().fills.remove(&rid);
            }
        }
    }

    /// A frame from an incarnation that has ended (it was away past `give_up_ms`, or a new
    /// process took its name): its messages are dropped and counted, never delivered. This
    /// host let go of that incarnation's windows, so it could not tell a message it already
    /// handled from a new one; the sender, if it lives on as a new incarnation, reports each
    /// message this host had not confirmed (a process that died reports nothing: its
    /// components, which were told `ok`, died with it).
    fn drop_from_ended(&self, host: &str, frame: Frame) {
        let dropped = match frame {
            Frame::Data { messages, .. } => messages.len(),
            Frame::Fill { .. } => 1,
            _ => 0,
        };
        if dropped > 0 {
            add(&self.stats.from_ended, dropped as u64);
            tracing::debug!(%host, dropped, "messages from an ended incarnation of a host dropped");
        }
    }
}
