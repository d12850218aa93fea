//! The timer task of the pending-request table: it fires request deadlines through delivery.

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

use super::Delivery;
use super::correlation::TimerSignal;

/// Marks the timer task gone when it ends, however it ends (aborted at shutdown included).
pub(super) struct Alive(pub(super) Arc<TimerSignal>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::Release);
    }
}

/// Fires request deadlines: sleeps until the earliest one (or until told of an earlier one),
/// then answers every expired request still pending with a timeout callback. Answered and
/// cancelled requests cost it nothing: their deadlines leave the table with them. Ends when
/// the router is dropped, or when aborted at shutdown.
pub(crate) async fn run_timers(signal: Arc<TimerSignal>, delivery: Weak<Delivery>) {
    let _alive = Alive(Arc::clone(&signal));
    loop {
        // Listening before the table is read: a deadline registered in between is not missed.
        let earlier = signal.earlier.notified();
        let mut earlier = pin!(earlier);
        earlier.as_mut().enable();
        let next = {
            let Some(delivery) = delivery.upgrade() else {
                return;
            };
            delivery.expire(Instant::now())
        };
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    () = &mut earlier => {}
                }
            }
            None => earlier.await,
        }
    }
}
