//! Acknowledgements from the receiving side: a message's receipt, dropped when this host is
//! done with it, counts it for its window (or its broadcast hold); the ack task then holds
//! fresh slots for the window (raising its limit, so a steady sender never runs dry) and
//! tells the sender what arrived, what is done, and how far it may go.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;
use wasm_actor::{Receipt, ReceiptGuard};

use crate::credit::{Share, release};
use crate::frame::Frame;
use crate::peer::{PeerKey, Tally};
use crate::transport::Inner;

/// The shortest time between two rounds of acknowledgements.
const ACK_EVERY: std::time::Duration = std::time::Duration::from_millis(1);

/// Something the ack task must tell a sender.
#[derive(Debug)]
enum Due {
    /// A window moved (messages arrived or were done).
    Window(Arc<Tally>),
    /// The message of a broadcast hold is done.
    Fill(PeerKey, u64),
}

/// The work of the ack task.
#[derive(Debug, Default)]
pub(crate) struct AckQueue {
    due: Mutex<Vec<Due>>,
    ready: Notify,
}

impl AckQueue {
    /// `tally`'s window needs an acknowledgement (queued once until it is sent).
    pub(crate) fn window(&self, tally: &Arc<Tally>) {
        if !tally.dirty.swap(true, Ordering::AcqRel) {
            self.due.lock().push(Due::Window(tally.clone()));
            self.ready.notify_one();
        }
    }

    fn fill(&self, peer: PeerKey, rid: u64) {
        self.due.lock().push(Due::Fill(peer, rid));
        self.ready.notify_one();
    }
}

/// Counts a message of a window taken from the mailbox (its slot is free: more credit may
/// be given), and done when dropped. One `Arc` per message: everything else is the tally's.
#[derive(Debug)]
struct WindowDone {
    tally: Arc<Tally>,
    /// It came into a held slot: it takes room in the mailbox until it is taken.
    held: bool,
    taken: AtomicBool,
}

impl WindowDone {
    fn take(&self) {
        if !self.taken.swap(true, Ordering::AcqRel) {
            self.tally.taken.fetch_add(1, Ordering::AcqRel);
            if self.held {
                release(&self.tally.share, 1);
            }
        }
    }
}

impl ReceiptGuard for WindowDone {
    fn taken(&self) {
        self.take();
        self.tally.acks.window(&self.tally);
    }
}

impl Drop for WindowDone {
    fn drop(&mut self) {
        // Done without being handled (refused, dropped): its slot is free as well.
        self.take();
        self.tally.done.fetch_add(1, Ordering::AcqRel);
        self.tally.acks.window(&self.tally);
    }
}

/// Tells the broadcaster its message is done when dropped.
#[derive(Debug)]
struct FillDone {
    peer: PeerKey,
    rid: u64,
    acks: Arc<AckQueue>,
    share: Option<Share>,
    taken: AtomicBool,
}

impl FillDone {
    fn take(&self) {
        if !self.taken.swap(true, Ordering::AcqRel)
            && let Some(share) = &self.share
        {
            release(share, 1);
        }
    }
}

impl ReceiptGuard for FillDone {
    fn taken(&self) {
        self.take();
    }
}

impl Drop for FillDone {
    fn drop(&mut self) {
        self.take();
        self.acks.fill(std::mem::take(&mut self.peer), self.rid);
    }
}

/// The receipt of a message of `tally`'s window (`held`: it came into a held slot).
pub(crate) fn window_receipt(tally: &Arc<Tally>, held: bool) -> Receipt {
    Receipt::new(WindowDone {
        tally: tally.clone(),
        held,
        taken: AtomicBool::new(false),
    })
}

/// The receipt of the message of hold `rid` from `peer` (with `share`: into the hold).
pub(crate) fn fill_receipt(
    acks: &Arc<AckQueue>,
    peer: PeerKey,
    rid: u64,
    share: Option<Share>,
) -> Receipt {
    Receipt::new(FillDone {
        peer,
        rid,
        acks: acks.clone(),
        share,
        taken: AtomicBool::new(false),
    })
}

impl Inner {
    /// Sends the acknowledgements that are due: at once when none went out in the last
    /// [`ACK_EVERY`], else at the end of it (a busy window is acknowledged once per period,
    /// not once per bundle).
    pub(crate) async fn ack_loop(self: Arc<Self>) {
        loop {
            let ready = self.acks.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            let due = std::mem::take(&mut *self.acks.due.lock());
            if due.is_empty() {
                ready.await;
                continue;
            }
            self.acknowledge(due);
            tokio::time::sleep(ACK_EVERY).await;
        }
    }

    fn acknowledge(&self, due: Vec<Due>) {
        let mut frames: HashMap<PeerKey, Vec<Frame>> = HashMap::new();
        for item in due {
            match item {
                Due::Window(tally) => {
                    // Cleared before `done` is read: a receipt dropped after this queues it
                    // again.
                    tally.dirty.store(false, Ordering::Release);
                    if let Some(frame) = self.window_ack(&tally) {
                        frames.entry(tally.peer.clone()).or_default().push(frame);
                    }
                }
                Due::Fill(peer, rid) => {
                    if let Some(known) = self.known_peer(&peer)
                        && let Some(filled) = known.incoming.lock().filled.get_mut(&rid)
                    {
                        filled.0 = true;
                    }
                    frames
                        .entry(peer)
                        .or_default()
                        .push(Frame::FillDone { rid });
                }
            }
        }
        for (key, frames) in frames {
            let Some(peer) = self.known_peer(&key) else {
                continue;
            };
            let wake = {
                let mut out = peer.outgoing.lock();
                frames
                    .iter()
                    .fold(false, |wake, frame| out.push(frame) | wake)
            };
            if wake {
                self.wake_writer(&peer);
            }
        }
    }

    /// The acknowledgement of one window, after topping its held slots up.
    fn window_ack(&self, tally: &Tally) -> Option<Frame> {
        let peer = self.known_peer(&tally.peer)?;
        let router = self.router()?;
        let done = tally.done();
        let taken = tally.taken.load(Ordering::Acquire);
        let mut incoming = peer.incoming.lock();
        let (window, _) = incoming.windows.get_mut(&tally.window)?;
        let wanted = window.wanted(taken);
        if wanted > 0 {
            let (got, _) = self.hold(router, &window.target.clone(), wanted);
            window.raised(got, taken);
        }
        let frame = Frame::Ack {
            window: tally.window,
            received: window.received,
            done,
            limit: window.limit,
        };
        if window.finished(done) {
            incoming.windows.remove(&tally.window);
        }
        Some(frame)
    }
}
