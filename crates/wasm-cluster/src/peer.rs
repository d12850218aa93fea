//! One other host incarnation, as this host deals with it: what goes to its inbox (a bundle
//! being written, the windows this host sends on, asks and holds waiting for its answer) and
//! what came from it (the windows and holds this host granted it).
//!
//! Locks: a peer's `incoming` may be taken before its `outgoing`, never the other way.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;
use wasm_core::{ComponentId, MessagingError};

use crate::frame::{Bundle, Frame};
use crate::window::{Incoming, Outgoing};

/// The largest bundle this host writes; a message that would make it larger starts the
/// next one.
pub(crate) const BUNDLE_MAX: usize = 256 * 1024;

/// A host incarnation: its name and incarnation.
pub(crate) type PeerKey = (String, u64);

#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) host: String,
    pub(crate) incarnation: u64,
    /// Its inbox.
    pub(crate) subject: String,
    pub(crate) outgoing: Mutex<Out>,
    pub(crate) incoming: Mutex<In>,
    /// Woken when it grants or refuses credit, answers a hold, or is lost.
    pub(crate) changed: Notify,
    /// Set once it is lost: nothing more goes to it.
    pub(crate) lost: AtomicBool,
}

/// What goes to the peer.
#[derive(Debug)]
pub(crate) struct Out {
    /// Frames not written yet.
    pub(crate) bundle: Bundle,
    /// Full bundles waiting for the writer, oldest first.
    pub(crate) sealed: VecDeque<Vec<u8>>,
    /// Whether the writer has this peer in its queue.
    pub(crate) queued: bool,
    /// The windows this host sends on, by window id (open ones, and given-back or closed ones
    /// until the peer is done with their messages).
    pub(crate) windows: HashMap<u64, Outgoing>,
    /// The open window for each target.
    pub(crate) current: HashMap<ComponentId, u64>,
    /// An ask for a window waiting for its answer, per target.
    pub(crate) asks: HashMap<ComponentId, Asking>,
    /// Holds asked for broadcasts, by hold id: the target, and the answer (`None` while
    /// there is none).
    pub(crate) holds: HashMap<u64, (ComponentId, Option<Result<(), MessagingError>>)>,
    /// Broadcast messages sent into holds, kept until the peer is done with them: the
    /// target, the message encoded, and when it was last sent.
    pub(crate) fills: HashMap<u64, (ComponentId, Vec<u8>, Instant)>,
}

/// An ask waiting for the peer's answer.
#[derive(Debug)]
pub(crate) struct Asking {
    pub(crate) ask: u64,
    pub(crate) since: Instant,
    /// The peer refused it: sends waiting on it fail with this.
    pub(crate) refused: Option<MessagingError>,
}

/// What came from the peer.
#[derive(Debug, Default)]
pub(crate) struct In {
    /// The windows this host granted it, with the count of their messages done.
    pub(crate) windows: HashMap<u64, (Incoming, Arc<Tally>)>,
    /// Holds this host keeps for its broadcasts: the target and when the hold lapses.
    pub(crate) holds: HashMap<u64, (ComponentId, Instant)>,
    /// Holds filled lately (a fill sent again is taken once): whether their message is done,
    /// and when they were filled.
    pub(crate) filled: HashMap<u64, (bool, Instant)>,
}

/// The messages of one incoming window taken from the mailbox and done with, counted by
/// their receipts (on whichever thread handled them), and whether an acknowledgement is due.
#[derive(Debug)]
pub(crate) struct Tally {
    pub(crate) peer: PeerKey,
    pub(crate) window: u64,
    /// Where its acknowledgements are queued.
    pub(crate) acks: Arc<crate::acks::AckQueue>,
    /// The room other hosts take in its target's mailbox: a message that came into a held
    /// slot gives its room back when it is taken.
    pub(crate) share: crate::credit::Share,
    /// Messages out of the mailbox (their slots free again).
    pub(crate) taken: AtomicU64,
    /// Messages done with.
    pub(crate) done: AtomicU64,
    pub(crate) dirty: AtomicBool,
}

impl Tally {
    pub(crate) fn new(
        peer: PeerKey,
        window: u64,
        acks: Arc<crate::acks::AckQueue>,
        share: crate::credit::Share,
    ) -> Arc<Self> {
        Arc::new(Self {
            peer,
            window,
            acks,
            share,
            taken: AtomicU64::new(0),
            done: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
        })
    }

    pub(crate) fn done(&self) -> u64 {
        self.done.load(Ordering::Acquire)
    }
}

impl Peer {
    pub(crate) fn new(host: String, incarnation: u64, subject: String, me: (&str, u64)) -> Self {
        Self {
            host,
            incarnation,
            subject,
            outgoing: Mutex::new(Out {
                bundle: Bundle::new(me.0, me.1),
                sealed: VecDeque::new(),
                queued: false,
                windows: HashMap::new(),
                current: HashMap::new(),
                asks: HashMap::new(),
                holds: HashMap::new(),
                fills: HashMap::new(),
            }),
            incoming: Mutex::new(In::default()),
            changed: Notify::new(),
            lost: AtomicBool::new(false),
        }
    }

    pub(crate) fn key(&self) -> PeerKey {
        (self.host.clone(), self.incarnation)
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }
}

impl Out {
    /// Appends a frame; `true` if the writer must be told (it had nothing of this peer's).
    pub(crate) fn push(&mut self, frame: &Frame) -> bool {
        self.bundle.push(frame);
        self.seal_if_full();
        self.wake_writer()
    }

    /// Appends message `seq` of `window` (for `target`), encoded; `true` as for
    /// [`Out::push`].
    pub(crate) fn push_message(
        &mut self,
        window: u64,
        target: &ComponentId,
        seq: u64,
        encoded: &[u8],
    ) -> bool {
        if !self.bundle.is_empty() && self.bundle.len() + encoded.len() > BUNDLE_MAX {
            let full = self.bundle.take();
            self.sealed.push_back(full);
        }
        self.bundle.push_message(window, target, seq, encoded);
        self.seal_if_full();
        self.wake_writer()
    }

    fn seal_if_full(&mut self) {
        if self.bundle.len() >= BUNDLE_MAX {
            let full = self.bundle.take();
            self.sealed.push_back(full);
        }
    }

    fn wake_writer(&mut self) -> bool {
        !std::mem::replace(&mut self.queued, true)
    }

    /// Everything to write now, oldest first; the peer leaves the writer's queue.
    pub(crate) fn drain(&mut self) -> Vec<Vec<u8>> {
        self.queued = false;
        let mut out: Vec<Vec<u8>> = self.sealed.drain(..).collect();
        if !self.bundle.is_empty() {
            out.push(self.bundle.take());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::decode;

    #[test]
    fn the_writer_is_told_once_and_big_runs_are_split_into_bundles() {
        let peer = Peer::new("b".into(), 2, "inbox".into(), ("a", 1));
        let mut out = peer.outgoing.lock();
        assert!(out.push(&Frame::Release { rid: 1 }));
        assert!(!out.push(&Frame::Release { rid: 2 }));
        let message = vec![0u8; 100 * 1024];
        let target: ComponentId = "t/x/1".parse().unwrap_or_else(|e| panic!("{e}"));
        for seq in 1..=5 {
            assert!(!out.push_message(9, &target, seq, &message));
        }
        let bundles = out.drain();
        assert!(bundles.len() >= 2, "{}", bundles.len());
        assert!(
            bundles
                .iter()
                .all(|b| b.len() <= BUNDLE_MAX + message.len())
        );
        let frames: usize = bundles
            .iter()
            .map(|b| decode(b).map(|r| r.frames.len()).unwrap_or(0))
            .sum();
        // Two releases, and the five messages in as many data frames as bundles.
        assert_eq!(frames, 2 + bundles.len());
        assert!(out.drain().is_empty());
        assert!(out.push(&Frame::Release { rid: 3 }));
    }
}
