//! The CPU deadline of a call: guest running time only, suspended time excluded.
//!
//! A call into a component is a future. While the guest (or a synchronous host function it
//! called) runs, the future is being polled; while the guest waits in an async host call
//! (`sleep-millis`, a WASI socket or poll), the future is pending. [`CpuMeter`] counts the
//! time between a `Pending` and the next poll as suspended. The epoch deadline fires after the
//! limit in wall-clock ticks; its callback then subtracts the suspended time and, if the guest
//! has not yet run for its limit, extends the deadline by the ticks still owed. Wall-clock time
//! is capped separately by the call's timeout.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::time::Sleep;
use wasmtime::UpdateDeadline;

use crate::error::Limit;
use crate::limits::Limiter;

/// The running and suspended time of the current call of one instance.
#[derive(Debug)]
pub(crate) struct CpuMeter {
    limit: Duration,
    tick: Duration,
    clock: Mutex<Clock>,
}

#[derive(Debug)]
struct Clock {
    /// When the current call began.
    start: Instant,
    /// Time spent suspended (pending) during the current call so far.
    suspended: Duration,
    /// When the call last went pending, if it is pending now.
    pending_since: Option<Instant>,
}

impl Clock {
    /// The call's wall-clock time at `now`, and the guest's running time (suspended time
    /// excluded).
    fn took(&self, now: Instant) -> (Duration, Duration) {
        let mut suspended = self.suspended;
        if let Some(since) = self.pending_since {
            suspended += now.saturating_duration_since(since);
        }
        let wall = now.saturating_duration_since(self.start);
        (wall, wall.saturating_sub(suspended))
    }
}

/// What the epoch callback decides.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The guest has not used its CPU time yet: extend the deadline by this many ticks.
    Extend(u64),
    /// The guest ran past its limit; the detail says by how much.
    Exceeded(String),
}

impl CpuMeter {
    /// A meter for calls limited to `limit` of running time, with epochs every `tick`.
    pub(crate) fn new(limit: Duration, tick: Duration) -> Arc<Self> {
        Arc::new(Self {
            limit,
            tick: tick.max(Duration::from_millis(1)),
            clock: Mutex::new(Clock {
                start: Instant::now(),
                suspended: Duration::ZERO,
                pending_since: None,
            }),
        })
    }

    /// Starts counting a new call; returns when it started.
    pub(crate) fn start(&self) -> Instant {
        let now = Instant::now();
        let mut clock = self.clock.lock();
        clock.start = now;
        clock.suspended = Duration::ZERO;
        clock.pending_since = None;
        now
    }

    fn resumed(&self, now: Instant) {
        let mut clock = self.clock.lock();
        if let Some(since) = clock.pending_since.take() {
            clock.suspended += now.saturating_duration_since(since);
        }
    }

    fn suspended(&self, now: Instant) {
        self.clock.lock().pending_since = Some(now);
    }

    /// How long the current call has taken at `now`: its wall-clock time and the guest's
    /// running time (suspended time excluded).
    pub(crate) fn took(&self, now: Instant) -> (Duration, Duration) {
        self.clock.lock().took(now)
    }

    /// The guest's running time of the current call at `now`.
    fn running(&self, now: Instant) -> Duration {
        self.clock.lock().took(now).1
    }

    /// Decides, when the epoch deadline is reached at `now`, whether the call may go on.
    pub(crate) fn verdict(&self, now: Instant) -> Verdict {
        let running = self.running(now);
        if running >= self.limit {
            return Verdict::Exceeded(format!(
                "the guest ran for {} ms, the limit is {} ms of execution time",
                running.as_millis(),
                self.limit.as_millis()
            ));
        }
        let owed = (self.limit - running).as_nanos();
        let ticks = owed.div_ceil(self.tick.as_nanos()).max(1);
        Verdict::Extend(u64::try_from(ticks).unwrap_or(u64::MAX))
    }

    /// The epoch-deadline callback of a store: extends the deadline by the ticks the guest
    /// spent suspended, or records the CPU limit in `limiter` and interrupts the guest.
    pub(crate) fn on_deadline(&self, limiter: &mut Limiter) -> UpdateDeadline {
        match self.verdict(Instant::now()) {
            Verdict::Extend(ticks) => UpdateDeadline::Continue(ticks),
            Verdict::Exceeded(detail) => {
                limiter.record(Limit::CpuTime, detail);
                UpdateDeadline::Interrupt
            }
        }
    }

    /// Runs `f`, a host function's work that may block the thread (storage I/O: a commit
    /// waits for the disk), counting its time as not the guest's, like a suspended call.
    pub(crate) fn off_guest<T>(&self, f: impl FnOnce() -> T) -> T {
        self.suspended(Instant::now());
        let value = f();
        self.resumed(Instant::now());
        value
    }

    /// Runs `call`, started at `started` (see [`CpuMeter::start`]), counting the time it is
    /// pending as suspended and giving up once `wall` has passed since `started`: `None` means
    /// the wall-clock timeout fired.
    ///
    /// A call that completes without ever going pending (the common case: no async host call)
    /// reads the clock once, in `start`, and never arms a timer; the timer is armed the first
    /// time the call goes pending. A call that never goes pending cannot be timed out by a
    /// timer anyway: the epoch deadline stops it.
    pub(crate) async fn metered<F: Future>(
        &self,
        call: F,
        started: Instant,
        wall: Duration,
    ) -> Option<F::Output> {
        let mut call = pin!(call);
        let mut timer: Option<Pin<Box<Sleep>>> = None;
        poll_fn(|cx| {
            if timer.is_some() {
                self.resumed(Instant::now());
            }
            if let Poll::Ready(output) = call.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            self.suspended(Instant::now());
            let timer = timer.get_or_insert_with(|| {
                Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
                    started + wall,
                )))
            });
            match timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspended_time_does_not_count_against_the_limit() {
        let meter = CpuMeter::new(Duration::from_millis(100), Duration::from_millis(5));
        let start = Instant::now();
        meter.clock.lock().start = start;
        // 10 ms running, then 900 ms suspended, then 50 ms running.
        meter.suspended(start + Duration::from_millis(10));
        meter.resumed(start + Duration::from_millis(910));
        let verdict = meter.verdict(start + Duration::from_millis(960));
        // 60 ms ran, 40 ms (8 ticks) are still owed.
        assert_eq!(verdict, Verdict::Extend(8));
    }

    #[test]
    fn a_pending_call_counts_as_suspended_until_it_resumes() {
        let meter = CpuMeter::new(Duration::from_millis(100), Duration::from_millis(5));
        let start = Instant::now();
        meter.clock.lock().start = start;
        meter.suspended(start);
        assert_eq!(
            meter.running(start + Duration::from_secs(5)),
            Duration::ZERO
        );
    }

    #[test]
    fn time_in_blocking_host_work_is_not_the_guests() {
        let meter = CpuMeter::new(Duration::from_millis(100), Duration::from_millis(5));
        let start = meter.start();
        meter.off_guest(|| std::thread::sleep(Duration::from_millis(150)));
        // 150 ms passed, nearly all of it off the guest: well under the 100 ms limit.
        let running = meter.running(Instant::now());
        assert!(running < Duration::from_millis(50), "{running:?}");
        assert!(Instant::now() - start >= Duration::from_millis(150));
    }

    #[test]
    fn running_past_the_limit_is_exceeded() {
        let meter = CpuMeter::new(Duration::from_millis(100), Duration::from_millis(5));
        let start = Instant::now();
        meter.clock.lock().start = start;
        let verdict = meter.verdict(start + Duration::from_millis(100));
        assert!(
            matches!(&verdict, Verdict::Exceeded(d) if d.contains("100 ms")),
            "{verdict:?}"
        );
        let mut limiter = Limiter::new(1 << 20);
        meter.clock.lock().start = Instant::now() - Duration::from_millis(200);
        assert!(matches!(
            meter.on_deadline(&mut limiter),
            UpdateDeadline::Interrupt
        ));
        assert!(matches!(limiter.take_hit(), Some((Limit::CpuTime, _))));
    }
}
