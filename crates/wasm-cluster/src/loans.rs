//! Slots this host holds in its components' mailboxes for messages other hosts will send
//! (the first half of a broadcast across hosts), so that the second half cannot be refused.

use std::collections::HashMap;

use parking_lot::Mutex;
use wasm_actor::Router;
use wasm_core::{ComponentId, MessagingError};

/// Held slots, by (requesting host, local component).
#[derive(Debug, Default)]
pub(crate) struct Loans {
    held: Mutex<HashMap<(String, ComponentId), usize>>,
}

impl Loans {
    /// Holds one slot in the mailbox of `to` for `host`.
    ///
    /// # Errors
    ///
    /// `queue-full` if the mailbox has no free slot, `target-not-found` if `to` does not run
    /// here.
    pub(crate) fn lend(
        &self,
        router: &Router,
        host: &str,
        to: &ComponentId,
    ) -> Result<(), MessagingError> {
        let mut held = self.held.lock();
        if router.reserve_for_remote(to, 1)? == 0 {
            return Err(MessagingError::QueueFull);
        }
        *held.entry((host.to_owned(), to.clone())).or_insert(0) += 1;
        Ok(())
    }

    /// A message from `host` for `to` arrived to use a held slot: `true` if one was held.
    pub(crate) fn repay(&self, host: &str, to: &ComponentId) -> bool {
        let mut held = self.held.lock();
        let key = (host.to_owned(), to.clone());
        match held.get_mut(&key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                held.remove(&key);
                true
            }
            None => false,
        }
    }

    /// `host` gives back one slot it held in `to`'s mailbox.
    pub(crate) fn give_back(&self, router: &Router, host: &str, to: &ComponentId) {
        if self.repay(host, to) {
            router.release_for_remote(to, 1);
        }
    }

    /// `host` is gone: every slot held for it is given back.
    pub(crate) fn forgive_host(&self, router: Option<&Router>, host: &str) {
        let mut held = self.held.lock();
        held.retain(|(by, to), n| {
            if by != host {
                return true;
            }
            if let Some(router) = router {
                router.release_for_remote(to, *n);
            }
            false
        });
    }

    /// `id` stopped here: its mailbox is closed, nothing held in it matters any more.
    pub(crate) fn forget_component(&self, id: &ComponentId) {
        self.held.lock().retain(|(_, to), _| to != id);
    }
}
