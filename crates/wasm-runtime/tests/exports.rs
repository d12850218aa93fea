//! Every export of every fixture, called through the engine with results checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ask, engine, load, message, start, start_plain};
use wasm_core::{ComponentMessage, HealthStatus, MessageMetadata};
use wasm_runtime::HostServices;
use wasm_security::Grants;

/// Each lifecycle fixture with a harmless command and the reply it must give.
const FIXTURES: [(&str, &str, &str); 12] = [
    ("echo", "hello", "hello"),
    ("counter", "get", "0"),
    ("requester", "count", "0"),
    ("forwarder", "x", "recorded"),
    ("broadcaster", "broadcast  nothing", "ok"),
    ("panicker", "hello", "handled 1"),
    ("spinner", "hello", "hello"),
    ("hog", "hello", "hello"),
    ("deep-recursion", "hello", "hello"),
    ("sleeper", "hello", "hello"),
    ("intruder", "list", ""),
    ("logger", "self", "test/logger/1"),
];

#[tokio::test]
async fn every_export_of_every_fixture_answers() {
    let engine = engine();
    for (name, command, expected) in FIXTURES {
        let mut instance = start(
            &engine,
            name,
            &Grants::default(),
            HostServices::standalone(),
        )
        .await;
        let metadata = instance.metadata().await.expect("metadata");
        assert_eq!(metadata.name, name, "metadata name of {name}");
        assert!(!metadata.version.is_empty(), "{name} has a version");
        assert_eq!(
            instance.health().await.expect("health"),
            HealthStatus::Healthy,
            "{name}"
        );
        assert_eq!(
            ask(&mut instance, command).await,
            expected,
            "{name} {command}"
        );
        let callback = ComponentMessage {
            metadata: MessageMetadata {
                correlation_id: Some(wasm_core::CorrelationId::new("c-0")),
                ..MessageMetadata::default()
            },
            ..message(b"reply")
        };
        instance
            .handle_callback(&callback)
            .await
            .expect("handle-callback call")
            .unwrap_or_else(|e| panic!("{name} handle-callback: {e}"));
        instance
            .shutdown(std::time::Duration::from_secs(1))
            .await
            .expect("shutdown call")
            .unwrap_or_else(|e| panic!("{name} shutdown: {e}"));
        assert!(instance.poisoned().is_none(), "{name}");
    }
}

#[tokio::test]
async fn echo_returns_arbitrary_bytes_unchanged() {
    let engine = engine();
    let mut echo = start_plain(&engine, "echo").await;
    let payload: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let reply = echo
        .handle_message(&message(&payload))
        .await
        .expect("call")
        .expect("result");
    assert_eq!(reply, Some(payload));
    let empty = echo
        .handle_message(&message(b""))
        .await
        .expect("call")
        .expect("result");
    assert_eq!(empty, Some(Vec::new()));
}

#[tokio::test]
async fn echo_needs_no_wasi_and_wasip2_fixtures_import_it() {
    let engine = engine();
    let echo = load(&engine, "echo");
    assert!(
        echo.shape().imports.iter().all(|i| !i.starts_with("wasi:")),
        "echo imports {:?}",
        echo.shape().imports
    );
    let counter = load(&engine, "counter");
    assert!(
        counter
            .shape()
            .imports
            .iter()
            .any(|i| i.starts_with("wasi:"))
    );
    assert!(
        counter
            .shape()
            .imports
            .iter()
            .any(|i| i == "airssys:core/storage@1.0.0")
    );
}

#[tokio::test]
async fn state_is_kept_between_messages_of_one_instance() {
    let engine = engine();
    let mut panicker = start_plain(&engine, "panicker").await;
    assert_eq!(ask(&mut panicker, "a").await, "handled 1");
    assert_eq!(ask(&mut panicker, "b").await, "handled 2");
    assert_eq!(ask(&mut panicker, "c").await, "handled 3");
}
