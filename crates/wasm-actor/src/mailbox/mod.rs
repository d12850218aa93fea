//! A bounded mailbox that outlives the actor instances that drain it.
//!
//! A restart replaces the actor, not the mailbox: what was queued is delivered to the new
//! instance. Producers never wait: a full mailbox refuses at once. The draining actor waits on
//! the mailbox's own [`Wake`] when it is empty, so a push wakes it directly: no actor message
//! is sent per envelope. A wake-up with nobody waiting is kept (one permit), so one that comes
//! between the actor's last `pop` and its wait is not lost.
//!
//! A producer that chooses to wait for room ([`Mailbox::push_waiting`], the host's
//! `send_timeout`) waits on a second [`Notify`]; a `pop` signals it only when someone waits,
//! so the draining path pays nothing for it otherwise.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;
use wasm_core::ComponentMessage;

use crate::seam::Receipt;
use crate::stats::{Counters, Held};
use crate::wake::Wake;

/// What a mailbox holds.
#[derive(Debug)]
pub(crate) enum Envelope {
    /// A fire-and-forget message, or a request when `request` is set. One from another host
    /// carries its receipt, dropped when it is done with.
    Message {
        message: ComponentMessage,
        request: Option<u64>,
        receipt: Option<Receipt>,
    },
    /// A reply or error callback for a request this component made.
    Callback(ComponentMessage),
}

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// At capacity.
    Full,
    /// The component stopped for good.
    Closed,
}

#[derive(Debug)]
pub(crate) struct Mailbox {
    queue: Mutex<Queue>,
    capacity: usize,
    /// Wakes the draining actor: after a push, and when it must stop.
    ready: Wake,
    /// Wakes producers waiting for room: after a pop or a release while one waits, and at close.
    room: Notify,
    /// Each queued envelope is one unit of the system's outstanding work.
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Envelope>,
    closed: bool,
    /// Slots held for messages another host may send without asking first (its credit):
    /// they count against the capacity until the message arrives or they are released.
    reserved: usize,
    /// Producers waiting in [`Mailbox::push_waiting`].
    waiting: usize,
}

impl Mailbox {
    pub(crate) fn new(capacity: usize, counters: Arc<Counters>) -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            capacity: capacity.max(1),
            ready: Wake::default(),
            room: Notify::new(),
            counters,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.lock().items.len()
    }

    /// Queues a message within the capacity, or a callback regardless of it (callbacks answer
    /// requests this component made; dropping one would break the one-callback promise).
    pub(crate) fn push(&self, envelope: Envelope) -> Result<(), Refused> {
        self.try_push(envelope).map_err(|refused| refused.0)
    }

    /// As [`Mailbox::push`], handing a refused envelope back (boxed: refusals are rare).
    pub(crate) fn try_push(&self, envelope: Envelope) -> Result<(), Box<(Refused, Envelope)>> {
        {
            let mut queue = self.queue.lock();
            if let Err(refused) = Self::admit(&queue, self.capacity, &envelope) {
                return Err(Box::new((refused, envelope)));
            }
            self.counters.add_work(1);
            queue.items.push_back(envelope);
        }
        self.wake();
        Ok(())
    }

    fn admit(queue: &Queue, capacity: usize, envelope: &Envelope) -> Result<(), Refused> {
        if queue.closed {
            return Err(Refused::Closed);
        }
        if matches!(envelope, Envelope::Message { .. })
            && queue.items.len() + queue.reserved >= capacity
        {
            return Err(Refused::Full);
        }
        Ok(())
    }

    /// Holds up to `wanted` free slots for messages that will come with
    /// [`Mailbox::push_reserved`]; returns how many it holds (0 when full or closed).
    pub(crate) fn reserve(&self, wanted: usize) -> usize {
        let mut queue = self.queue.lock();
        if queue.closed {
            return 0;
        }
        let free = self
            .capacity
            .saturating_sub(queue.items.len() + queue.reserved);
        let granted = wanted.min(free);
        queue.reserved += granted;
        granted
    }

    /// Gives back `n` held slots.
    pub(crate) fn release(&self, n: usize) {
        let waiting = {
            let mut queue = self.queue.lock();
            queue.reserved = queue.reserved.saturating_sub(n);
            queue.waiting > 0
        };
        if waiting {
            self.room.notify_waiters();
        }
    }

    /// As [`Mailbox::push`], but a full mailbox is waited on, up to `timeout`, instead of
    /// refused at once. Waiting producers are not queued in order among themselves: each
    /// takes room as it finds it. On timeout the envelope is handed back with
    /// [`Refused::Full`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future queues nothing.
    pub(crate) async fn push_waiting(
        &self,
        envelope: Envelope,
        timeout: Duration,
    ) -> Result<(), Box<(Refused, Envelope)>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the check, so a pop between the check and the wait is seen.
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            let waiter = {
                let mut queue = self.queue.lock();
                match Self::admit(&queue, self.capacity, &envelope) {
                    Ok(()) => {
                        self.counters.add_work(1);
                        queue.items.push_back(envelope);
                        drop(queue);
                        self.wake();
                        return Ok(());
                    }
                    Err(Refused::Full) => {
                        queue.waiting += 1;
                        Waiter { mailbox: self }
                    }
                    Err(refused) => return Err(Box::new((refused, envelope))),
                }
            };
            let woken = tokio::time::timeout_at(deadline, room).await;
            drop(waiter);
            if woken.is_err() {
                // One last look: room may have come with the deadline.
                return self.try_push(envelope);
            }
            // Woken: the next turn checks again (another producer may have taken the room).
        }
    }

    /// Queues a run of messages under one lock, each into a held slot when its flag says so
    /// (with none held, an ordinary push): one wake-up for all. Returns the refused ones, in
    /// order.
    pub(crate) fn push_run(&self, run: Vec<(Envelope, bool)>) -> Vec<(Refused, Envelope)> {
        let mut refused = Vec::new();
        let mut pushed = 0;
        {
            let mut queue = self.queue.lock();
            for (envelope, held) in run {
                if queue.closed {
                    refused.push((Refused::Closed, envelope));
                    continue;
                }
                if held && queue.reserved > 0 {
                    queue.reserved -= 1;
                } else if let Err(why) = Self::admit(&queue, self.capacity, &envelope) {
                    refused.push((why, envelope));
                    continue;
                }
                queue.items.push_back(envelope);
                pushed += 1;
            }
            self.counters.add_work(pushed);
        }
        if pushed > 0 {
            self.wake();
        }
        refused
    }

    /// Queues one message in every mailbox, or in none: all are locked (in a fixed order)
    /// and checked before any is written. Returns the index of the first refusing mailbox.
    pub(crate) fn push_all(
        mailboxes: &[&Mailbox],
        make: impl Fn() -> Envelope,
    ) -> Result<(), (usize, Refused)> {
        let mut order: Vec<usize> = (0..mailboxes.len()).collect();
        order.sort_by_key(|&i| std::ptr::from_ref(mailboxes[i]) as usize);
        order.dedup_by_key(|i| std::ptr::from_ref(mailboxes[*i]) as usize);
        let mut guards = Vec::with_capacity(order.len());
        for &i in &order {
            guards.push((i, mailboxes[i].queue.lock()));
        }
        let probe = make();
        for (i, queue) in &guards {
            Self::admit(queue, mailboxes[*i].capacity, &probe).map_err(|r| (*i, r))?;
        }
        let mut probe = Some(probe);
        for (i, queue) in &mut guards {
            mailboxes[*i].counters.add_work(1);
            queue.items.push_back(probe.take().unwrap_or_else(&make));
        }
        drop(guards);
        for &i in &order {
            mailboxes[i].wake();
        }
        Ok(())
    }

    /// Takes the next envelope with its unit of work, which the caller gives up (by dropping
    /// the [`Held`]) once it is done with it: the system never looks idle in between, and an
    /// empty look costs no work unit.
    pub(crate) fn pop(&self) -> Option<(Envelope, Held<'_>)> {
        let (envelope, waiting) = {
            let mut queue = self.queue.lock();
            (queue.items.pop_front(), queue.waiting > 0)
        };
        let envelope = envelope?;
        if waiting {
            self.room.notify_waiters();
        }
        Some((envelope, Held::new(&self.counters)))
    }

    /// Wakes the draining actor, or the next one to wait if none waits now.
    pub(crate) fn wake(&self) {
        self.ready.wake();
    }

    /// Resolves when the mailbox was woken since the last wait: something was pushed, or the
    /// actor is asked to stop. It may resolve with nothing queued.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a wake-up that arrives after the future is dropped is kept for the next
    /// wait.
    pub(crate) async fn woken(&self) {
        self.ready.woken().await;
    }

    /// Takes every queued message that came from another host (those with a receipt) out of
    /// the queue, keeping the order of the rest; returns them.
    pub(crate) fn take_remote(&self) -> Vec<Envelope> {
        let mut queue = self.queue.lock();
        let (remote, local): (VecDeque<Envelope>, VecDeque<Envelope>) =
            queue.items.drain(..).partition(|envelope| {
                matches!(
                    envelope,
                    Envelope::Message {
                        receipt: Some(_),
                        ..
                    }
                )
            });
        queue.items = local;
        let waiting = queue.waiting > 0;
        drop(queue);
        self.counters.done_work(remote.len());
        if waiting && !remote.is_empty() {
            self.room.notify_waiters();
        }
        remote.into()
    }

    /// Closes the mailbox for good and returns what was still queued.
    pub(crate) fn close(&self) -> Vec<Envelope> {
        let mut queue = self.queue.lock();
        queue.closed = true;
        let items: Vec<Envelope> = queue.items.drain(..).collect();
        self.counters.done_work(items.len());
        drop(queue);
        self.room.notify_waiters();
        items
    }
}

/// One producer counted in [`Queue::waiting`] until it stops waiting (or is dropped).
struct Waiter<'a> {
    mailbox: &'a Mailbox,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut queue = self.mailbox.queue.lock();
        queue.waiting = queue.waiting.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests;
