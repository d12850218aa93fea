//! A wake-up for one waiter (a mailbox's draining actor), kept when nobody waits: a permit
//! flag and the waiter's waker, two atomics and no lock. A wake while a permit is already
//! kept costs one atomic swap, so producers pay almost nothing while the actor is busy.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

use atomic_waker::AtomicWaker;

/// One waiter's wake-up, kept until it is taken.
#[derive(Debug, Default)]
pub(crate) struct Wake {
    permit: AtomicBool,
    waker: AtomicWaker,
}

impl Wake {
    /// Gives the permit and wakes the waiter, if one waits (else the next wait takes it).
    pub(crate) fn wake(&self) {
        if !self.permit.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
    }

    /// Resolves once a permit is given, and takes it. For one waiter at a time: a second
    /// task waiting at once replaces the first one's waker.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a permit given after the future is dropped is kept for the next wait.
    pub(crate) async fn woken(&self) {
        poll_fn(|cx| {
            if self.take() {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            // Looked at again after registering: a wake in between is not lost.
            if self.take() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    fn take(&self) -> bool {
        self.permit.load(Ordering::Acquire) && self.permit.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_wake_before_the_wait_is_kept_once() {
        let wake = Wake::default();
        wake.wake();
        wake.wake();
        tokio::time::timeout(Duration::from_secs(5), wake.woken())
            .await
            .unwrap_or_else(|_| panic!("the kept permit was lost"));
        // A zero timeout polls the wait once: no second permit, so it is still pending.
        let again = tokio::time::timeout(Duration::ZERO, wake.woken()).await;
        assert!(again.is_err(), "two wakes before a wait are one permit");
        wake.wake();
        let third = tokio::time::timeout(Duration::ZERO, wake.woken()).await;
        assert!(
            third.is_ok(),
            "a wake after the wait was taken gives a new permit"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_is_woken_from_another_thread_every_time() {
        let wake = Arc::new(Wake::default());
        let rounds = 10_000;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let waiter = tokio::spawn({
            let wake = wake.clone();
            async move {
                for round in 0..rounds {
                    wake.woken().await;
                    tx.send(round).unwrap_or_else(|_| panic!("the test ended"));
                }
            }
        });
        for round in 0..rounds {
            wake.wake();
            let seen = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
            assert_eq!(seen.ok().flatten(), Some(round), "wake {round} was lost");
        }
        waiter.await.unwrap_or_else(|e| panic!("{e}"));
    }
}
