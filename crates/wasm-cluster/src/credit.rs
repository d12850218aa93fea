//! The credit window of sends between hosts.
//!
//! A send with no credit is acknowledged (one round trip); with the acknowledgement, the
//! target's host holds up to [`WINDOW`] slots (and at most a quarter of the mailbox) in the
//! target's mailbox for the sending host and says how many. Until they are spent the sender sends without waiting (one NATS message
//! per send), each message going into a held slot, so none can be refused for capacity. The
//! next acknowledged send says how many the last credit carried: any the target's host did
//! not receive (lost when the NATS connection dropped) are reported there as dead letters,
//! and the slots left over are given back before new ones are held.

use std::collections::HashMap;

use parking_lot::Mutex;
use wasm_actor::Router;
use wasm_core::{ComponentId, ComponentMessage};

/// The most slots held in one target's mailbox for one sending host.
pub(crate) const WINDOW: usize = 64;

/// The sending side: credit per remote target.
#[derive(Debug, Default)]
pub(crate) struct Credits {
    lines: Mutex<HashMap<ComponentId, Credit>>,
}

#[derive(Debug)]
struct Credit {
    /// The host that holds the slots.
    host: String,
    /// Slots not used yet.
    left: usize,
    /// Messages sent on this credit so far.
    spent: u64,
}

impl Credits {
    /// Takes one unit of credit for `to`, if any is left.
    pub(crate) fn take(&self, to: &ComponentId) -> bool {
        let mut lines = self.lines.lock();
        match lines.get_mut(to) {
            Some(credit) if credit.left > 0 => {
                credit.left -= 1;
                credit.spent += 1;
                true
            }
            _ => false,
        }
    }

    /// How many messages went out on the last credit for `to` (said with the next
    /// acknowledged send).
    pub(crate) fn spent(&self, to: &ComponentId) -> Option<u64> {
        self.lines.lock().get(to).map(|c| c.spent)
    }

    /// `host` granted `left` new credit for `to` (replacing what was left: the sender asks only
    /// when it has none).
    pub(crate) fn granted(&self, to: &ComponentId, host: &str, left: usize) {
        self.lines.lock().insert(
            to.clone(),
            Credit {
                host: host.to_owned(),
                left,
                spent: 0,
            },
        );
    }

    /// `host` is gone: its credit is worthless.
    pub(crate) fn drop_host(&self, host: &str) {
        self.lines.lock().retain(|_, c| c.host != host);
    }

    /// The connection dropped: what was left is not used (the next send is acknowledged and
    /// settles the account).
    pub(crate) fn suspend(&self) {
        for credit in self.lines.lock().values_mut() {
            credit.left = 0;
        }
    }
}

/// The receiving side: slots held per (sending host, local target).
#[derive(Debug, Default)]
pub(crate) struct Lent {
    lines: Mutex<HashMap<(String, ComponentId), Line>>,
}

#[derive(Debug, Default)]
struct Line {
    /// Slots held and not used yet.
    held: usize,
    /// Messages received on the current credit.
    received: u64,
}

impl Lent {
    /// An acknowledged send from `host` to `to` was queued; it said it had sent `spent`
    /// messages on its last credit. Settles that credit (reporting the ones that never
    /// arrived, giving back the slots left) and holds a new one; returns its size.
    pub(crate) fn settle_and_lend(
        &self,
        router: &Router,
        host: &str,
        to: &ComponentId,
        spent: Option<u64>,
    ) -> usize {
        let mut lines = self.lines.lock();
        let line = lines.entry((host.to_owned(), to.clone())).or_default();
        let lost = spent.unwrap_or(0).saturating_sub(line.received);
        if lost > 0 {
            router.lost_in_transit(to, host, lost);
        }
        if line.held > 0 {
            router.release_for_remote(to, line.held);
        }
        line.received = 0;
        line.held = router.lend_for_remote(to, WINDOW).unwrap_or(0);
        line.held
    }

    /// A message `host` sent on credit arrived for `to`: it goes into a held slot (with none
    /// held, it is an ordinary push, reported as a dead letter if refused: nobody waits for
    /// an acknowledgement).
    pub(crate) fn arrived(
        &self,
        router: &Router,
        host: &str,
        to: &ComponentId,
        message: ComponentMessage,
    ) {
        let held = {
            let mut lines = self.lines.lock();
            let line = lines.entry((host.to_owned(), to.clone())).or_default();
            line.received += 1;
            let held = line.held > 0;
            line.held = line.held.saturating_sub(1);
            held
        };
        router.deliver_reserved_from_remote(to, message, held);
    }

    /// `host` is gone: every slot held for it is given back.
    pub(crate) fn forgive_host(&self, router: Option<&Router>, host: &str) {
        self.lines.lock().retain(|(by, to), line| {
            if by != host {
                return true;
            }
            if let Some(router) = router {
                router.release_for_remote(to, line.held);
            }
            false
        });
    }

    /// `id` stopped here: its mailbox is closed, nothing held in it matters any more.
    pub(crate) fn forget_component(&self, id: &ComponentId) {
        self.lines.lock().retain(|(_, to), _| to != id);
    }
}
