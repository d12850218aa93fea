//! A broadcast to components on other hosts, all or none: one slot held in each remote
//! target's mailbox first, then the local targets pushed, then each hold filled; if any hold
//! or local push fails, every hold is given back and nothing is sent.

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::select_all;
use wasm_actor::LocalPush;
use wasm_core::{ComponentId, ComponentMessage, MessagingError};

use crate::frame::{Frame, WireMsg, encode_message};
use crate::peer::Peer;
use crate::stats::add;
use crate::transport::Inner;

impl Inner {
    /// Sends one message to every remote target or to none (see
    /// [`wasm_actor::RemoteLink::broadcast`]).
    pub(crate) async fn broadcast(
        self: Arc<Self>,
        targets: Vec<ComponentId>,
        message: ComponentMessage,
        local: LocalPush,
    ) -> Result<(), MessagingError> {
        let mut holds = Vec::with_capacity(targets.len());
        for target in targets {
            let owner = match self.directory.owner(&target) {
                Some(owner) => owner,
                None => self.look_up(&target).await?,
            };
            if *owner.host == *self.config.host {
                return Err(MessagingError::TargetNotFound(target.clone()));
            }
            let peer = self.peer(&owner.host, owner.incarnation);
            holds.push((peer, target, owner.epoch, self.next_id()));
        }
        for (peer, target, epoch, rid) in &holds {
            let mut out = peer.outgoing.lock();
            out.holds.insert(*rid, (target.clone(), None));
            let frame = Frame::Reserve {
                rid: *rid,
                target: target.clone(),
                epoch: *epoch,
            };
            if out.push(&frame) {
                self.wake_writer(peer);
            }
        }
        let held = self.wait_for_holds(&holds).await;
        if let Err(error) = held.and_then(|()| local()) {
            for (peer, _, _, rid) in &holds {
                let mut out = peer.outgoing.lock();
                out.holds.remove(rid);
                if out.push(&Frame::Release { rid: *rid }) {
                    self.wake_writer(peer);
                }
            }
            return Err(error);
        }
        let mut encoded = Vec::with_capacity(message.payload.len() + 48);
        encode_message(&mut encoded, &message, None);
        let now = Instant::now();
        for (peer, target, _, rid) in holds {
            let mut out = peer.outgoing.lock();
            out.holds.remove(&rid);
            if peer.is_lost() {
                // Lost between the halves: reported like any message it had not handled.
                drop(out);
                if let Some(router) = self.router() {
                    add(&self.stats.lost_with_host, 1);
                    router.report_undelivered(
                        &target,
                        &message.sender,
                        message.payload.clone(),
                        format!(
                            "host {} is gone: it was lost between the two halves of a broadcast",
                            peer.host
                        ),
                    );
                }
                continue;
            }
            let frame = Frame::Fill {
                rid,
                target: target.clone(),
                message: WireMsg {
                    message: message.clone(),
                    deadline_ms: None,
                },
            };
            out.fills.insert(rid, (target, encoded.clone(), now));
            add(&self.stats.sent, 1);
            if out.push(&frame) {
                self.wake_writer(&peer);
            }
        }
        Ok(())
    }

    /// Waits up to `credit_wait` for every hold's answer; the first refusal, or a host that
    /// did not answer, is the error.
    async fn wait_for_holds(
        &self,
        holds: &[(Arc<Peer>, ComponentId, u64, u64)],
    ) -> Result<(), MessagingError> {
        let deadline = tokio::time::Instant::now() + self.config.credit_wait;
        loop {
            let mut changed: Vec<_> = holds
                .iter()
                .map(|(peer, ..)| Box::pin(peer.changed.notified()))
                .collect();
            for notified in &mut changed {
                notified.as_mut().enable();
            }
            let mut missing = None;
            for (peer, target, _, rid) in holds {
                match peer
                    .outgoing
                    .lock()
                    .holds
                    .get(rid)
                    .map(|(_, answer)| answer)
                {
                    Some(Some(Ok(()))) => {}
                    Some(Some(Err(error))) => return Err(error.clone()),
                    _ if peer.is_lost() => {
                        return Err(MessagingError::TargetNotFound(target.clone()));
                    }
                    _ => missing = missing.or(Some((peer.host.clone(), target.clone()))),
                }
            }
            let Some((host, target)) = missing else {
                return Ok(());
            };
            if tokio::time::timeout_at(deadline, select_all(changed))
                .await
                .is_err()
            {
                return Err(MessagingError::DeliveryFailed(format!(
                    "host `{host}` did not hold room for {target} within {} ms; nothing was sent",
                    self.config.credit_wait.as_millis()
                )));
            }
        }
    }
}
