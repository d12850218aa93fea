//! End-to-end failure handling: traps, timeouts, cancellation, full mailboxes, restart
//! strategies and intensity, health polling, graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{ask, id, poll_until, spec, system, system_with, talk_to_all, wait_for};
use wasm_actor::{Error, GroupSpec, Intensity, RestartPolicy, Strategy, SystemConfig, SystemEvent};
use wasm_core::{ERROR_CONTENT_TYPE, ErrorCallback, MessagingError};

fn quick_intensity(max_restarts: u32) -> Intensity {
    Intensity {
        max_restarts,
        window: Duration::from_secs(30),
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_component_is_restarted_and_keeps_its_mailbox() {
    let system = system();
    let mut events = system.events();
    system
        .start_component(spec("panicker", "sup/p/1"))
        .await
        .unwrap();
    assert_eq!(ask(&system, "sup/p/1", "x").await, "handled 1");
    assert_eq!(ask(&system, "sup/p/1", "x").await, "handled 2");

    // The request that traps gets an error answer, and is reported as a dead letter.
    let failed = system
        .request(&id("sup/p/1"), b"panic".to_vec(), Duration::from_secs(10))
        .await;
    match &failed {
        Err(Error::Request {
            reason: ErrorCallback::TargetFailed(why),
            ..
        }) => {
            assert!(why.contains("panicker was told to panic"), "{why}");
        }
        other => panic!("expected target-failed, got {other:?}"),
    }
    let dead = wait_for(&mut events, "dead letter", |e| {
        matches!(e, SystemEvent::DeadLetter { .. })
    })
    .await;
    match dead {
        SystemEvent::DeadLetter {
            target,
            payload,
            reason,
            ..
        } => {
            assert_eq!(target, id("sup/p/1"));
            assert_eq!(payload, b"panic");
            assert!(reason.contains("trapped"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    wait_for(
        &mut events,
        "restart",
        |e| matches!(e, SystemEvent::Restarted { id, .. } if id == &common::id("sup/p/1")),
    )
    .await;
    assert_eq!(ask(&system, "sup/p/1", "x").await, "handled 1");
    system.shutdown().await;
}

/// Requests queued behind the message that traps are kept across the restart and handled
/// by the new instance, in order. The sleeper traps on its wall-time limit, so it is
/// certainly busy while they are queued (checked: nothing handled, nothing dead yet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_queued_behind_a_trap_are_delivered_after_the_restart_in_order() {
    let system = system();
    let mut events = system.events();
    let limits = wasm_core::ResourceLimits {
        max_memory_bytes: 64 * 1024 * 1024,
        max_execution_time_ms: 300,
        max_wall_time_ms: 300,
        max_fuel: None,
    };
    system
        .start_component(spec("sleeper", "sup/s/1").with_limits(limits))
        .await
        .unwrap();
    // `request` queues on its first poll: poll the trapping one first, then five behind it.
    let mut trap = Box::pin(system.request(
        leak(id("sup/s/1")),
        b"sleep 60000".to_vec(),
        Duration::from_secs(30),
    ));
    assert!(poll_once(trap.as_mut()).await.is_none());
    let mut behind: Vec<_> = (0..5)
        .map(|n| {
            Box::pin(system.request(
                leak(id("sup/s/1")),
                format!("q{n}").into_bytes(),
                Duration::from_secs(30),
            ))
        })
        .collect();
    for request in &mut behind {
        assert!(poll_once(request.as_mut()).await.is_none());
    }
    // The premise: all six queued or in hand, none handled, no trap yet.
    let queued_at = system.stats();
    assert_eq!((queued_at.messages_handled, queued_at.dead_letters), (0, 0));
    let trapped = trap.await;
    assert!(
        matches!(
            trapped,
            Err(Error::Request {
                reason: ErrorCallback::TargetFailed(_),
                ..
            })
        ),
        "{trapped:?}"
    );
    let mut replies = Vec::new();
    for request in behind {
        replies.push(String::from_utf8(request.await.unwrap()).unwrap());
    }
    assert_eq!(replies, ["q0", "q1", "q2", "q3", "q4"]);
    wait_for(&mut events, "restart", |e| {
        matches!(e, SystemEvent::Restarted { .. })
    })
    .await;
    // Handled by the new instance: five calls returned, one dead letter, one restart.
    let stats = system.stats();
    assert_eq!(
        (stats.messages_handled, stats.dead_letters, stats.restarts),
        (5, 1, 1)
    );
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_requester_gets_an_error_callback_when_the_target_traps() {
    let system = system();
    system
        .start_component(spec("requester", "sup/req/1").with_grants(talk_to_all()))
        .await
        .unwrap();
    system
        .start_component(spec("panicker", "sup/p/1"))
        .await
        .unwrap();
    let corr = ask(&system, "sup/req/1", "request sup/p/1 5000 panic").await;
    let callbacks = poll_until(&system, "sup/req/1", "callbacks", |c| !c.is_empty()).await;
    let fields: Vec<&str> = callbacks.splitn(3, '\t').collect();
    assert_eq!(fields[0], corr);
    assert_eq!(fields[1], ERROR_CONTENT_TYPE);
    assert!(fields[2].starts_with("target-failed: "), "{callbacks}");
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_outlives_its_timeout_gets_a_timeout_callback() {
    let system = system();
    system
        .start_component(spec("requester", "sup/req/1").with_grants(talk_to_all()))
        .await
        .unwrap();
    system
        .start_component(spec("sleeper", "sup/sleep/1"))
        .await
        .unwrap();
    let corr = ask(&system, "sup/req/1", "request sup/sleep/1 50 sleep 400").await;
    let callbacks = poll_until(&system, "sup/req/1", "callbacks", |c| !c.is_empty()).await;
    assert_eq!(callbacks, format!("{corr}\t{ERROR_CONTENT_TYPE}\ttimeout"));
    // The sleeper's reply comes after the deadline: dropped and counted, never delivered.
    poll_until(&system, "sup/sleep/1", "hello", |_| {
        system.router().late_replies() == 1
    })
    .await;
    assert_eq!(ask(&system, "sup/req/1", "count").await, "1");

    // From the host, too.
    let host = system
        .request(
            &id("sup/sleep/1"),
            b"sleep 400".to_vec(),
            Duration::from_millis(50),
        )
        .await;
    assert!(
        matches!(
            host,
            Err(Error::Request {
                reason: ErrorCallback::Timeout,
                ..
            })
        ),
        "{host:?}"
    );
    system.shutdown().await;
}

/// Keeps `to` (a sleeper) busy in a long call from the host and returns that request once
/// the call is in hand; everything sent afterwards queues behind it.
async fn keep_busy<'a>(
    system: &'a wasm_actor::ActorSystem,
    to: &'static str,
) -> std::pin::Pin<Box<impl std::future::Future<Output = wasm_actor::Result<Vec<u8>>> + 'a>> {
    let mut busy = Box::pin(system.request(
        leak(id(to)),
        b"sleep 1500".to_vec(),
        Duration::from_secs(30),
    ));
    assert!(poll_once(busy.as_mut()).await.is_none());
    until_in_hand(system, to).await;
    busy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_gets_no_callback() {
    let system = system();
    system
        .start_component(spec("requester", "sup/req/1").with_grants(talk_to_all()))
        .await
        .unwrap();
    system
        .start_component(spec("sleeper", "sup/sleep/1"))
        .await
        .unwrap();
    // The request waits behind a long call, so the cancel certainly comes first.
    let busy = keep_busy(&system, "sup/sleep/1").await;
    let corr = ask(&system, "sup/req/1", "request sup/sleep/1 60000 hello").await;
    assert_eq!(
        ask(&system, "sup/req/1", &format!("cancel {corr}")).await,
        "ok"
    );
    let again = ask(&system, "sup/req/1", &format!("cancel {corr}")).await;
    assert!(again.starts_with("err: InvalidMessage"), "{again}");
    busy.await.unwrap();
    // The sleeper handles the cancelled request; its reply is dropped and counted.
    system.wait_idle().await;
    assert_eq!(system.stats().late_replies, 1);
    assert_eq!(system.stats().callbacks_handled, 0);
    assert_eq!(ask(&system, "sup/req/1", "count").await, "0");
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mailbox_refuses_at_once_with_queue_full() {
    let system = system();
    system
        .start_component(spec("sleeper", "sup/slow/1").with_mailbox(2))
        .await
        .unwrap();
    system
        .start_component(spec("requester", "sup/req/1").with_grants(talk_to_all()))
        .await
        .unwrap();
    let busy = keep_busy(&system, "sup/slow/1").await;
    let mut accepted = 0;
    for _ in 0..10 {
        match system.send(&id("sup/slow/1"), b"x".to_vec()) {
            Ok(()) => accepted += 1,
            Err(Error::Delivery {
                source: MessagingError::QueueFull,
                ..
            }) => {}
            Err(other) => panic!("{other}"),
        }
    }
    // One in hand, exactly two queued.
    assert_eq!(accepted, 2);
    assert_eq!(system.registry().queued(&id("sup/slow/1")), Some(2));
    // A host request is refused the same way, with nothing left pending.
    let request = system
        .request(&id("sup/slow/1"), b"x".to_vec(), Duration::from_secs(10))
        .await;
    assert!(
        matches!(
            request,
            Err(Error::Delivery {
                source: MessagingError::QueueFull,
                ..
            })
        ),
        "{request:?}"
    );
    // A component sender sees queue-full as its WIT error, for send and request alike.
    assert_eq!(
        ask(&system, "sup/req/1", "send sup/slow/1 x").await,
        "err: QueueFull"
    );
    assert_eq!(
        ask(&system, "sup/req/1", "request sup/slow/1 1000 x").await,
        "err: QueueFull"
    );
    assert_eq!(
        system.stats().pending_requests,
        1,
        "only the busy request is pending"
    );
    busy.await.unwrap();
    system.wait_idle().await;
    // The busy call, the two queued messages, the two commands to the requester.
    assert_eq!(system.stats().messages_handled, 1 + 2 + 2);
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceeding_the_restart_intensity_stops_the_group() {
    let system = system();
    let mut events = system.events();
    let group = GroupSpec::new("fragile")
        .with_intensity(quick_intensity(2))
        .with_member(spec("panicker", "grp/p/1"));
    system.start_group(group).await.unwrap();
    for round in 0..3 {
        let _ = system
            .request(&id("grp/p/1"), b"panic".to_vec(), Duration::from_secs(10))
            .await;
        if round < 2 {
            wait_for(&mut events, "restart", |e| {
                matches!(e, SystemEvent::Restarted { .. })
            })
            .await;
        }
    }
    let failed = wait_for(&mut events, "group failure", |e| {
        matches!(e, SystemEvent::GroupFailed { .. })
    })
    .await;
    assert!(
        matches!(&failed, SystemEvent::GroupFailed { group, .. } if group == "fragile"),
        "{failed:?}"
    );
    common::assert_gone(&system, "grp/p/1");
    system.shutdown().await;
}

/// A `'static` id for requests polled by hand (tests only).
fn leak(id: wasm_core::ComponentId) -> &'static wasm_core::ComponentId {
    Box::leak(Box::new(id))
}

/// Polls a future once: `Some` if it is ready, `None` if it is waiting.
async fn poll_once<F: std::future::Future>(mut f: std::pin::Pin<&mut F>) -> Option<F::Output> {
    std::future::poll_fn(|cx| match f.as_mut().poll(cx) {
        std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

async fn handled(system: &wasm_actor::ActorSystem, to: &str) -> String {
    ask(system, to, "x").await
}

/// Starts three panickers in a group, gives each two messages, traps the middle one and
/// returns what each answers afterwards.
async fn after_middle_fails(strategy: Strategy) -> Vec<String> {
    let system = system();
    let mut events = system.events();
    let members = ["grp/a/1", "grp/b/1", "grp/c/1"];
    let mut group = GroupSpec::new("trio")
        .with_strategy(strategy)
        .with_intensity(quick_intensity(5));
    for m in members {
        group = group.with_member(spec("panicker", m));
    }
    system.start_group(group).await.unwrap();
    for m in members {
        handled(&system, m).await;
        assert_eq!(handled(&system, m).await, "handled 2");
    }
    let _ = system
        .request(&id("grp/b/1"), b"panic".to_vec(), Duration::from_secs(10))
        .await;
    let expected_restarts = match strategy {
        Strategy::OneForOne => 1,
        Strategy::OneForAll => 3,
        Strategy::RestForOne => 2,
    };
    for _ in 0..expected_restarts {
        wait_for(&mut events, "restart", |e| {
            matches!(e, SystemEvent::Restarted { .. })
        })
        .await;
    }
    let mut answers = Vec::new();
    for m in members {
        answers.push(handled(&system, m).await);
    }
    system.shutdown().await;
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_one_restarts_only_the_failed_member() {
    assert_eq!(
        after_middle_fails(Strategy::OneForOne).await,
        ["handled 3", "handled 1", "handled 3"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_all_restarts_every_member() {
    assert_eq!(
        after_middle_fails(Strategy::OneForAll).await,
        ["handled 1", "handled 1", "handled 1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_for_one_restarts_the_failed_member_and_those_after_it() {
    assert_eq!(
        after_middle_fails(Strategy::RestForOne).await,
        ["handled 3", "handled 1", "handled 1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_component_counts_as_failed_and_is_restarted() {
    let system = system_with(SystemConfig {
        health_interval: Some(Duration::from_millis(20)),
        ..SystemConfig::default()
    });
    let mut events = system.events();
    system
        .start_component(spec("counter", "sup/c/1"))
        .await
        .unwrap();
    assert_eq!(ask(&system, "sup/c/1", "set-health unhealthy").await, "ok");
    let failed = wait_for(&mut events, "failure", |e| {
        matches!(e, SystemEvent::Failed { .. })
    })
    .await;
    assert!(
        matches!(&failed, SystemEvent::Failed { reason, .. } if reason.contains("unhealthy")),
        "{failed:?}"
    );
    wait_for(&mut events, "restart", |e| {
        matches!(e, SystemEvent::Restarted { .. })
    })
    .await;
    // The new instance is healthy again.
    assert_eq!(ask(&system, "sup/c/1", "get").await, "0");
    system.shutdown().await;
}

/// Waits until `to` has taken everything out of its mailbox (its last message is in hand).
async fn until_in_hand(system: &wasm_actor::ActorSystem, to: &str) {
    for _ in 0..4_000 {
        if system.registry().queued(&id(to)) == Some(0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{to} never took its message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_component_answers_its_queued_requests_and_unregisters_it() {
    let system = system();
    let mut events = system.events();
    system
        .start_component(spec("sleeper", "sup/s/1"))
        .await
        .unwrap();
    let mut busy = Box::pin(system.request(
        leak(id("sup/s/1")),
        b"sleep 300".to_vec(),
        Duration::from_secs(30),
    ));
    assert!(poll_once(busy.as_mut()).await.is_none());
    until_in_hand(&system, "sup/s/1").await;
    let mut queued: Vec<_> = (0..3)
        .map(|n| {
            Box::pin(system.request(
                leak(id("sup/s/1")),
                format!("q{n}").into_bytes(),
                Duration::from_secs(30),
            ))
        })
        .collect();
    for request in &mut queued {
        assert!(poll_once(request.as_mut()).await.is_none());
    }
    system
        .send(&id("sup/s/1"), b"fire and forget".to_vec())
        .unwrap();
    system.stop_component(&id("sup/s/1")).await.unwrap();
    // The stop took effect after the message in hand, and before anything queued.
    assert_eq!(busy.await.unwrap(), b"slept 300");
    for request in queued {
        let outcome = request.await;
        assert!(
            matches!(
                outcome,
                Err(Error::Request {
                    reason: ErrorCallback::TargetStopped,
                    ..
                })
            ),
            "{outcome:?}"
        );
    }
    let dead = wait_for(&mut events, "dead letter", |e| {
        matches!(e, SystemEvent::DeadLetter { .. })
    })
    .await;
    assert!(
        matches!(&dead, SystemEvent::DeadLetter { payload, .. } if payload == b"fire and forget"),
        "{dead:?}"
    );
    wait_for(&mut events, "stop", |e| {
        matches!(e, SystemEvent::Stopped { .. })
    })
    .await;
    assert_eq!(system.stats().messages_handled, 1);
    assert!(!system.registry().contains(&id("sup/s/1")));
    assert!(matches!(
        system.stop_component(&id("sup/s/1")).await,
        Err(Error::NotRunning(_))
    ));
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_killed_after_the_stop_deadline_reports_the_message_in_hand() {
    let system = system_with(SystemConfig {
        shutdown_deadline: Duration::from_millis(50),
        ..SystemConfig::default()
    });
    let mut events = system.events();
    system
        .start_component(spec("sleeper", "sup/s/1"))
        .await
        .unwrap();
    let mut stuck = Box::pin(system.request(
        leak(id("sup/s/1")),
        b"sleep 4000".to_vec(),
        Duration::from_secs(30),
    ));
    assert!(poll_once(stuck.as_mut()).await.is_none());
    until_in_hand(&system, "sup/s/1").await;
    system.stop_component(&id("sup/s/1")).await.unwrap();
    let outcome = stuck.await;
    match &outcome {
        Err(Error::Request {
            reason: ErrorCallback::TargetFailed(why),
            ..
        }) => {
            assert!(why.contains("killed"), "{why}");
        }
        other => panic!("expected target-failed, got {other:?}"),
    }
    let dead = wait_for(&mut events, "dead letter", |e| {
        matches!(e, SystemEvent::DeadLetter { .. })
    })
    .await;
    assert!(
        matches!(&dead, SystemEvent::DeadLetter { payload, reason, .. } if payload == b"sleep 4000" && reason.contains("killed")),
        "{dead:?}"
    );
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_component_is_restarted_after_a_failure() {
    let system = system();
    let mut events = system.events();
    system
        .start_component(spec("panicker", "pol/t/1").with_restart(RestartPolicy::Transient))
        .await
        .unwrap();
    assert_eq!(ask(&system, "pol/t/1", "x").await, "handled 1");
    let _ = system
        .request(&id("pol/t/1"), b"panic".to_vec(), Duration::from_secs(10))
        .await;
    wait_for(&mut events, "restart", |e| {
        matches!(e, SystemEvent::Restarted { .. })
    })
    .await;
    assert_eq!(ask(&system, "pol/t/1", "x").await, "handled 1");
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_component_is_removed_after_a_failure_with_its_mailbox_answered() {
    let system = system();
    let mut events = system.events();
    let limits = wasm_core::ResourceLimits {
        max_memory_bytes: 64 * 1024 * 1024,
        max_execution_time_ms: 300,
        max_wall_time_ms: 300,
        max_fuel: None,
    };
    system
        .start_component(
            spec("sleeper", "pol/tmp/1")
                .with_limits(limits)
                .with_restart(RestartPolicy::Temporary),
        )
        .await
        .unwrap();
    let mut trap = Box::pin(system.request(
        leak(id("pol/tmp/1")),
        b"sleep 60000".to_vec(),
        Duration::from_secs(30),
    ));
    assert!(poll_once(trap.as_mut()).await.is_none());
    let mut queued = Box::pin(system.request(
        leak(id("pol/tmp/1")),
        b"q".to_vec(),
        Duration::from_secs(30),
    ));
    assert!(poll_once(queued.as_mut()).await.is_none());
    system
        .send(&id("pol/tmp/1"), b"queued message".to_vec())
        .unwrap();
    assert_eq!(
        system.stats().dead_letters,
        0,
        "premise: queued before the failure"
    );
    assert!(matches!(
        trap.await,
        Err(Error::Request {
            reason: ErrorCallback::TargetFailed(_),
            ..
        })
    ));
    let outcome = queued.await;
    assert!(
        matches!(
            outcome,
            Err(Error::Request {
                reason: ErrorCallback::TargetStopped,
                ..
            })
        ),
        "{outcome:?}"
    );
    let stopped = wait_for(&mut events, "stop", |e| {
        matches!(e, SystemEvent::Stopped { .. })
    })
    .await;
    assert!(
        matches!(&stopped, SystemEvent::Stopped { reason, .. } if reason.contains("temporary")),
        "{stopped:?}"
    );
    system.wait_idle().await;
    let stats = system.stats();
    // The message in hand and the queued message: two dead letters; no restart.
    assert_eq!((stats.dead_letters, stats.restarts), (2, 0));
    assert!(!system.registry().contains(&id("pol/tmp/1")));
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_calls_every_shutdown_and_leaves_no_task_behind() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let storage = std::sync::Arc::new(wasm_runtime::MemoryStorage::new());
    let system =
        wasm_actor::ActorSystem::new(common::engine(), storage.clone(), SystemConfig::default());
    let grants = wasm_security::Grants {
        storage: Some(wasm_security::StorageGrant {
            read: true,
            write: true,
            delete: true,
            quota: wasm_core::StorageQuota::default(),
        }),
        ..wasm_security::Grants::default()
    };
    for n in 0..3 {
        system
            .start_component(spec("counter", &format!("down/c{n}/1")).with_grants(grants.clone()))
            .await
            .unwrap();
    }
    assert!(metrics.num_alive_tasks() > before);
    system.shutdown().await;
    use wasm_core::StorageBackend;
    for n in 0..3 {
        let value = storage
            .get(&id(&format!("down/c{n}/1")), "shutdown")
            .unwrap();
        assert_eq!(
            value.as_deref(),
            Some(&b"clean"[..]),
            "counter {n} shutdown ran"
        );
    }
    assert!(system.registry().is_empty());
    // Every actor, timer and supervisor task has ended.
    for _ in 0..100 {
        if metrics.num_alive_tasks() == before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(metrics.num_alive_tasks(), before);
}

/// Group [a: counter, b: counter, s: sleeper, c: counter]; `b` fails (`unhealthy`) while `s`
/// is busy with requests queued behind its call. Returns which counters ran `shutdown` and
/// the queued requests' replies.
async fn siblings_after_b_fails(strategy: Strategy) -> (Vec<bool>, Vec<String>) {
    let storage = std::sync::Arc::new(wasm_runtime::MemoryStorage::new());
    let system = wasm_actor::ActorSystem::new(
        common::engine(),
        storage.clone(),
        SystemConfig {
            health_interval: Some(Duration::from_millis(20)),
            shutdown_deadline: Duration::from_secs(5),
            ..SystemConfig::default()
        },
    );
    let mut events = system.events();
    let grants = wasm_security::Grants {
        storage: Some(wasm_security::StorageGrant {
            read: true,
            write: true,
            delete: true,
            quota: wasm_core::StorageQuota::default(),
        }),
        ..wasm_security::Grants::default()
    };
    let group = GroupSpec::new("siblings")
        .with_strategy(strategy)
        .with_intensity(quick_intensity(5))
        .with_member(spec("counter", "sib/a/1").with_grants(grants.clone()))
        .with_member(spec("counter", "sib/b/1").with_grants(grants.clone()))
        .with_member(spec("sleeper", "sib/s/1"))
        .with_member(spec("counter", "sib/c/1").with_grants(grants));
    system.start_group(group).await.unwrap();
    let busy = keep_busy(&system, "sib/s/1").await;
    let mut queued: Vec<_> = (0..3)
        .map(|n| {
            Box::pin(system.request(
                leak(id("sib/s/1")),
                format!("q{n}").into_bytes(),
                Duration::from_secs(30),
            ))
        })
        .collect();
    for request in &mut queued {
        assert!(poll_once(request.as_mut()).await.is_none());
    }
    assert_eq!(ask(&system, "sib/b/1", "set-health unhealthy").await, "ok");
    let restarts = match strategy {
        Strategy::OneForAll => 4,
        _ => 3,
    };
    for _ in 0..restarts {
        wait_for(&mut events, "restart", |e| {
            matches!(e, SystemEvent::Restarted { .. })
        })
        .await;
    }
    // The call in hand finished before the sleeper stopped; its queue survived the restart.
    assert_eq!(busy.await.unwrap(), b"slept 1500");
    let mut replies = Vec::new();
    for request in queued {
        replies.push(String::from_utf8(request.await.unwrap()).unwrap());
    }
    use wasm_core::StorageBackend;
    let ran = ["sib/a/1", "sib/c/1"]
        .iter()
        .map(|c| storage.get(&id(c), "shutdown").unwrap().as_deref() == Some(&b"clean"[..]))
        .collect();
    system.shutdown().await;
    (ran, replies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_all_shuts_siblings_down_and_keeps_their_mailboxes() {
    let (ran, replies) = siblings_after_b_fails(Strategy::OneForAll).await;
    assert_eq!(ran, [true, true], "a and c ran shutdown");
    assert_eq!(replies, ["q0", "q1", "q2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_for_one_shuts_later_siblings_down_and_keeps_their_mailboxes() {
    let (ran, replies) = siblings_after_b_fails(Strategy::RestForOne).await;
    assert_eq!(ran, [false, true], "only c (after b) ran shutdown");
    assert_eq!(replies, ["q0", "q1", "q2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_aborts_a_restart_waiting_out_its_backoff() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let system = system();
    let mut events = system.events();
    let slow = Intensity {
        max_restarts: 5,
        window: Duration::from_secs(60),
        backoff_base: Duration::from_secs(600),
        backoff_max: Duration::from_secs(600),
    };
    system
        .start_group(
            GroupSpec::new("slow")
                .with_intensity(slow)
                .with_member(spec("panicker", "bo/p/1")),
        )
        .await
        .unwrap();
    let _ = system
        .request(&id("bo/p/1"), b"panic".to_vec(), Duration::from_secs(10))
        .await;
    wait_for(&mut events, "failure", |e| {
        matches!(e, SystemEvent::Failed { .. })
    })
    .await;
    system.shutdown().await;
    // The 10-minute backoff timer is gone with everything else.
    for _ in 0..500 {
        if metrics.num_alive_tasks() == before {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(metrics.num_alive_tasks(), before);
}
