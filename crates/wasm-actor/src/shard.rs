//! Shards: threads that each run a current-thread tokio runtime, on which component actors
//! are placed (see [`crate::Placement`]). A component's instances always run on its shard, so
//! a conversation between neighbours never leaves one thread, while independent components
//! spread over the cores. A message to a component on another shard is a push into its
//! mailbox and a wake of that shard's thread: the hand-off tokio does between runtimes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The shards of one system: where each runs and how many components it carries.
#[derive(Debug)]
pub(crate) struct Shards {
    handles: Box<[Handle]>,
    load: Arc<[AtomicUsize]>,
}

/// Keeps the shard threads of a system running; dropping it lets each finish (its runtime
/// then drops whatever tasks are left on it).
#[derive(Debug)]
pub(crate) struct ShardThreads {
    stops: Vec<oneshot::Sender<()>>,
}

impl ShardThreads {
    /// Tells every shard thread to end.
    pub(crate) fn stop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}

impl Drop for ShardThreads {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A component's place on a shard: counted in that shard's load while the component's slot
/// lives.
#[derive(Debug)]
pub(crate) struct Seat {
    index: usize,
    load: Arc<[AtomicUsize]>,
}

impl Seat {
    /// The shard's index.
    pub(crate) fn index(&self) -> usize {
        self.index
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        if let Some(load) = self.load.get(self.index) {
            load.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Shards {
    /// Starts `count` shard threads, named `airssys-shard-<n>`. Each records `tracing`
    /// events to the dispatcher that is the default where they are started (a subscriber
    /// set for one thread only still sees the components' spans).
    ///
    /// # Errors
    ///
    /// The error of the thread or runtime that could not be created (the ones already
    /// started end when the returned error drops their stops).
    pub(crate) fn start(count: usize) -> std::io::Result<(Self, ShardThreads)> {
        let mut handles = Vec::with_capacity(count);
        let mut threads = ShardThreads {
            stops: Vec::with_capacity(count),
        };
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        for n in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name(format!("airssys-shard-{n}"))
                .build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            handles.push(runtime.handle().clone());
            let dispatch = dispatch.clone();
            std::thread::Builder::new()
                .name(format!("airssys-shard-{n}"))
                .spawn(move || {
                    let _tracing = tracing::dispatcher::set_default(&dispatch);
                    // Runs the shard's tasks until the system lets it go (or is dropped).
                    let _ = runtime.block_on(stopped);
                })?;
            threads.stops.push(stop);
        }
        let load = (0..count).map(|_| AtomicUsize::new(0)).collect();
        Ok((
            Self {
                handles: handles.into_boxed_slice(),
                load,
            },
            threads,
        ))
    }

    /// A seat for a new component: on shard `near` if given (the shard of a neighbour it
    /// talks to), else on the shard carrying the fewest components.
    pub(crate) fn place(&self, near: Option<usize>) -> Seat {
        let index = near.filter(|n| *n < self.load.len()).unwrap_or_else(|| {
            self.load
                .iter()
                .enumerate()
                .min_by_key(|(_, load)| load.load(Ordering::Relaxed))
                .map_or(0, |(index, _)| index)
        });
        if let Some(load) = self.load.get(index) {
            load.fetch_add(1, Ordering::Relaxed);
        }
        Seat {
            index,
            load: self.load.clone(),
        }
    }

    /// The runtime of shard `index`.
    pub(crate) fn handle(&self, index: usize) -> Option<&Handle> {
        self.handles.get(index)
    }
}

/// Runs `future` here, in the caller's task, with shard `handle` as the current runtime:
/// every task it spawns (a started actor's own) lives on the shard. A start costs no trip to
/// the shard's thread and back: the instance is made here and only its message loop moves.
pub(crate) async fn on_shard<F: Future>(handle: &Handle, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        let _shard = handle.enter();
        future.as_mut().poll(cx)
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn components_go_to_the_least_loaded_shard_or_next_to_their_neighbour() {
        let (shards, _threads) = Shards::start(2).unwrap();
        let a = shards.place(None);
        let b = shards.place(None);
        assert_ne!(
            a.index(),
            b.index(),
            "the second one goes to the empty shard"
        );
        let c = shards.place(Some(a.index()));
        assert_eq!(c.index(), a.index());
        let d = shards.place(None);
        assert_eq!(d.index(), b.index(), "b's shard carries one, a's two");
        drop((a, c));
        let e = shards.place(None);
        assert_ne!(e.index(), b.index(), "the seats of a and c were given back");
        assert_eq!(
            shards.place(Some(7)).index(),
            e.index(),
            "no shard 7: least loaded"
        );
    }

    #[tokio::test]
    async fn what_a_future_on_a_shard_spawns_runs_on_the_shard_thread() {
        let (shards, mut threads) = Shards::start(1).unwrap();
        let handle = shards.handle(0).unwrap();
        let (here, there) = on_shard(handle, async {
            let here = std::thread::current().name().map(str::to_owned);
            tokio::task::yield_now().await;
            let there = tokio::spawn(async { std::thread::current().name().map(str::to_owned) });
            (here, there)
        })
        .await;
        assert_ne!(
            here.as_deref(),
            Some("airssys-shard-0"),
            "polled in the caller"
        );
        let there = there.await.unwrap();
        assert_eq!(there.as_deref(), Some("airssys-shard-0"));
        threads.stop();
    }
}
