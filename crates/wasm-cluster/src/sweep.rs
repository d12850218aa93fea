//! Housekeeping, every tenth of a second (and at once when the connection comes back):
//! messages not acknowledged are sent again, unused windows are given back, broadcast holds
//! that were never filled lapse, and what is kept only for a while is let go.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::frame::{Frame, WireMsg, decode_message};
use crate::peer::Peer;
use crate::stats::add;
use crate::transport::Inner;

/// How often the sweep runs.
const EVERY: Duration = Duration::from_millis(100);
/// How long a receiver may stay silent about messages sent to it before they are sent again.
const RESEND_AFTER: Duration = Duration::from_millis(500);
/// How long an answered request's record, an unanswered ask, or a filled hold's record is
/// kept.
const KEEP: Duration = Duration::from_secs(30);
/// How long an ended incarnation is remembered (what it sent before it ended is settled).
const REMEMBER_ENDED: Duration = Duration::from_secs(600);

impl Inner {
    pub(crate) async fn sweep_loop(self: Arc<Self>) {
        loop {
            let wake = self.signals.wake.notified();
            tokio::select! {
                () = tokio::time::sleep(EVERY) => {}
                () = wake => {}
            }
            let reconnected = self.signals.reconnected.swap(false, Ordering::AcqRel);
            let now = Instant::now();
            let peers: Vec<Arc<Peer>> = self.peers.read().values().cloned().collect();
            for peer in peers {
                self.sweep_outgoing(&peer, now, reconnected);
                self.sweep_incoming(&peer, now);
            }
            let expired = now.checked_sub(KEEP);
            self.asked
                .lock()
                .retain(|_, asked| expired.is_none_or(|e| asked.until > e));
            self.ended
                .lock()
                .retain(|_, at| now.duration_since(*at) < REMEMBER_ENDED);
            for change in self.directory.overdue(now) {
                self.host_changed(change);
            }
        }
    }

    fn sweep_outgoing(&self, peer: &Arc<Peer>, now: Instant, reconnected: bool) {
        let idle_since = now.checked_sub(self.config.idle);
        let mut out = peer.outgoing.lock();
        let out = &mut *out;
        let mut frames = Vec::new();
        let mut resend = Vec::new();
        let mut finished = Vec::new();
        for (&id, window) in &mut out.windows {
            let silent = now.duration_since(window.last_progress) >= RESEND_AFTER;
            if window.received < window.last() && (reconnected || silent) {
                for (seq, bytes) in window.unacknowledged() {
                    resend.push((id, window.target.clone(), seq, bytes.clone()));
                }
                window.last_progress = now;
            }
            if idle_since.is_some_and(|since| window.idle(since))
                || (window.closed && window.returned.is_none() && window.received == window.last())
            {
                window.returned = Some(window.last());
                frames.push(Frame::Return {
                    window: id,
                    last: window.last(),
                });
            } else if window.returned.is_some() && !window.finished() && (reconnected || silent) {
                // The give-back (or its acknowledgement) may have been lost.
                frames.push(Frame::Return {
                    window: id,
                    last: window.last(),
                });
                window.last_progress = now;
            }
            if window.finished() {
                finished.push(id);
            }
        }
        for id in finished {
            out.windows.remove(&id);
        }
        out.current
            .retain(|_, id| out.windows.get(id).is_some_and(|w| w.open()));
        out.asks
            .retain(|_, asking| now.duration_since(asking.since) < KEEP);
        for (rid, (target, bytes, sent)) in &mut out.fills {
            if (reconnected || now.duration_since(*sent) >= RESEND_AFTER)
                && let Ok(message) = decode_message(bytes)
            {
                frames.push(Frame::Fill {
                    rid: *rid,
                    target: target.clone(),
                    message: WireMsg {
                        message: message.message,
                        deadline_ms: None,
                    },
                });
                *sent = now;
            }
        }
        add(&self.stats.resent, resend.len() as u64);
        let mut wake = false;
        for (id, target, seq, bytes) in resend {
            wake |= out.push_message(id, &target, seq, &bytes);
        }
        for frame in &frames {
            wake |= out.push(frame);
        }
        drop(frames);
        if wake {
            self.wake_writer(peer);
        }
    }

    fn sweep_incoming(&self, peer: &Arc<Peer>, now: Instant) {
        let router = self.router();
        let mut incoming = peer.incoming.lock();
        let lapsed: Vec<u64> = incoming
            .holds
            .iter()
            .filter(|(_, (_, until))| *until <= now)
            .map(|(rid, _)| *rid)
            .collect();
        for rid in lapsed {
            if let Some((target, _)) = incoming.holds.remove(&rid) {
                self.unhold(router, &target, 1);
            }
        }
        incoming
            .filled
            .retain(|_, (_, at)| now.duration_since(*at) < KEEP);
    }
}
