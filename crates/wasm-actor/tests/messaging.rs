//! End-to-end messaging between real components: every pattern of the WIT contract.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{ask, id, poll_until, spec, system, talk_to_all};
use wasm_actor::{ActorSystem, Error};
use wasm_core::MessagingError;
use wasm_security::Grants;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fire_and_forget_from_one_component_to_another() {
    let system = system();
    system
        .start_component(spec("requester", "app/a/1").with_grants(talk_to_all()))
        .await
        .unwrap();
    system
        .start_component(spec("forwarder", "app/b/1"))
        .await
        .unwrap();
    assert_eq!(ask(&system, "app/a/1", "send app/b/1 hello").await, "ok");
    let dump = poll_until(&system, "app/b/1", "dump", |d| !d.is_empty()).await;
    assert_eq!(dump, "hello>1");
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_response_comes_back_as_a_callback_at_the_requester() {
    let system = system();
    system
        .start_component(spec("requester", "app/a/1").with_grants(talk_to_all()))
        .await
        .unwrap();
    system
        .start_component(spec("echo", "app/echo/1"))
        .await
        .unwrap();
    let corr = ask(&system, "app/a/1", "request app/echo/1 5000 ping").await;
    assert!(!corr.is_empty() && !corr.starts_with("err"), "{corr}");
    let callbacks = poll_until(&system, "app/a/1", "callbacks", |c| !c.is_empty()).await;
    assert_eq!(callbacks, format!("{corr}\t-\tping"));
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_travels_a_chain_a_b_c() {
    let system = system();
    let grants = talk_to_all();
    system
        .start_component(spec("forwarder", "chain/c/3"))
        .await
        .unwrap();
    system
        .start_component(
            spec("forwarder", "chain/b/2")
                .with_grants(grants.clone())
                .with_config("next=chain/c/3"),
        )
        .await
        .unwrap();
    system
        .start_component(
            spec("forwarder", "chain/a/1")
                .with_grants(grants)
                .with_config("next=chain/b/2"),
        )
        .await
        .unwrap();
    assert_eq!(ask(&system, "chain/a/1", "order-42").await, "forwarded");
    let dump = poll_until(&system, "chain/c/3", "dump", |d| !d.is_empty()).await;
    assert_eq!(dump, "order-42>1>2>3");
    system.shutdown().await;
}

/// Once idle, `fan/sink/1` holds every sender's `s<k>-<m>` messages, each sender's in order.
/// Idle first: a `dump` sent earlier could find the mailbox, sized for exactly the messages,
/// still full.
async fn check_fan_in(system: &ActorSystem, senders: usize, each: usize) {
    system.wait_idle().await;
    let dump = ask(system, "fan/sink/1", "dump").await;
    assert_eq!(dump.lines().count(), senders * each);
    for s in 0..senders {
        let seen: Vec<usize> = dump
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("s{s}-")))
            .map(|rest| rest.trim_end_matches(">1").parse().unwrap())
            .collect();
        assert_eq!(seen, (0..each).collect::<Vec<_>>(), "sender {s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_senders_to_one_receiver_lose_nothing_and_keep_per_sender_order() {
    const SENDERS: usize = 8;
    const EACH: usize = 50;
    let system = system();
    system
        .start_component(spec("forwarder", "fan/sink/1").with_mailbox(SENDERS * EACH))
        .await
        .unwrap();
    for s in 0..SENDERS {
        system
            .start_component(spec("requester", &format!("fan/s{s}/1")).with_grants(talk_to_all()))
            .await
            .unwrap();
    }
    // Senders take turns, so the sink sees their messages interleaved.
    for m in 0..EACH {
        for s in 0..SENDERS {
            let reply = ask(
                &system,
                &format!("fan/s{s}/1"),
                &format!("send fan/sink/1 s{s}-{m}"),
            )
            .await;
            assert_eq!(reply, "ok");
        }
    }
    check_fan_in(&system, SENDERS, EACH).await;
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_to_one_receiver_all_arrive_in_order() {
    const SENDERS: usize = 4;
    const EACH: usize = 200;
    let system = std::sync::Arc::new(system());
    system
        .start_component(spec("forwarder", "fan/sink/1").with_mailbox(SENDERS * EACH))
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for s in 0..SENDERS {
        let system = system.clone();
        tasks.spawn(async move {
            for m in 0..EACH {
                system
                    .send(&id("fan/sink/1"), format!("s{s}-{m}").into_bytes())
                    .unwrap();
                if m % 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    check_fan_in(&system, SENDERS, EACH).await;
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_a_component_that_does_not_exist_is_refused() {
    let system = system();
    system
        .start_component(spec("requester", "app/a/1").with_grants(talk_to_all()))
        .await
        .unwrap();
    let reply = ask(&system, "app/a/1", "send app/nobody/1 hi").await;
    assert!(reply.starts_with("err: TargetNotFound"), "{reply}");
    let reply = ask(&system, "app/a/1", "request app/nobody/1 100 hi").await;
    assert!(reply.starts_with("err: TargetNotFound"), "{reply}");
    let host = system.send(&id("app/nobody/1"), b"hi".to_vec());
    assert!(
        matches!(&host, Err(Error::Delivery { source: MessagingError::TargetNotFound(t), .. }) if t == &id("app/nobody/1")),
        "{host:?}"
    );
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16_mib_payload_goes_there_and_back() {
    let system = system();
    system
        .start_component(spec("echo", "big/echo/1"))
        .await
        .unwrap();
    let payload: Vec<u8> = (0..16 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let reply = system
        .request(&id("big/echo/1"), payload.clone(), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(reply.len(), payload.len());
    assert!(reply == payload);
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16_mib_payload_goes_from_component_to_component_and_back() {
    const SIZE: usize = 16 * 1024 * 1024;
    let system = system();
    let roomy = wasm_core::ResourceLimits {
        max_memory_bytes: 256 * 1024 * 1024,
        max_execution_time_ms: 60_000,
        max_wall_time_ms: 60_000,
        max_fuel: None,
    };
    system
        .start_component(
            spec("requester", "big/a/1")
                .with_grants(talk_to_all())
                .with_limits(roomy),
        )
        .await
        .unwrap();
    system
        .start_component(spec("echo", "big/echo/1").with_limits(roomy))
        .await
        .unwrap();
    let payload: String = (0..SIZE)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let command = format!("request big/echo/1 60000 {payload}");
    let reply = system
        .request(
            &id("big/a/1"),
            command.into_bytes(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let corr = String::from_utf8(reply).unwrap();
    system.wait_idle().await;
    let callbacks = system
        .request(
            &id("big/a/1"),
            b"callbacks".to_vec(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let expected = format!("{corr}\t-\t{payload}");
    assert_eq!(callbacks.len(), expected.len());
    assert!(callbacks == expected.as_bytes());
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_reaches_every_target_or_none() {
    let system = system();
    system
        .start_component(spec("broadcaster", "app/bc/1").with_grants(talk_to_all()))
        .await
        .unwrap();
    system
        .start_component(spec("forwarder", "app/x/1"))
        .await
        .unwrap();
    system
        .start_component(spec("forwarder", "app/y/1"))
        .await
        .unwrap();
    assert_eq!(
        ask(&system, "app/bc/1", "broadcast app/x/1,app/y/1 news").await,
        "ok"
    );
    assert_eq!(
        poll_until(&system, "app/x/1", "dump", |d| !d.is_empty()).await,
        "news>1"
    );
    assert_eq!(
        poll_until(&system, "app/y/1", "dump", |d| !d.is_empty()).await,
        "news>1"
    );
    let partial = ask(&system, "app/bc/1", "broadcast app/x/1,app/gone/1 more").await;
    assert!(partial.contains("TargetNotFound"), "{partial}");
    // Nothing reached app/x/1 from the refused broadcast: once all is handled, only `news`.
    system.wait_idle().await;
    assert_eq!(ask(&system, "app/x/1", "dump").await, "news>1");
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correlation_ids_are_unique_across_100k_requests() {
    const TOTAL: usize = 100_000;
    let system = system();
    system
        .start_component(
            spec("requester", "load/req/1")
                .with_grants(talk_to_all())
                .with_mailbox(TOTAL + 16),
        )
        .await
        .unwrap();
    system
        .start_component(spec("echo", "load/echo/1").with_mailbox(TOTAL + 16))
        .await
        .unwrap();
    let mut ids = HashSet::with_capacity(TOTAL);
    for _ in 0..TOTAL {
        let corr = ask(&system, "load/req/1", "request load/echo/1 60000 x").await;
        assert!(ids.insert(corr.clone()), "duplicate correlation id {corr}");
    }
    assert_eq!(ids.len(), TOTAL);
    let count = poll_until(&system, "load/req/1", "count", |c| c == TOTAL.to_string()).await;
    assert_eq!(count, TOTAL.to_string());
    assert_eq!(system.router().pending_requests(), 0);
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_timeout_of_u64_max_is_clamped_and_timeouts_keep_working() {
    let system = common::system_with(wasm_actor::SystemConfig {
        max_request_timeout: Duration::from_millis(100),
        ..wasm_actor::SystemConfig::default()
    });
    system
        .start_component(spec("requester", "tmo/a/1").with_grants(talk_to_all()))
        .await
        .unwrap();
    system
        .start_component(spec("sleeper", "tmo/s/1"))
        .await
        .unwrap();
    // u64::MAX ms would overflow a deadline; clamped to 100 ms it times out.
    let corr = ask(
        &system,
        "tmo/a/1",
        &format!("request tmo/s/1 {} sleep 400", u64::MAX),
    )
    .await;
    assert!(corr.starts_with("req-"), "{corr}");
    let callbacks = poll_until(&system, "tmo/a/1", "callbacks", |c| !c.is_empty()).await;
    assert_eq!(
        callbacks,
        format!("{corr}\t{}\ttimeout", wasm_core::ERROR_CONTENT_TYPE)
    );
    // The timer task is alive: a later request times out too.
    let host = system
        .request(
            &id("tmo/s/1"),
            b"sleep 400".to_vec(),
            Duration::from_millis(20),
        )
        .await;
    assert!(
        matches!(
            host,
            Err(Error::Request {
                reason: wasm_core::ErrorCallback::Timeout,
                ..
            })
        ),
        "{host:?}"
    );
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_the_component_list_come_from_the_registry() {
    let system = system();
    system
        .start_component(spec("echo", "dir/echo/1"))
        .await
        .unwrap();
    system
        .start_component(
            spec("logger", "dir/logger/1").with_grants(Grants::default().with_discover("dir/**")),
        )
        .await
        .unwrap();
    assert_eq!(
        ask(&system, "dir/logger/1", "list").await,
        "dir/echo/1,dir/logger/1"
    );
    assert_eq!(
        ask(&system, "dir/logger/1", "info dir/echo/1").await,
        "echo 0.1.0 unknown"
    );
    let info = system.info(&id("dir/echo/1")).unwrap();
    assert_eq!(
        (info.name.as_str(), info.version.as_str()),
        ("echo", "0.1.0")
    );
    system.shutdown().await;
}

/// On a current-thread runtime (the caller's placement) every actor shares one thread: a
/// component with a long queue must let the others run between batches instead of draining
/// everything first. A shard is such a runtime too.
#[tokio::test(flavor = "current_thread")]
async fn a_busy_component_does_not_starve_the_others_on_its_thread() {
    const TICKS: usize = 10_000;
    let system = common::system_with(wasm_actor::SystemConfig {
        placement: wasm_actor::Placement::Caller,
        ..wasm_actor::SystemConfig::default()
    });
    system
        .start_component(spec("pinger", "app/busy/1").with_mailbox(TICKS + 16))
        .await
        .unwrap();
    system
        .start_component(spec("echo", "app/echo/1"))
        .await
        .unwrap();
    let busy = id("app/busy/1");
    for _ in 0..TICKS {
        system.send(&busy, b"tick".to_vec()).unwrap();
    }
    // Queued behind nothing, but on the same thread as the busy component's 10k calls.
    assert_eq!(ask(&system, "app/echo/1", "ping").await, "ping");
    // The scheduler polls this test's future again within about 61 task polls of the echo
    // reply: at 64 envelopes per turn (about 3.9k), the busy mailbox cannot be empty yet. A
    // drain loop that never yields would have handled all 10k before echo ran.
    let left = system.registry().queued(&busy).unwrap();
    assert!(
        left > 0,
        "the busy component drained all {TICKS} ticks before echo ran"
    );
    assert_eq!(ask(&system, "app/busy/1", "count").await, TICKS.to_string());
    system.shutdown().await;
}
