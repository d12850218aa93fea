//! The stats and idle API: counters after real traffic between real components, and
//! `wait_idle` waiting for mailboxes, calls and pending requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{ask, id, spec, system, talk_to_all, wait_for};
use wasm_actor::{SystemEvent, SystemStats};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_a_request_chain_once_the_system_is_idle() {
    let system = system();
    system
        .start_component(spec("requester", "st/a/1").with_grants(talk_to_all()))
        .await
        .unwrap();
    system
        .start_component(spec("echo", "st/echo/1"))
        .await
        .unwrap();
    assert!(system.is_idle());
    assert_eq!(system.stats(), SystemStats::default());
    // Host -> requester (answered), requester -> echo (answered as a callback at the requester).
    let corr = ask(&system, "st/a/1", "request st/echo/1 5000 ping").await;
    assert!(corr.starts_with("req-"), "{corr}");
    system.wait_idle().await;
    assert!(system.is_idle());
    let stats = system.stats();
    assert_eq!(
        stats,
        SystemStats {
            messages_handled: 2,
            callbacks_handled: 1,
            requests_answered: 2,
            ..SystemStats::default()
        }
    );
    // The callback really was handled by the requester.
    assert_eq!(ask(&system, "st/a/1", "count").await, "1");
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_idle_waits_for_queued_messages_and_the_call_in_progress() {
    let system = system();
    system
        .start_component(spec("sleeper", "st/s/1"))
        .await
        .unwrap();
    for _ in 0..3 {
        system.send(&id("st/s/1"), b"sleep 30".to_vec()).unwrap();
    }
    // Queued or in a call: not idle, deterministically (the unit is taken at the push).
    assert!(!system.is_idle());
    system.wait_idle().await;
    assert_eq!(system.stats().messages_handled, 3);
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_request_keeps_the_system_busy_until_it_times_out() {
    let system = system();
    system
        .start_component(spec("requester", "st/a/1").with_grants(talk_to_all()))
        .await
        .unwrap();
    system
        .start_component(spec("sleeper", "st/s/1"))
        .await
        .unwrap();
    // The sleeper replies after the 20 ms deadline: a timeout callback, then a late reply.
    ask(&system, "st/a/1", "request st/s/1 20 sleep 200").await;
    assert!(!system.is_idle());
    system.wait_idle().await;
    let stats = system.stats();
    assert_eq!(stats.pending_requests, 0);
    assert_eq!(stats.late_replies, 1);
    assert_eq!(stats.callbacks_handled, 1);
    assert_eq!(stats.messages_handled, 2);
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_denials_and_restarts_are_counted() {
    let system = system();
    let mut events = system.events();
    system
        .start_component(spec("panicker", "st/p/1"))
        .await
        .unwrap();
    system
        .start_component(spec("intruder", "st/i/1"))
        .await
        .unwrap();
    assert!(
        ask(&system, "st/i/1", "send st/p/1")
            .await
            .starts_with("denied")
    );
    let _ = system
        .request(&id("st/p/1"), b"panic".to_vec(), Duration::from_secs(10))
        .await;
    wait_for(&mut events, "restart", |e| {
        matches!(e, SystemEvent::Restarted { .. })
    })
    .await;
    system.wait_idle().await;
    let stats = system.stats();
    assert_eq!(stats.capability_denials, 1);
    assert_eq!(stats.dead_letters, 1);
    assert_eq!(stats.restarts, 1);
    // The intruder's command returned; the panicking call did not.
    assert_eq!(stats.messages_handled, 1);
    assert_eq!(stats.requests_answered, 2);
    system.shutdown().await;
}
