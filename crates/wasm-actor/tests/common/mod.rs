//! Helpers for the actor layer's end-to-end tests: real fixtures, real engine, real actors.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use test_fixtures::fixture;
use tokio::sync::broadcast;
use wasm_actor::{ActorSystem, ComponentSpec, SystemConfig, SystemEvent};
use wasm_core::{ComponentId, ResourceLimits};
use wasm_runtime::{EngineConfig, LoadedComponent, MemoryStorage, WasmEngine};
use wasm_security::{Grants, MessagingAction, MessagingGrant};

/// One engine per test binary: compiling each fixture once keeps the tests quick.
pub fn engine() -> WasmEngine {
    static ENGINE: OnceLock<WasmEngine> = OnceLock::new();
    ENGINE
        .get_or_init(|| WasmEngine::new(EngineConfig::default()).expect("engine"))
        .clone()
}

pub fn component(name: &str) -> LoadedComponent {
    engine()
        .loader()
        .load_bytes(name, &fixture(name))
        .unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

pub fn id(text: &str) -> ComponentId {
    text.parse().expect("component id")
}

pub fn system() -> ActorSystem {
    system_with(SystemConfig::default())
}

pub fn system_with(config: SystemConfig) -> ActorSystem {
    ActorSystem::new(engine(), Arc::new(MemoryStorage::new()), config)
}

/// Messaging grant for every action to every component.
pub fn talk_to_all() -> Grants {
    Grants {
        messaging: vec![MessagingGrant {
            actions: vec![
                MessagingAction::Send,
                MessagingAction::Request,
                MessagingAction::Broadcast,
            ],
            targets: "**".into(),
        }],
        ..Grants::default()
    }
}

pub fn spec(fixture_name: &str, component_id: &str) -> ComponentSpec {
    ComponentSpec::new(id(component_id), component(fixture_name)).with_limits(ResourceLimits {
        max_memory_bytes: 64 * 1024 * 1024,
        max_execution_time_ms: 5_000,
        max_wall_time_ms: 5_000,
        max_fuel: None,
    })
}

/// A host request with a text command; the text reply.
pub async fn ask(system: &ActorSystem, to: &str, command: &str) -> String {
    let reply = system
        .request(
            &id(to),
            command.as_bytes().to_vec(),
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|e| panic!("{to} {command}: {e}"));
    String::from_utf8(reply).expect("utf-8 reply")
}

/// Waits (bounded) for an event matching `pred` and returns it.
pub async fn wait_for(
    events: &mut broadcast::Receiver<SystemEvent>,
    what: &str,
    pred: impl Fn(&SystemEvent) -> bool,
) -> SystemEvent {
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.recv().await {
                Ok(event) if pred(&event) => return event,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("event bus closed"),
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {what} event"))
}

/// Polls a component with `command` until `done` holds on the reply (bounded), for effects
/// that arrive asynchronously (callbacks, forwarded messages).
pub async fn poll_until(
    system: &ActorSystem,
    to: &str,
    command: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    for _ in 0..2_000 {
        let reply = ask(system, to, command).await;
        if done(&reply) {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{to} never answered `{command}` as expected");
}

/// Asserts that a message from the host to `to` finds no target: it is not running.
pub fn assert_gone(system: &ActorSystem, to: &str) {
    let gone = system.send(&id(to), b"x".to_vec());
    assert!(
        matches!(
            gone,
            Err(wasm_actor::Error::Delivery {
                source: wasm_core::MessagingError::TargetNotFound(_),
                ..
            })
        ),
        "{to}: {gone:?}"
    );
}
