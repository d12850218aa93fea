//! Windows of credit: a sender's ask, granted or refused here; the acknowledgements, returns
//! and closes of this host's own windows; and closing the windows of a component that stops.

use std::sync::Arc;
use std::time::Instant;

use wasm_actor::Router;
use wasm_core::ComponentId;

use crate::credit::window_share;
use crate::frame::{Code, Frame};
use crate::peer::{Peer, Tally};
use crate::transport::Inner;
use crate::window::Incoming;

impl Inner {
    /// A sender asks for a window of credit for one of this host's components.
    pub(super) fn asked_for_window(
        &self,
        router: &Router,
        peer: &Arc<Peer>,
        ask: u64,
        target: ComponentId,
        epoch: u64,
        want: u64,
    ) {
        let claim = self.owned.lock().get(&target).map(|o| o.epoch);
        let reply = match claim {
            None => Frame::Refuse {
                ask,
                code: Code::NotFound,
                epoch: 0,
                detail: String::new(),
            },
            Some(current) if epoch < current => Frame::Refuse {
                ask,
                code: Code::Stale,
                epoch: current,
                detail: String::new(),
            },
            Some(current) => {
                let share = router.mailbox_capacity(&target).map_or(0, window_share);
                let (got, _) = self.hold(router, &target, want.min(share));
                if got == 0 {
                    Frame::Refuse {
                        ask,
                        code: if router.is_local(&target) {
                            Code::QueueFull
                        } else {
                            Code::NotFound
                        },
                        epoch: current,
                        detail: String::new(),
                    }
                } else {
                    let window = self.next_id();
                    let tally = Tally::new(
                        peer.key(),
                        window,
                        self.acks.clone(),
                        self.shares.of(&target),
                    );
                    peer.incoming
                        .lock()
                        .windows
                        .insert(window, (Incoming::new(target, got, Instant::now()), tally));
                    Frame::Grant {
                        ask,
                        window,
                        limit: got,
                        epoch: current,
                    }
                }
            }
        };
        if peer.outgoing.lock().push(&reply) {
            self.wake_writer(peer);
        }
    }

    pub(super) fn acked(
        &self,
        peer: &Arc<Peer>,
        window: u64,
        received: u64,
        done: u64,
        limit: u64,
    ) {
        let mut out = peer.outgoing.lock();
        if let Some(state) = out.windows.get_mut(&window) {
            state.acked(received, done, limit, Instant::now());
            if state.finished() {
                out.windows.remove(&window);
            }
        }
        drop(out);
        peer.changed.notify_waiters();
    }

    pub(super) fn returned(&self, router: &Router, peer: &Arc<Peer>, window: u64, last: u64) {
        let mut incoming = peer.incoming.lock();
        let Some((state, tally)) = incoming.windows.get_mut(&window) else {
            return;
        };
        state.returned = Some(last);
        let held = state.let_go();
        self.unhold(Some(router), &state.target, held);
        let tally = tally.clone();
        drop(incoming);
        // The final acknowledgement (and forgetting the window) once all is done.
        self.acks.window(&tally);
    }

    pub(super) fn closed(&self, peer: &Arc<Peer>, window: u64, reason: &str) {
        let mut out = peer.outgoing.lock();
        let Some(state) = out.windows.get_mut(&window) else {
            return;
        };
        tracing::debug!(host = %peer.host, component = %state.target, %reason, "a window was closed by its receiver");
        state.closed = true;
        let target = state.target.clone();
        if out.current.get(&target) == Some(&window) {
            out.current.remove(&target);
        }
        drop(out);
        peer.changed.notify_waiters();
    }

    /// `id` stopped here: every window other hosts hold for it closes (later messages are
    /// reported here as dead letters), and its holds lapse.
    pub(crate) fn close_windows_of(&self, id: &ComponentId, reason: &str) {
        let peers: Vec<Arc<Peer>> = self.peers.read().values().cloned().collect();
        for peer in peers {
            let mut frames = Vec::new();
            {
                let mut incoming = peer.incoming.lock();
                for (window, (state, _)) in incoming.windows.iter_mut() {
                    if &state.target == id && state.closed.is_none() {
                        state.closed = Some(reason.to_owned());
                        let held = state.let_go();
                        self.unhold(self.router(), id, held);
                        frames.push(Frame::Closed {
                            window: *window,
                            reason: reason.to_owned(),
                        });
                    }
                }
                let before = incoming.holds.len();
                incoming.holds.retain(|_, (target, _)| target != id);
                self.unhold(self.router(), id, (before - incoming.holds.len()) as u64);
            }
            if !frames.is_empty() {
                let wake = {
                    let mut out = peer.outgoing.lock();
                    frames.iter().fold(false, |wake, f| out.push(f) | wake)
                };
                if wake {
                    self.wake_writer(&peer);
                }
            }
        }
    }
}
