//! Ownership, names, deadlines and credit in a cluster under faults: an id started elsewhere
//! while its host is cut off, a second process with a taken name, requests that must not run
//! after their requester's timeout, a host cut off from the server that must not take its
//! own disconnection for its peers' deaths, a target stopped with messages on their way, and
//! credit between many senders and one target.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fault_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fault_support::{Entry, Near, Proc, Report, RunCheck, config, handled, id, start_run};
use test_fixtures::{NatsServer, Proxy};
use wasm_host::{Error, MessagingError};

fn flow(id: &str) -> Entry<'_> {
    Entry {
        id,
        fixture: "flow",
        extra: "",
    }
}

async fn done(near: &Near, producer: &str, tag: &str) -> Report {
    Report::parse(
        &near
            .ask_until(producer, &format!("report {tag}"), |r| {
                Report::parse(r).done()
            })
            .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_started_elsewhere_while_its_host_is_cut_off_is_served_by_one_host_only() {
    let server = NatsServer::start(&[]);
    let proxy = Proxy::start(server.addr());
    let dir = tempfile::tempdir().unwrap();
    let near = Near::connect(config(&server.url(), "near", 1000, 20_000)).await;
    near.start_flow("near/flow/1").await;
    let far = Proc::start(
        dir.path(),
        "far",
        &proxy.url(),
        "lease_ms = 1000\ngive_up_ms = 20000",
        &[flow("x/flow/1")],
    );
    let before = RunCheck {
        tag: "before",
        producer: "near/flow/1",
        sink: "x/flow/1",
        count: 200,
        every: 10,
    };
    near.ask_until("x/flow/1", "slow 0", |r| r == "ok").await;
    start_run(&near, &before, 30_000).await;
    before.check(&near, &near.dead_letters(), false).await;
    // Cut off: once its lease lapses, the id is free, and near starts it.
    proxy.partition();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !near.downs().contains(&"far".to_owned()) {
        assert!(Instant::now() < deadline, "far never went away");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    near.start_flow("x/flow/1").await;
    let after = RunCheck {
        tag: "after",
        producer: "near/flow/1",
        sink: "x/flow/1",
        count: 200,
        every: 10,
    };
    start_run(&near, &after, 30_000).await;
    // Back: far finds the id taken and stops its own; near's is the only one.
    proxy.heal();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !far
        .log_text()
        .contains("component evicted: another host holds its id")
    {
        assert!(
            Instant::now() < deadline,
            "far kept x/flow/1: {}",
            far.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut dead = near.dead_letters();
    dead.extend(far.dead_letters());
    after.check(&near, &dead, false).await;
    // Every message of `after` was handled by near's instance, none by far's.
    assert_eq!(
        handled(&near, "x/flow/1", "near/flow/1", "after").await,
        200
    );
    assert_eq!(handled(&near, "x/flow/1", "near/flow/1", "before").await, 0);
    assert!(far.log_text().contains("serving again"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_with_a_host_name_in_use_refuses_to_start_naming_the_other() {
    let server = NatsServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let first = Proc::start(
        dir.path(),
        "dup",
        &server.url(),
        "lease_ms = 2000",
        &[flow("d/flow/1")],
    );
    let near = Near::connect(config(&server.url(), "near", 2000, 20_000)).await;
    near.ask_until("d/flow/1", "slow 0", |r| r == "ok").await;
    // The same name, another manifest directory (another id): refused, naming the holder.
    let other = tempfile::tempdir().unwrap();
    let mut second = Proc::start(
        other.path(),
        "dup",
        &server.url(),
        "lease_ms = 2000",
        &[flow("d/flow/2")],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = second.exited() {
            break status;
        }
        assert!(Instant::now() < deadline, "the second `dup` did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success());
    let log = second.log_text();
    assert!(
        log.contains("host name `dup` is taken in cluster `faults`")
            && log.contains(&format!("process {}", first.pid()))
            && log.contains("renewed its lease while this process waited"),
        "{log}"
    );
    // The first one was not disturbed.
    assert_eq!(near.ask("d/flow/1", "slow 0").await, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_not_started_after_its_requesters_timeout() {
    let server = NatsServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let near = Near::connect(config(&server.url(), "near", 2000, 20_000)).await;
    near.start_flow("near/flow/1").await;
    // A long lease: far does not lapse while it is paused, it only falls silent.
    let far = Proc::start(
        dir.path(),
        "far",
        &server.url(),
        "lease_ms = 8000\ngive_up_ms = 80000",
        &[flow("far/flow/1")],
    );
    near.ask_until("far/flow/1", "slow 0", |r| r == "ok").await;
    // A window of credit is open before the pause.
    let warm = RunCheck {
        tag: "warm",
        producer: "near/flow/1",
        sink: "far/flow/1",
        count: 20,
        every: 0,
    };
    start_run(&near, &warm, 1000).await;
    warm.check(&near, &near.dead_letters(), false).await;
    far.pause();
    // 20 requests with a 300 ms timeout go out on that credit and time out at near.
    assert_eq!(
        near.ask("near/flow/1", "start late 20 1 300 far/flow/1 20")
            .await,
        "started"
    );
    let report = done(&near, "near/flow/1", "late").await;
    assert_eq!(report.num("requests"), 20, "{report:?}");
    assert_eq!(report.num("errors"), 20, "{report:?}");
    far.resume();
    // far reads them after its pause, long past their deadlines: none is started. A send
    // after them is handled: far has read everything before it.
    let after = RunCheck {
        tag: "after",
        producer: "near/flow/1",
        sink: "far/flow/1",
        count: 1,
        every: 0,
    };
    start_run(&near, &after, 1000).await;
    after.check(&near, &near.dead_letters(), false).await;
    assert_eq!(handled(&near, "far/flow/1", "near/flow/1", "late").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_cut_off_from_the_server_does_not_take_its_peers_for_gone() {
    let server = NatsServer::start(&[]);
    let proxy = Proxy::start(server.addr());
    let dir = tempfile::tempdir().unwrap();
    let far = Proc::start(
        dir.path(),
        "far",
        &server.url(),
        "lease_ms = 1000\ngive_up_ms = 20000",
        &[flow("far/flow/1")],
    );
    // near reaches the server through the proxy.
    let near = Near::connect(config(&proxy.url(), "near", 1000, 20_000)).await;
    near.start_flow("near/flow/1").await;
    near.ask_until("far/flow/1", "slow 20", |r| r == "ok").await;
    let run = RunCheck {
        tag: "through",
        producer: "near/flow/1",
        sink: "far/flow/1",
        count: 300,
        every: 3,
    };
    start_run(&near, &run, 30_000).await;
    while handled(&near, run.sink, run.producer, run.tag).await < 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // near is the one cut off, for three of its leases: it loses its own lease, not far.
    proxy.partition();
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.heal();
    let mut dead = near.dead_letters();
    dead.extend(far.dead_letters());
    run.check(&near, &dead, false).await;
    assert!(
        near.downs().is_empty(),
        "near took its own disconnection for its peers' end: {:?}",
        near.downs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_stopped_with_messages_on_their_way_reports_each_it_does_not_handle() {
    let server = NatsServer::start(&[]);
    let a = Near::connect(config(&server.url(), "host-a", 2000, 20_000)).await;
    let b = Near::connect(config(&server.url(), "host-b", 2000, 20_000)).await;
    a.start_flow("a/flow/1").await;
    b.start_flow_with_storage("b/flow/1").await;
    b.ask("b/flow/1", "slow 1").await;
    let run = RunCheck {
        tag: "stopped",
        producer: "a/flow/1",
        sink: "b/flow/1",
        count: 3000,
        every: 0,
    };
    start_run(&a, &run, 30_000).await;
    while handled(&b, run.sink, run.producer, run.tag).await < 500 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Stopped with its mailbox full and more on the way on its window; started again (its
    // storage stays), the producer goes on with it.
    b.host.stop_component(&id("b/flow/1")).await.unwrap();
    b.start_flow_with_storage("b/flow/1").await;
    done(&a, "a/flow/1", "stopped").await;
    // Everything sent with `ok` is on its way: wait until each is handled or reported.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (kept, reported) = loop {
        let kept: BTreeSet<u64> = b
            .ask_until("b/flow/1", "kept stopped", |_| true)
            .await
            .split(',')
            .filter_map(|n| n.parse().ok())
            .collect();
        let reported: Vec<u64> = b
            .dead_letters()
            .iter()
            .chain(a.dead_letters().iter())
            .filter(|d| d.target == "b/flow/1")
            .filter_map(|d| d.payload.strip_prefix("stopped:")?.parse().ok())
            .collect();
        if kept.len() + reported.len() >= 3000 || Instant::now() > deadline {
            break (kept, reported);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        !reported.is_empty(),
        "the stop was expected to leave messages unhandled"
    );
    let reported_set: BTreeSet<u64> = reported.iter().copied().collect();
    assert_eq!(
        reported.len(),
        reported_set.len(),
        "reported twice: {reported:?}"
    );
    let both: Vec<&u64> = kept.intersection(&reported_set).collect();
    assert!(both.is_empty(), "handled and reported: {both:?}");
    let missing: Vec<u64> = (1..=3000)
        .filter(|n| !kept.contains(n) && !reported_set.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "sent with ok, neither handled nor reported: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_hosts_sending_once_to_a_small_target_leave_room_for_its_local_senders() {
    let server = NatsServer::start(&[]);
    let mut a_config = config(&server.url(), "target", 2000, 20_000);
    a_config.idle = Duration::from_millis(500);
    let a = Near::connect(a_config).await;
    let code = a
        .host
        .load_component_file(test_fixtures::fixture_path("flow"))
        .unwrap();
    a.host
        .start_component(a.host.spec(id("t/flow/1"), code).with_mailbox(8))
        .await
        .unwrap();
    // Busy: its mailbox fills and stays full while the senders send.
    a.ask("t/flow/1", "slow 1000").await;
    a.host.send(&id("t/flow/1"), "busy:1").unwrap();
    let mut senders = Vec::new();
    for k in 0..12 {
        let mut c = config(&server.url(), &format!("sender-{k}"), 2000, 20_000);
        c.idle = Duration::from_millis(500);
        senders.push(Near::connect(c).await);
    }
    let mut ok = Vec::new();
    for (k, sender) in senders.iter().enumerate() {
        match sender
            .host
            .send_anywhere(&id("t/flow/1"), format!("s{k}:1"))
            .await
        {
            Ok(()) => ok.push(k),
            Err(e) => assert!(
                e.is_queue_full()
                    || matches!(
                        &e,
                        Error::Actor(wasm_host::ActorError::Delivery {
                            source: MessagingError::DeliveryFailed(_),
                            ..
                        })
                    ),
                "{e}"
            ),
        }
    }
    // Other hosts together take at most half of the mailbox (held for them or queued): a
    // local sender finds room.
    assert!(ok.len() <= 4, "{ok:?}");
    a.host.send(&id("t/flow/1"), "local:1").unwrap();
    // Each remote send that was `ok` is handled, once.
    for k in &ok {
        let sink = Report::parse(
            &a.ask_until("t/flow/1", &format!("sink host/embedder/0 s{k}"), |r| {
                Report::parse(r).num("count") == 1
            })
            .await,
        );
        assert_eq!(sink.num("duplicates"), 0);
    }
    // Unused credit goes back within a bounded time (the senders' windows lie unused).
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.host.cluster_stats().unwrap().held > 0 {
        assert!(
            Instant::now() < deadline,
            "credit was never given back: {:?}",
            a.host.cluster_stats()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(a.dead_letters().is_empty(), "{:?}", a.dead_letters());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_senders_on_one_host_and_one_on_another_each_get_ten_thousand_through_once() {
    let server = NatsServer::start(&[]);
    let a = Near::connect(config(&server.url(), "host-a", 2000, 20_000)).await;
    let b = Near::connect(config(&server.url(), "host-b", 2000, 20_000)).await;
    let c = Near::connect(config(&server.url(), "host-c", 2000, 20_000)).await;
    a.start_flow("a/flow/1").await;
    a.start_flow("a/flow/2").await;
    b.start_flow("b/flow/1").await;
    let code = c
        .host
        .load_component_file(test_fixtures::fixture_path("flow"))
        .unwrap();
    c.host
        .start_component(c.host.spec(id("c/flow/1"), code).with_mailbox(256))
        .await
        .unwrap();
    let runs: Vec<RunCheck<'_>> = ["a/flow/1", "a/flow/2", "b/flow/1"]
        .into_iter()
        .map(|producer| RunCheck {
            tag: "ten",
            producer,
            sink: "c/flow/1",
            count: 10_000,
            every: 0,
        })
        .collect();
    for run in &runs {
        start_run(&c, run, 30_000).await;
    }
    for run in &runs {
        run.check(&c, &[], false).await;
        assert_eq!(handled(&c, "c/flow/1", run.producer, "ten").await, 10_000);
    }
    let mut dead = a.dead_letters();
    dead.extend(b.dead_letters());
    dead.extend(c.dead_letters());
    assert!(dead.is_empty(), "{dead:?}");
}
