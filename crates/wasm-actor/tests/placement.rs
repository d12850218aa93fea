//! Placement on shards: real components on real shard threads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ask, id, poll_until, spec, system_with, talk_to_all};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use wasm_actor::{ActorSystem, Placement, SystemConfig};

fn on(placement: Placement) -> ActorSystem {
    system_with(SystemConfig {
        placement,
        ..SystemConfig::default()
    })
}

fn shard(system: &ActorSystem, component: &str) -> Option<usize> {
    system.status(&id(component)).unwrap().shard
}

/// The names of the threads each component's messages were handled on.
#[derive(Clone, Default)]
struct Threads(Arc<Mutex<HashMap<String, BTreeSet<String>>>>);

impl Threads {
    /// A recorder, set as this thread's subscriber while the guard lives (a system built
    /// meanwhile gives it to its shard threads).
    fn record() -> (Self, tracing::subscriber::DefaultGuard) {
        let threads = Self::default();
        let guard = tracing_subscriber::registry()
            .with(threads.clone())
            .set_default();
        (threads, guard)
    }
}

struct ComponentField(Option<String>);

impl Visit for ComponentField {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "component" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Threads {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() != "handle" {
            return;
        }
        let mut component = ComponentField(None);
        attrs.record(&mut component);
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        if let Some(component) = component.0 {
            self.0
                .lock()
                .unwrap()
                .entry(component)
                .or_default()
                .insert(thread);
        }
    }
}

/// Two independent components go to different shards, a neighbour to its neighbour's; each
/// handles its messages on its shard's thread only, and requests within a shard and across
/// shards come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neighbours_share_a_shard_and_independent_components_spread() {
    let (threads, _guard) = Threads::record();
    let system = on(Placement::Shards(2));
    system
        .start_component(spec("requester", "place/a/1").with_grants(talk_to_all()))
        .await
        .unwrap();
    system
        .start_component(spec("echo", "place/far/1"))
        .await
        .unwrap();
    system
        .start_component(spec("echo", "place/near/1").with_neighbour(id("place/a/1")))
        .await
        .unwrap();
    let (a, far, near) = (
        shard(&system, "place/a/1").unwrap(),
        shard(&system, "place/far/1").unwrap(),
        shard(&system, "place/near/1").unwrap(),
    );
    assert_ne!(a, far, "the second component goes to the empty shard");
    assert_eq!(near, a, "a neighbour goes to its neighbour's shard");

    let to_far = ask(&system, "place/a/1", "request place/far/1 5000 far").await;
    let to_near = ask(&system, "place/a/1", "request place/near/1 5000 near").await;
    let callbacks = poll_until(&system, "place/a/1", "count", |c| c == "2").await;
    assert_eq!(callbacks, "2");
    let callbacks = ask(&system, "place/a/1", "callbacks").await;
    assert!(
        callbacks.contains(&format!("{to_far}\t-\tfar")),
        "{callbacks}"
    );
    assert!(
        callbacks.contains(&format!("{to_near}\t-\tnear")),
        "{callbacks}"
    );

    let threads = threads.0.lock().unwrap().clone();
    let on_thread = |component: &str, shard: usize| {
        let seen = threads.get(component).cloned().unwrap_or_default();
        assert_eq!(
            seen,
            BTreeSet::from([format!("airssys-shard-{shard}")]),
            "{component} handled its messages on {seen:?}"
        );
    };
    on_thread("place/a/1", a);
    on_thread("place/far/1", far);
    on_thread("place/near/1", near);
    system.shutdown().await;
}

/// A restarted instance runs on the shard of the one before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_component_stays_on_its_shard() {
    let (threads, _guard) = Threads::record();
    let system = on(Placement::Shards(2));
    // Something on each shard, so the panicker's shard is not the only choice.
    system
        .start_component(spec("echo", "place/echo/1"))
        .await
        .unwrap();
    system
        .start_component(spec("panicker", "place/p/1"))
        .await
        .unwrap();
    let before = shard(&system, "place/p/1").unwrap();
    assert_eq!(ask(&system, "place/p/1", "x").await, "handled 1");
    let failed = system
        .request(&id("place/p/1"), b"panic".to_vec(), Duration::from_secs(10))
        .await;
    assert!(failed.is_err(), "the panic request was answered {failed:?}");
    // The new instance starts from scratch (a message sent before it is up waits in the
    // mailbox) and handles its first message on the same shard.
    assert_eq!(ask(&system, "place/p/1", "x").await, "handled 1");
    assert_eq!(shard(&system, "place/p/1"), Some(before));
    let seen = threads.0.lock().unwrap().get("place/p/1").cloned();
    assert_eq!(
        seen,
        Some(BTreeSet::from([format!("airssys-shard-{before}")]))
    );
    system.shutdown().await;
}

/// With the caller's placement, components run on the embedder's runtime: no shard.
#[tokio::test(flavor = "current_thread")]
async fn on_the_callers_placement_components_run_on_its_runtime() {
    let (threads, _guard) = Threads::record();
    let system = on(Placement::Caller);
    system
        .start_component(spec("echo", "place/echo/1"))
        .await
        .unwrap();
    assert_eq!(ask(&system, "place/echo/1", "hi").await, "hi");
    assert_eq!(shard(&system, "place/echo/1"), None);
    let here = std::thread::current().name().unwrap_or("?").to_owned();
    let seen = threads.0.lock().unwrap().get("place/echo/1").cloned();
    assert_eq!(seen, Some(BTreeSet::from([here])));
    system.shutdown().await;
}
