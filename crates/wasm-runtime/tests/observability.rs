//! What the issue asks to be observable: storage reads denied and audited, guest logs and
//! output as `tracing` events with the component id, sleeps that do not block a thread, and
//! callbacks that reach the guest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{Captured, ask, engine, id, limits, message, start, start_plain, start_with};
use wasm_core::{
    ComponentConfig, ComponentMessage, CorrelationId, MessageMetadata, ResourceLimits,
};
use wasm_runtime::HostServices;
use wasm_security::{Capability, Grants, MemoryAuditLog, StorageGrant, StorageOp};

#[tokio::test]
async fn storage_reads_without_the_read_grant_are_denied_and_audited() {
    let engine = engine();
    let audit = Arc::new(MemoryAuditLog::new(32));
    let write_only = Grants {
        storage: Some(StorageGrant {
            read: false,
            write: true,
            delete: true,
            quota: wasm_core::StorageQuota::default(),
        }),
        ..Grants::default()
    };
    let services = HostServices::standalone().with_audit(audit.clone());
    let mut counter = start(&engine, "counter", &write_only, services).await;
    // `initialize` tries to load the stored count: that read is denied too.
    let before = audit.denials_of(&id("test/counter/1")).len();
    assert_eq!(ask(&mut counter, "put k v").await, "ok");
    for command in ["load", "exists k", "keys", "usage"] {
        let denied = ask(&mut counter, command).await;
        assert!(
            denied.contains("permission denied") && denied.contains("storage.read"),
            "{command}: {denied}"
        );
    }
    let events = audit.denials_of(&id("test/counter/1"));
    assert_eq!(events.len() - before, 4, "{events:?}");
    assert!(
        events[before..]
            .iter()
            .all(|e| e.capability == Capability::Storage(StorageOp::Read)),
        "{events:?}"
    );
}

#[tokio::test]
async fn log_and_guest_output_become_tracing_events_with_the_component_id() {
    let captured = Captured::default();
    let _guard = captured.install();
    let engine = engine();
    let mut logger = start_plain(&engine, "logger").await;
    assert_eq!(ask(&mut logger, "log warn disk almost full").await, "ok");
    assert_eq!(ask(&mut logger, "print line from the guest").await, "ok");
    drop(logger);
    let lines = captured.lines();
    let logged: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("disk almost full"))
        .collect();
    assert_eq!(logged.len(), 1, "{lines:#?}");
    assert!(
        logged[0].contains("WARN") && logged[0].contains("component=test/logger/1"),
        "{}",
        logged[0]
    );
    assert!(logged[0].contains("fixture"), "context kept: {}", logged[0]);
    for stream in ["stdout", "stderr"] {
        let printed = lines.iter().find(|l| {
            l.contains("line from the guest")
                && l.contains("component=test/logger/1")
                && l.contains(&format!("stream=\"{stream}\""))
        });
        assert!(printed.is_some(), "{stream} not routed: {lines:#?}");
    }
}

#[tokio::test]
async fn a_guest_panic_is_logged_at_warn_with_the_component_id() {
    let captured = Captured::default();
    let _guard = captured.install();
    let engine = engine();
    let mut panicker = start_plain(&engine, "panicker").await;
    let failed = panicker
        .handle_message(&message(b"panic"))
        .await
        .expect_err("the guest panics");
    assert!(failed.poisons_instance(), "{failed}");
    drop(panicker);
    let lines = captured.lines();
    let panic = lines
        .iter()
        .find(|l| l.contains("panicker was told to panic") && l.contains("stream=\"stderr\""))
        .unwrap_or_else(|| panic!("the panic message is logged: {lines:#?}"));
    assert!(
        panic.starts_with("WARN") && panic.contains("component=test/panicker/1"),
        "{panic}"
    );
    let opening = lines
        .iter()
        .find(|l| l.contains("panicked at") && l.contains("stream=\"stderr\""))
        .unwrap_or_else(|| panic!("the panic's first line is logged: {lines:#?}"));
    assert!(opening.starts_with("WARN"), "{opening}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_sleeping_guest_does_not_block_the_thread() {
    let engine = engine();
    let generous = ResourceLimits {
        max_wall_time_ms: 120_000,
        ..limits()
    };
    let grants = Grants::default();
    let mut instances = Vec::new();
    for (name, component) in [("sleeper", "test/sleeper/1"), ("echo", "test/echo/1")] {
        let services = HostServices::standalone();
        let config = ComponentConfig::default();
        instances.push(
            start_with(
                &engine, name, component, &grants, services, generous, config,
            )
            .await,
        );
    }
    let mut echo = instances.pop().expect("echo");
    let mut sleeper = instances.pop().expect("sleeper");
    let sleeping = message(b"sleep 60000");
    let meanwhile = message(b"meanwhile");
    let mut sleep_call = std::pin::pin!(sleeper.handle_message(&sleeping));
    // On this one thread, the sleeper's call is polled first and suspends; echo's call then
    // runs to completion while the sleep is still pending. A blocking sleep would hold the
    // thread for a minute and then win the race.
    let echoed = tokio::select! {
        biased;
        slept = &mut sleep_call => panic!("the sleep finished first: {slept:?}"),
        echoed = echo.handle_message(&meanwhile) => echoed,
    };
    assert_eq!(
        echoed.expect("echo call").expect("echo reply"),
        Some(b"meanwhile".to_vec())
    );
}

#[tokio::test]
async fn the_requester_records_the_callbacks_it_receives() {
    let engine = engine();
    let mut requester = start_plain(&engine, "requester").await;
    assert_eq!(ask(&mut requester, "count").await, "0");
    let callback = ComponentMessage {
        metadata: MessageMetadata {
            correlation_id: Some(CorrelationId::new("corr-7")),
            content_type: Some("text/plain".into()),
            ..MessageMetadata::default()
        },
        ..message(b"pong")
    };
    requester
        .handle_callback(&callback)
        .await
        .expect("handle-callback call")
        .expect("handle-callback result");
    assert_eq!(ask(&mut requester, "count").await, "1");
    assert_eq!(
        ask(&mut requester, "callbacks").await,
        "corr-7\ttext/plain\tpong"
    );
}
