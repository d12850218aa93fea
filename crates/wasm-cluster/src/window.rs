//! Windows of credit, as each side keeps them. Pure state: no I/O, no locks.
//!
//! The receiving host grants a window for one target and holds that many slots in its
//! mailbox. The sender numbers its messages on the window from 1 and keeps each until the
//! receiver says it is done with it (handled, answered, or reported there), so that if the
//! receiver's host is lost it can report exactly those; it sends again what the receiver has
//! not acknowledged receiving (after a lost connection), and the receiver takes each number
//! once, in order. As messages are done the receiver holds new slots and raises the limit,
//! so a steady sender never waits. An unused window goes back to the receiver.

use std::collections::VecDeque;
use std::time::Instant;

use wasm_core::ComponentId;

/// The sending side of one window.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) target: ComponentId,
    /// The target's claim the window was granted under.
    pub(crate) epoch: u64,
    /// The number the next message gets.
    pub(crate) next_seq: u64,
    /// Messages up to this number may be sent.
    pub(crate) limit: u64,
    /// How many it was granted at first: the receiver keeps about this many in its hands.
    pub(crate) size: u64,
    /// More room was asked for and has not come yet.
    pub(crate) more_asked: bool,
    /// The receiver has every message up to this one.
    pub(crate) received: u64,
    /// The receiver is done with the messages up to this one.
    pub(crate) done: u64,
    /// Messages `done + 1 ..`, encoded, kept until done.
    pub(crate) kept: VecDeque<Vec<u8>>,
    /// The last message sent on it, and when the receiver last moved `received` (or this side
    /// last sent again).
    pub(crate) last_send: Instant,
    pub(crate) last_progress: Instant,
    /// The receiver closed it: nothing new goes on it.
    pub(crate) closed: bool,
    /// Given back after this message.
    pub(crate) returned: Option<u64>,
}

impl Outgoing {
    pub(crate) fn new(target: ComponentId, epoch: u64, limit: u64, now: Instant) -> Self {
        Self {
            target,
            epoch,
            next_seq: 1,
            limit,
            size: limit,
            more_asked: false,
            received: 0,
            done: 0,
            kept: VecDeque::new(),
            last_send: now,
            last_progress: now,
            closed: false,
            returned: None,
        }
    }

    /// Whether new messages may go on it now.
    pub(crate) fn open(&self) -> bool {
        !self.closed && self.returned.is_none()
    }

    /// Whether it has room for one more message.
    pub(crate) fn has_room(&self) -> bool {
        self.open() && self.next_seq <= self.limit
    }

    /// Whether to ask for more room ahead of need (at most once until it comes): on a
    /// window of four or more with half of it used. A small window's mailbox is small: its
    /// slots are held again only when the sender waits with something to send
    /// ([`Outgoing::needs_more`]), so local senders find room meanwhile.
    pub(crate) fn wants_more(&self) -> bool {
        let left = self.limit.saturating_sub(self.last());
        self.open() && !self.more_asked && self.size >= 4 && left <= self.size / 2
    }

    /// Whether to ask for more room for a message waiting to go (once until it comes).
    pub(crate) fn needs_more(&self) -> bool {
        self.open() && !self.more_asked
    }

    /// Numbers and keeps one message; returns its number.
    pub(crate) fn push(&mut self, encoded: Vec<u8>, now: Instant) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.kept.push_back(encoded);
        if self.received + 1 == seq {
            // Nothing unacknowledged before it: the wait for its acknowledgement starts now.
            self.last_progress = now;
        }
        self.last_send = now;
        seq
    }

    /// The last number sent.
    pub(crate) fn last(&self) -> u64 {
        self.next_seq - 1
    }

    /// An acknowledgement: the receiver's counts only move forward.
    pub(crate) fn acked(&mut self, received: u64, done: u64, limit: u64, now: Instant) {
        let received = received.min(self.last());
        if received > self.received {
            self.received = received;
            self.last_progress = now;
        }
        let done = done.min(self.received);
        while self.done < done {
            self.kept.pop_front();
            self.done += 1;
        }
        if limit > self.limit {
            self.limit = limit;
            self.more_asked = false;
        }
    }

    /// The messages the receiver has not acknowledged receiving, with their numbers: sent
    /// again after a lost connection, or when the receiver has been silent for too long.
    pub(crate) fn unacknowledged(&self) -> impl Iterator<Item = (u64, &Vec<u8>)> {
        let skip = usize::try_from(self.received - self.done).unwrap_or(usize::MAX);
        self.kept
            .iter()
            .enumerate()
            .skip(skip)
            .map(|(i, bytes)| (self.done + 1 + i as u64, bytes))
    }

    /// Whether every message on it has been received and it lay unused since `idle_since`.
    pub(crate) fn idle(&self, idle_since: Instant) -> bool {
        self.open() && self.received == self.last() && self.last_send <= idle_since
    }

    /// Whether the receiver is done with everything sent on it since it was given back.
    pub(crate) fn finished(&self) -> bool {
        self.returned.is_some_and(|last| self.done >= last)
    }
}

/// The receiving side of one window.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) target: ComponentId,
    /// At most this many messages may be outstanding (granted, not done).
    pub(crate) size: u64,
    /// Every message up to this number has arrived.
    pub(crate) received: u64,
    /// Messages up to this number may be sent.
    pub(crate) limit: u64,
    /// Slots held in the target's mailbox for messages not arrived yet.
    pub(crate) held: u64,
    /// The sender asked for more room and has not had all of it.
    pub(crate) more: bool,
    /// When the last message arrived.
    pub(crate) last_arrival: Instant,
    /// Why it was closed (its target stopped here): later messages are dead letters.
    pub(crate) closed: Option<String>,
    /// The sender gave it back after this message.
    pub(crate) returned: Option<u64>,
}

/// What to do with one arriving message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// The next one: deliver it (into a held slot if `held`).
    Deliver { held: bool },
    /// The next one, but the window is closed: report it.
    Refuse,
    /// Already had.
    Duplicate,
    /// One before it is missing: drop it, the sender sends both again.
    Gap,
}

impl Incoming {
    pub(crate) fn new(target: ComponentId, granted: u64, now: Instant) -> Self {
        Self {
            target,
            size: granted,
            received: 0,
            limit: granted,
            held: granted,
            more: false,
            last_arrival: now,
            closed: None,
            returned: None,
        }
    }

    /// Message `seq` arrives.
    pub(crate) fn arrive(&mut self, seq: u64, now: Instant) -> Arrival {
        if seq <= self.received {
            return Arrival::Duplicate;
        }
        if seq > self.received + 1 {
            return Arrival::Gap;
        }
        self.received = seq;
        self.last_arrival = now;
        if self.closed.is_some() {
            return Arrival::Refuse;
        }
        let held = self.held > 0;
        self.held = self.held.saturating_sub(1);
        Arrival::Deliver { held }
    }

    /// How many more slots it wants held now that `taken` messages have left the mailbox,
    /// if the sender asked for more: as many as keep `size` messages in the mailbox or on
    /// their way. None once closed or given back.
    pub(crate) fn wanted(&self, taken: u64) -> u64 {
        if !self.more || self.closed.is_some() || self.returned.is_some() {
            return 0;
        }
        let outstanding = self.limit.saturating_sub(taken);
        self.size.saturating_sub(outstanding)
    }

    /// `got` more slots are held: the limit goes up by as many; once the sender has its
    /// whole size again, it has had all it asked for.
    pub(crate) fn raised(&mut self, got: u64, taken: u64) {
        self.limit += got;
        self.held += got;
        if self.limit.saturating_sub(taken) >= self.size {
            self.more = false;
        }
    }

    /// Lets go of the slots held: returns how many to give back to the mailbox.
    pub(crate) fn let_go(&mut self) -> u64 {
        std::mem::take(&mut self.held)
    }

    /// Whether both sides are through with it: given back and every message done.
    pub(crate) fn finished(&self, done: u64) -> bool {
        self.returned
            .is_some_and(|last| self.received >= last && done >= last)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn target() -> ComponentId {
        "t/x/1".parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_sender_keeps_what_is_not_done_and_sends_again_what_is_not_received() {
        let now = Instant::now();
        let mut out = Outgoing::new(target(), 1, 3, now);
        for n in 1..=3u8 {
            assert!(out.has_room());
            // A small window asks for more only when a message waits.
            assert!(!out.wants_more());
            assert_eq!(out.push(vec![n], now), u64::from(n));
        }
        assert!(!out.has_room());
        assert!(!out.wants_more());
        assert!(out.needs_more());
        out.more_asked = true;
        assert!(!out.needs_more());
        out.acked(2, 1, 5, now);
        assert!(!out.more_asked);
        assert_eq!(out.kept.len(), 2);
        let again: Vec<(u64, u8)> = out.unacknowledged().map(|(s, b)| (s, b[0])).collect();
        assert_eq!(again, vec![(3, 3)]);
        assert!(out.has_room());
        // Counts never go back, and never past what was sent.
        out.acked(1, 0, 4, now);
        out.acked(9, 9, 5, now);
        assert_eq!((out.received, out.done, out.limit), (3, 3, 5));
        assert!(out.kept.is_empty());
        assert!(out.idle(now + Duration::from_secs(1)));
        out.returned = Some(out.last());
        assert!(!out.has_room());
        assert!(out.finished());
    }

    #[test]
    fn the_receiver_takes_each_number_once_in_order_and_keeps_its_size_outstanding() {
        let now = Instant::now();
        let mut inc = Incoming::new(target(), 2, now);
        assert_eq!(inc.arrive(2, now), Arrival::Gap);
        assert_eq!(inc.arrive(1, now), Arrival::Deliver { held: true });
        assert_eq!(inc.arrive(1, now), Arrival::Duplicate);
        assert_eq!(inc.arrive(2, now), Arrival::Deliver { held: true });
        // Over the limit (a sender that does not keep to it): not into a held slot.
        assert_eq!(inc.arrive(3, now), Arrival::Deliver { held: false });
        // Two taken: nothing more is held until the sender asks; then two keep two
        // outstanding.
        assert_eq!(inc.wanted(2), 0);
        inc.more = true;
        assert_eq!(inc.wanted(2), 2);
        inc.raised(2, 2);
        assert_eq!((inc.limit, inc.held, inc.more), (4, 2, false));
        assert_eq!(inc.wanted(2), 0);
        inc.closed = Some("stopped".into());
        assert_eq!(inc.arrive(4, now), Arrival::Refuse);
        assert_eq!(inc.wanted(4), 0);
        assert_eq!(inc.let_go(), 2);
        inc.returned = Some(4);
        assert!(!inc.finished(3));
        assert!(inc.finished(4));
    }
}
