//! A broadcast's two halves on the receiving host: a hold of one mailbox slot, then its fill.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasm_actor::Router;
use wasm_core::ComponentId;

use crate::acks::fill_receipt;
use crate::credit::release;
use crate::frame::{Code, Frame, WireMsg};
use crate::peer::Peer;
use crate::stats::add;
use crate::transport::Inner;

use super::data::refuse;

/// How long a broadcast hold waits for its message.
const HOLD_LAPSES_AFTER: Duration = Duration::from_secs(5);

impl Inner {
    /// A broadcaster asks this host to hold one slot of `target`'s mailbox.
    pub(super) fn hold_for(
        &self,
        router: &Router,
        peer: &Arc<Peer>,
        rid: u64,
        target: ComponentId,
        epoch: u64,
    ) {
        let claim = self.owned.lock().get(&target).map(|o| o.epoch);
        let code = match claim {
            None => Code::NotFound,
            Some(current) if epoch < current => Code::Stale,
            Some(_) if self.hold(router, &target, 1).0 == 1 => {
                peer.incoming
                    .lock()
                    .holds
                    .insert(rid, (target, Instant::now() + HOLD_LAPSES_AFTER));
                Code::Ok
            }
            Some(_) => Code::QueueFull,
        };
        let frame = Frame::Reserved {
            rid,
            code,
            epoch: claim.unwrap_or(0),
            detail: String::new(),
        };
        if peer.outgoing.lock().push(&frame) {
            self.wake_writer(peer);
        }
    }

    /// The message of a broadcast hold (taken once, however often it comes).
    pub(super) async fn fill(
        self: &Arc<Self>,
        router: &Router,
        peer: &Arc<Peer>,
        rid: u64,
        target: ComponentId,
        wire: WireMsg,
    ) {
        let refusal = self.check_sender(peer, &wire.message.sender).await.err();
        let held = {
            let mut incoming = peer.incoming.lock();
            match incoming.filled.get(&rid) {
                Some(&(done, _)) => {
                    drop(incoming);
                    add(&self.stats.duplicates, 1);
                    if done && peer.outgoing.lock().push(&Frame::FillDone { rid }) {
                        self.wake_writer(peer);
                    }
                    return;
                }
                None => {
                    incoming.filled.insert(rid, (false, Instant::now()));
                    incoming.holds.remove(&rid).is_some()
                }
            }
        };
        add(&self.stats.received, 1);
        let share = held.then(|| self.shares.of(&target));
        match refusal {
            None => {
                let receipt = fill_receipt(&self.acks, peer.key(), rid, share);
                self.deliver(router, peer, &target, wire, held, receipt);
            }
            Some(reason) => {
                if let Some(share) = share {
                    router.release_for_remote(&target, 1);
                    release(&share, 1);
                }
                let _receipt = fill_receipt(&self.acks, peer.key(), rid, None);
                refuse(router, peer, self, &target, wire, reason);
            }
        }
    }
}
