#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use test_fixtures::fixture;
use wasm_core::ComponentId;
use wasm_runtime::{EngineConfig, MemoryStorage, WasmEngine};

use super::{ActorSystem, shared_index};
use crate::context::SystemConfig;
use crate::events::SystemEvent;
use crate::registry::Slot;
use crate::spec::ComponentSpec;

fn spec(engine: &WasmEngine, fixture_name: &str, id: &ComponentId) -> ComponentSpec {
    let component = engine
        .loader()
        .load_bytes(fixture_name, &fixture(fixture_name))
        .unwrap();
    ComponentSpec::new(id.clone(), component)
}

/// Waits until `done` holds of the slot of `id` (a state change, not a duration).
async fn until_slot(system: &ActorSystem, id: &ComponentId, done: fn(&Slot) -> bool) {
    for _ in 0..10_000 {
        if system.ctx.registry.get(id).is_some_and(|slot| done(&slot)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{id} never got there");
}

/// A standalone component is started by its caller and handed to its shared supervisor
/// after; ractor gives the supervisor its members' ends before its messages. Here the
/// supervisor is held in another member's stop (a sleeper in a 1.5 s call), so the new
/// component traps before the supervisor reads the hand-over: the failure must be kept
/// and acted on then, not dropped as a stranger's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_before_the_hand_over_is_kept_until_it() {
    let engine = WasmEngine::new(EngineConfig::default()).unwrap();
    let system = Arc::new(ActorSystem::new(
        engine.clone(),
        Arc::new(MemoryStorage::new()),
        SystemConfig::default(),
    ));
    let busy: ComponentId = "shared/busy/0".parse().unwrap();
    let early = (0..)
        .map(|i| format!("shared/early/{i}").parse::<ComponentId>().unwrap())
        .find(|id| shared_index(id) == shared_index(&busy))
        .unwrap();
    let mut events = system.events();
    system
        .start_component(spec(&engine, "sleeper", &busy))
        .await
        .unwrap();
    system.send(&busy, b"sleep 1500".to_vec()).unwrap();
    // Taken from the mailbox: the actor is in the call (it handles it to the end).
    until_slot(&system, &busy, |slot| slot.mailbox.len() == 0).await;
    let stopping = tokio::spawn({
        let (system, busy) = (system.clone(), busy.clone());
        async move { system.stop_component(&busy).await }
    });
    // The supervisor is in the sleeper's stop once it has raised the flag.
    until_slot(&system, &busy, |slot| slot.stopping.load(Ordering::Acquire)).await;

    system
        .start_component(spec(&engine, "panicker", &early))
        .await
        .unwrap();
    system.send(&early, b"panic".to_vec()).unwrap();
    let restarted = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match events.recv().await {
                Ok(SystemEvent::Restarted { id, .. }) if id == early => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("events ended: {e}"),
            }
        }
    })
    .await;
    assert!(
        restarted.is_ok(),
        "{early} failed before its hand-over and was never restarted"
    );
    stopping.await.unwrap().unwrap();
    assert_eq!(system.stats().restarts, 1);
    system.shutdown().await;
}
