//! Standalone components on the shared supervisors: each keeps the restart budget its
//! one-member group would have had, and their failures, stops and restarts leave the others
//! alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{ask, id, spec, system};
use wasm_actor::{ActorSystem, Error, GroupSpec, Intensity, SystemEvent};

/// More standalone components than there are shared supervisors, so each carries several.
const COMPONENTS: usize = 40;

fn name(i: usize) -> String {
    format!("shared/p/{i}")
}

fn budget_of_two() -> Intensity {
    Intensity {
        max_restarts: 2,
        window: Duration::from_secs(60),
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
    }
}

/// Makes `to` trap (the request's error answer is not looked at).
async fn fail(system: &ActorSystem, to: &str) {
    let _ = system
        .request(&id(to), b"panic".to_vec(), Duration::from_secs(10))
        .await;
}

async fn until_restarted(events: &mut tokio::sync::broadcast::Receiver<SystemEvent>, to: &str) {
    let target = id(to);
    common::wait_for(
        events,
        "restart",
        |e| matches!(e, SystemEvent::Restarted { id, .. } if id == &target),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_standalone_component_has_its_own_restart_budget() {
    let system = system();
    let mut events = system.events();
    for i in 0..COMPONENTS {
        // A group of one named after its member: what the manifest makes for a component in
        // no group, carried by a shared supervisor.
        let group = GroupSpec::new(format!("component:{}", name(i)))
            .with_intensity(budget_of_two())
            .with_member(spec("panicker", &name(i)));
        system.start_group(group).await.unwrap();
        assert_eq!(ask(&system, &name(i), "x").await, "handled 1");
    }

    // Components 1 to 16 each fail twice: within their own budgets (32 restarts in all, far
    // over a budget of two if the components of one supervisor shared it).
    for i in 1..=16 {
        for _ in 0..2 {
            fail(&system, &name(i)).await;
            until_restarted(&mut events, &name(i)).await;
        }
        assert_eq!(ask(&system, &name(i), "x").await, "handled 1");
    }
    // Component 0 fails three times: over its budget, so it alone stops, as its group.
    for round in 0..3 {
        fail(&system, &name(0)).await;
        if round < 2 {
            until_restarted(&mut events, &name(0)).await;
        }
    }
    let failed = common::wait_for(&mut events, "group failure", |e| {
        matches!(e, SystemEvent::GroupFailed { .. })
    })
    .await;
    match &failed {
        SystemEvent::GroupFailed { group, reason } => {
            assert_eq!(group, "component:shared/p/0");
            assert!(reason.contains("3 restarts"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    common::assert_gone(&system, &name(0));
    // Nobody else failed as a group, and those never made to fail were never restarted: their
    // instance has handled the first message and now this one.
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(event, SystemEvent::GroupFailed { .. }),
            "another group failed: {event:?}"
        );
    }
    for i in 17..COMPONENTS {
        assert_eq!(
            ask(&system, &name(i), "x").await,
            "handled 2",
            "{}",
            name(i)
        );
    }
    // The stopped component starts again under its id, with a fresh budget.
    system
        .start_component(spec("panicker", &name(0)))
        .await
        .unwrap();
    fail(&system, &name(0)).await;
    until_restarted(&mut events, &name(0)).await;
    assert_eq!(ask(&system, &name(0), "x").await, "handled 1");
    assert_eq!(system.stats().restarts, 16 * 2 + 2 + 1);
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_components_stop_and_start_again_without_touching_the_others() {
    let system = system();
    for i in 0..COMPONENTS {
        system
            .start_component(spec("panicker", &name(i)))
            .await
            .unwrap();
    }
    let twice = system.start_component(spec("panicker", &name(3))).await;
    assert!(matches!(twice, Err(Error::AlreadyRunning(_))), "{twice:?}");
    // Every even one stops; the odd ones keep their instance (and their count).
    for i in 0..COMPONENTS {
        assert_eq!(ask(&system, &name(i), "x").await, "handled 1");
    }
    for i in (0..COMPONENTS).step_by(2) {
        system.stop_component(&id(&name(i))).await.unwrap();
        let again = system.stop_component(&id(&name(i))).await;
        assert!(matches!(again, Err(Error::NotRunning(_))), "{again:?}");
    }
    assert_eq!(system.registry().len(), COMPONENTS / 2);
    for i in (1..COMPONENTS).step_by(2) {
        assert_eq!(ask(&system, &name(i), "x").await, "handled 2");
    }
    // They start again under the same ids, as new instances.
    for i in (0..COMPONENTS).step_by(2) {
        system
            .start_component(spec("panicker", &name(i)))
            .await
            .unwrap();
        assert_eq!(ask(&system, &name(i), "x").await, "handled 1");
    }
    assert_eq!(system.registry().len(), COMPONENTS);
    assert_eq!(system.stats().restarts, 0);
    system.shutdown().await;
    assert_eq!(system.registry().len(), 0);
}
