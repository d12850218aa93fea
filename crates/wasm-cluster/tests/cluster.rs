//! Two hosts (two actor systems, each with its own NATS connection) on a real nats-server,
//! running real fixture components: every messaging pattern across them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use test_fixtures::{NatsServer, fixture};
use wasm_actor::{ActorSystem, ComponentSpec, Error, SystemConfig, SystemEvent};
use wasm_cluster::{Auth, ClusterConfig, NatsTransport};
use wasm_core::{ComponentId, ErrorCallback, MessagingError, ResourceLimits};
use wasm_runtime::{EngineConfig, MemoryStorage, WasmEngine};
use wasm_security::{Grants, MessagingAction, MessagingGrant};

fn engine() -> WasmEngine {
    static ENGINE: OnceLock<WasmEngine> = OnceLock::new();
    ENGINE
        .get_or_init(|| WasmEngine::new(EngineConfig::default()).expect("engine"))
        .clone()
}

fn id(text: &str) -> ComponentId {
    text.parse().expect("component id")
}

fn spec(fixture_name: &str, component_id: &str) -> ComponentSpec {
    let component = engine()
        .loader()
        .load_bytes(fixture_name, &fixture(fixture_name))
        .unwrap_or_else(|e| panic!("loading {fixture_name}: {e}"));
    ComponentSpec::new(id(component_id), component).with_limits(ResourceLimits {
        max_memory_bytes: 64 * 1024 * 1024,
        max_execution_time_ms: 5_000,
        max_wall_time_ms: 5_000,
        max_fuel: None,
    })
}

fn talk_to_all() -> Grants {
    Grants {
        messaging: vec![MessagingGrant {
            actions: vec![MessagingAction::Send, MessagingAction::Request],
            targets: "**".into(),
        }],
        ..Grants::default()
    }
}

struct Node {
    system: ActorSystem,
    transport: NatsTransport,
}

async fn node(url: &str, host: &str) -> Node {
    let mut config = ClusterConfig::new(url, host, "test");
    config.lease = Duration::from_secs(2);
    node_with(config).await
}

async fn node_with(config: ClusterConfig) -> Node {
    // `RUST_LOG=wasm_cluster=debug` shows what the transports do.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let transport = NatsTransport::connect(config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let system = ActorSystem::with_remote(
        engine(),
        Arc::new(MemoryStorage::new()),
        SystemConfig::default(),
        Arc::new(transport.clone()),
    );
    Node { system, transport }
}

impl Node {
    /// Starts a fixture component, with no grants.
    async fn start(&self, fixture: &str, at: &str) {
        self.system
            .start_component(spec(fixture, at))
            .await
            .unwrap_or_else(|e| panic!("{at}: {e}"));
    }

    /// Starts the requester fixture, allowed to send to and request from anyone.
    async fn start_requester(&self, at: &str) {
        self.system
            .start_component(spec("requester", at).with_grants(talk_to_all()))
            .await
            .unwrap_or_else(|e| panic!("{at}: {e}"));
    }

    async fn ask(&self, to: &str, command: &str) -> String {
        let reply = self
            .system
            .request(
                &id(to),
                command.as_bytes().to_vec(),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|e| panic!("{to} {command}: {e:?}"));
        String::from_utf8(reply).expect("utf-8 reply")
    }

    async fn stop(self) {
        self.system.shutdown().await;
        self.transport.close().await;
    }
}

/// Asks `to` with `command` until the reply satisfies `done` (bounded).
/// A full mailbox is asked again (a slot may be held for a message still on its way).
async fn poll(node: &Node, to: &str, command: &str, done: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..1_000 {
        let reply = node
            .system
            .request(
                &id(to),
                command.as_bytes().to_vec(),
                Duration::from_secs(10),
            )
            .await;
        match reply {
            Ok(reply) => {
                let reply = String::from_utf8(reply).expect("utf-8 reply");
                if done(&reply) {
                    return reply;
                }
                last = reply;
            }
            Err(Error::Delivery {
                source: MessagingError::QueueFull,
                ..
            }) => {}
            Err(other) => panic!("{to} {command}: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let items = last.split(',').count();
    let head: String = last.chars().take(200).collect();
    panic!("{to} never answered `{command}` as expected; last ({items} items): {head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_request_and_callbacks_cross_hosts_and_no_responders_is_immediate() {
    let server = NatsServer::start(&[]);
    let a = node(&server.url(), "host-a").await;
    let b = node(&server.url(), "host-b").await;
    a.start_requester("a/req/1").await;
    b.start("echo", "b/echo/1").await;
    b.start("counter", "b/count/1").await;

    // The embedder of host A reaches a component of host B.
    assert_eq!(a.ask("b/echo/1", "over the wire").await, "over the wire");
    // A component of A requests from B: the reply arrives as its callback.
    let corr = a.ask("a/req/1", "request b/echo/1 5000 hello").await;
    assert!(corr.starts_with("req-"), "{corr}");
    let callbacks = poll(&a, "a/req/1", "callbacks", |c| !c.is_empty()).await;
    assert_eq!(callbacks, format!("{corr}\t-\thello"));
    // Sends from A: the first is acknowledged once queued on B, the next go on the credit
    // that acknowledgement gave (slots held on B), and all arrive.
    for _ in 0..3 {
        assert_eq!(a.ask("a/req/1", "send b/count/1 inc").await, "ok");
    }
    assert_eq!(poll(&b, "b/count/1", "get", |c| c == "3").await, "3");
    // An id no host runs is target-not-found at once (NATS no-responders), not a timeout.
    let started = std::time::Instant::now();
    let none = a.ask("a/req/1", "request nowhere/x/1 60000 q").await;
    assert!(none.starts_with("err: TargetNotFound"), "{none}");
    let sent = a.ask("a/req/1", "send nowhere/x/1 q").await;
    assert!(sent.starts_with("err: TargetNotFound"), "{sent}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let host = a
        .system
        .request(&id("nowhere/x/1"), b"q".to_vec(), Duration::from_secs(60))
        .await;
    assert!(
        matches!(
            &host,
            Err(Error::Delivery {
                source: MessagingError::TargetNotFound(t),
                ..
            }) if t == &id("nowhere/x/1")
        ),
        "{host:?}"
    );
    assert_eq!(a.system.stats().pending_requests, 0);
    // The directory sees the whole cluster once the owners' keys have come in, and only what
    // the `discover` grant names.
    a.system
        .start_component(
            spec("logger", "a/log/1").with_grants(Grants::default().with_discover("b/**")),
        )
        .await
        .unwrap();
    let listed = poll(&a, "a/log/1", "list", |l| l == "b/count/1,b/echo/1").await;
    assert_eq!(listed, "b/count/1,b/echo/1");
    assert_eq!(
        a.ask("a/log/1", "info b/echo/1").await,
        "echo 0.1.0 unknown"
    );
    let hidden = a.ask("a/log/1", "info a/req/1").await;
    assert!(hidden.contains("`discover` is not granted"), "{hidden}");
    assert_eq!(a.transport.peers(), ["host-b"]);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_replies_failures_and_timeouts_reach_the_remote_requester_once() {
    let server = NatsServer::start(&[]);
    let a = node(&server.url(), "host-a").await;
    let b = node(&server.url(), "host-b").await;
    a.start_requester("a/req/1").await;
    b.start("panicker", "b/panic/1").await;
    b.start("sleeper", "b/sleep/1").await;

    // A trap on B: target-failed, and B's supervisor restarts the component.
    let mut events = b.system.events();
    let failed = a.ask("a/req/1", "request b/panic/1 5000 panic").await;
    let callback = poll(&a, "a/req/1", "callbacks", |c| !c.is_empty()).await;
    assert_eq!(
        callback,
        format!(
            "{failed}\tapplication/vnd.airssys.error\ttarget-failed: {}",
            callback.split("target-failed: ").nth(1).unwrap_or("")
        )
    );
    assert!(
        callback.contains("panicker was told to panic"),
        "{callback}"
    );
    loop {
        if let Ok(SystemEvent::Restarted { id: restarted, .. }) = events.recv().await {
            assert_eq!(restarted, id("b/panic/1"));
            break;
        }
    }
    // A timeout is raised by the requester's own host; the late reply is dropped there.
    let slow = a.ask("a/req/1", "request b/sleep/1 100 sleep 1000").await;
    let callbacks = poll(&a, "a/req/1", "count", |c| c == "2").await;
    assert_eq!(callbacks, "2");
    let all = a.ask("a/req/1", "callbacks").await;
    assert!(
        all.lines()
            .any(|l| l == format!("{slow}\tapplication/vnd.airssys.error\ttimeout")),
        "{all}"
    );
    b.system.wait_idle().await;
    a.system.wait_idle().await;
    // B ran the request under the requester's deadline (or dropped it unrun, when it came
    // in past it): the sleeper's reply, after that deadline, is late on B and goes no
    // further. B's own `timeout` answer reaches A after A's timer (late there) or before it
    // (then it is the callback): A counts at most one.
    let on_b = b.system.router().late_replies() + b.transport.stats().expired;
    assert_eq!(on_b, 1);
    assert!(a.system.router().late_replies() <= 1);
    assert_eq!(a.ask("a/req/1", "count").await, "2");
    // A host request answered with an error reply from the far side names its reason.
    let outcome = a
        .system
        .request(&id("b/panic/1"), b"panic".to_vec(), Duration::from_secs(5))
        .await;
    assert!(
        matches!(
            &outcome,
            Err(Error::Request {
                reason: ErrorCallback::TargetFailed(_),
                ..
            })
        ),
        "{outcome:?}"
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_remote_mailbox_is_queue_full_and_an_ok_send_was_queued() {
    let server = NatsServer::start(&[]);
    let a = node(&server.url(), "host-a").await;
    let b = node(&server.url(), "host-b").await;
    b.system
        .start_component(spec("sleeper", "b/sleep/1").with_mailbox(1))
        .await
        .unwrap();
    let target = id("b/sleep/1");
    // The first message is taken at once and keeps the component busy; the second fills the
    // one-slot mailbox; the third is refused as queue-full, as inside one host.
    a.system
        .send_anywhere(&target, b"sleep 1500".to_vec())
        .await
        .unwrap();
    while b.system.registry().queued(&target) != Some(0) || b.system.is_idle() {
        tokio::task::yield_now().await;
    }
    a.system
        .send_anywhere(&target, b"second".to_vec())
        .await
        .unwrap();
    // Sent on the credit the first send's acknowledgement gave, or acknowledged: either way
    // it has its slot, and it arrives.
    for _ in 0..1_000 {
        if b.system.registry().queued(&target) == Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(b.system.registry().queued(&target), Some(1));
    let third = a.system.send_anywhere(&target, b"third".to_vec()).await;
    assert!(
        matches!(
            &third,
            Err(Error::Delivery {
                source: MessagingError::QueueFull,
                ..
            })
        ),
        "{third:?}"
    );
    b.system.wait_idle().await;
    assert_eq!(b.system.stats().messages_handled, 2);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_runs_on_one_host_and_a_second_claim_names_the_owner() {
    let server = NatsServer::start(&[]);
    let a = node(&server.url(), "host-a").await;
    let b = node(&server.url(), "host-b").await;
    a.start("echo", "x/echo/1").await;
    let second = b.system.start_component(spec("echo", "x/echo/1")).await;
    match second {
        Err(Error::Claimed { component, reason }) => {
            assert_eq!(component, id("x/echo/1"));
            assert!(reason.contains("host-a"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!b.system.registry().contains(&id("x/echo/1")));
    // Once A stops it, B may run it.
    a.system.stop_component(&id("x/echo/1")).await.unwrap();
    b.start("echo", "x/echo/1").await;
    assert_eq!(a.ask("x/echo/1", "moved").await, "moved");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_leaves_answers_its_pending_requests_with_one_error_each() {
    let server = NatsServer::start(&[]);
    let a = node(&server.url(), "host-a").await;
    let b = node(&server.url(), "host-b").await;
    a.start_requester("a/req/1").await;
    b.start("sleeper", "b/sleep/1").await;
    let mut events = a.system.events();
    // A knows B (its host key) before B goes away mid-request.
    poll(&a, "a/req/1", "count", |_| !a.transport.peers().is_empty()).await;
    let corr = a.ask("a/req/1", "request b/sleep/1 60000 sleep 3000").await;
    b.transport.close().await;
    let callback = poll(&a, "a/req/1", "callbacks", |c| !c.is_empty()).await;
    assert!(
        callback.starts_with(&format!(
            "{corr}\tapplication/vnd.airssys.error\ttarget-failed: host host-b is gone"
        )),
        "{callback}"
    );
    loop {
        if let Ok(SystemEvent::HostDown { host, .. }) = events.recv().await {
            assert_eq!(host, "host-b");
            break;
        }
    }
    assert_eq!(a.system.stats().pending_requests, 0);
    b.system.shutdown().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_authenticate_and_a_wrong_token_is_refused_naming_the_url() {
    let server = NatsServer::start(&["--auth", "s3cret"]);
    let mut config = ClusterConfig::new(server.url(), "host-a", "test");
    config.auth = Auth::Token("wrong".into());
    let refused = NatsTransport::connect(config.clone()).await;
    let text = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains(&server.url()) && text.contains("host-a"),
        "{text}"
    );
    config.auth = Auth::Token("s3cret".into());
    let a = node_with(config).await;
    a.start("echo", "a/echo/1").await;
    assert_eq!(a.ask("a/echo/1", "in").await, "in");
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_nats_server_restarts_hosts_resume_and_nothing_hangs() {
    let mut server = NatsServer::start(&[]);
    let a = node(&server.url(), "host-a").await;
    let b = node(&server.url(), "host-b").await;
    a.start_requester("a/req/1").await;
    b.start("sleeper", "b/sleep/1").await;
    assert_eq!(a.ask("b/sleep/1", "before").await, "before");
    // A request is in flight (the sleeper holds it) when the server goes away.
    let corr = a.ask("a/req/1", "request b/sleep/1 3000 sleep 500").await;
    assert!(corr.starts_with("req-"), "{corr}");
    server.restart();
    // It is answered exactly once: with the reply if the answer got through after the
    // reconnect, or with its timeout.
    let callback = poll(&a, "a/req/1", "callbacks", |c| !c.is_empty()).await;
    assert!(
        callback == format!("{corr}\t-\tslept 500")
            || callback == format!("{corr}\tapplication/vnd.airssys.error\ttimeout"),
        "{callback}"
    );
    // Both hosts reconnected and resubscribed by themselves: traffic flows again.
    let mut reply = None;
    for _ in 0..500 {
        match a
            .system
            .request(&id("b/sleep/1"), b"after".to_vec(), Duration::from_secs(2))
            .await
        {
            Ok(payload) => {
                reply = Some(payload);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert_eq!(reply.as_deref(), Some(&b"after"[..]));
    a.system.wait_idle().await;
    assert_eq!(a.ask("a/req/1", "count").await, "1");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_messages_arrive_in_order_exactly_once() {
    const MESSAGES: u64 = 100_000;
    let server = NatsServer::start(&[]);
    let a = node(&server.url(), "host-a").await;
    let b = node(&server.url(), "host-b").await;
    b.start("sequencer", "b/seq/1").await;
    let target = id("b/seq/1");
    let mut refused = 0u64;
    let mut n = 1;
    while n <= MESSAGES {
        match a
            .system
            .send_anywhere(&target, n.to_string().into_bytes())
            .await
        {
            Ok(()) => n += 1,
            // Backpressure: nothing was queued, so sending the same number again keeps order.
            Err(Error::Delivery {
                source: MessagingError::QueueFull,
                ..
            }) => {
                refused += 1;
                tokio::task::yield_now().await;
            }
            Err(other) => panic!("message {n}: {other}"),
        }
    }
    // The last ones may still be on their way (sent on credit): wait for the count.
    let expected = format!("received={MESSAGES} out-of-order=0 senders=1");
    let report = poll(&b, "b/seq/1", "report", |r| {
        r.starts_with(&format!("received={MESSAGES} "))
    })
    .await;
    assert_eq!(
        report, expected,
        "({refused} sends refused as queue-full and repeated)"
    );
    b.system.wait_idle().await;
    assert_eq!(b.system.stats().dead_letters, 0);
    b.stop().await;
    a.stop().await;
}

/// Retries a host request until it is answered (interest crosses NATS routes a moment after
/// a component starts on another server).
async fn until_reachable(node: &Node, to: &str) {
    for _ in 0..500 {
        if node
            .system
            .request(&id(to), b"hello".to_vec(), Duration::from_secs(2))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{to} never became reachable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_on_different_servers_of_a_nats_cluster_form_one_system() {
    let servers = NatsServer::cluster(3);
    let a = node(&servers[0].url(), "host-a").await;
    let b = node(&servers[1].url(), "host-b").await;
    let c = node(&servers[2].url(), "host-c").await;
    a.start_requester("a/req/1").await;
    b.start("echo", "b/echo/1").await;
    c.start("sequencer", "c/seq/1").await;
    until_reachable(&a, "b/echo/1").await;
    until_reachable(&a, "c/seq/1").await;
    // A request from a component on server 0 to one on server 1, answered as a callback.
    let corr = a.ask("a/req/1", "request b/echo/1 5000 routed").await;
    let callback = poll(&a, "a/req/1", "callbacks", |c| !c.is_empty()).await;
    assert_eq!(callback, format!("{corr}\t-\trouted"));
    // Sends from server 0 to server 2 keep their order.
    for n in 1..=200 {
        assert_eq!(a.ask("a/req/1", &format!("send c/seq/1 {n}")).await, "ok");
    }
    // The sequencer also got the "hello" probes of `until_reachable`, which are not numbers.
    let report = poll(&c, "c/seq/1", "report", |r| r.starts_with("received=200 ")).await;
    assert!(
        report.starts_with("received=200 out-of-order=0 senders=1"),
        "{report}"
    );
    // An id running behind another server is still claimed once.
    let second = c.system.start_component(spec("echo", "b/echo/1")).await;
    assert!(
        matches!(&second, Err(Error::Claimed { reason, .. }) if reason.contains("host-b")),
        "{second:?}"
    );
    c.stop().await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_across_hosts_reaches_every_target_or_none() {
    let server = NatsServer::start(&[]);
    let a = node(&server.url(), "host-a").await;
    let b = node(&server.url(), "host-b").await;
    let grants = Grants {
        messaging: vec![MessagingGrant {
            actions: vec![MessagingAction::Broadcast],
            targets: "**".into(),
        }],
        ..Grants::default()
    };
    a.system
        .start_component(spec("broadcaster", "a/cast/1").with_grants(grants))
        .await
        .unwrap();
    a.start("counter", "a/count/1").await;
    // One slot: a slot held and not given back would refuse every later message.
    b.system
        .start_component(spec("counter", "b/count/1").with_mailbox(1))
        .await
        .unwrap();
    // A far target with a one-slot mailbox, filled while it sleeps, to refuse later.
    b.system
        .start_component(spec("sleeper", "b/sleep/1").with_mailbox(1))
        .await
        .unwrap();
    // Every target here and there gets it.
    assert_eq!(
        a.ask("a/cast/1", "broadcast a/count/1,b/count/1 inc").await,
        "ok"
    );
    // The far one's message may still be on its way (its slot is held): wait for it.
    assert_eq!(a.ask("a/count/1", "get").await, "1");
    assert_eq!(poll(&b, "b/count/1", "get", |c| c == "1").await, "1");
    // A target on another host with no room: nobody gets it, here or there.
    let sleeper = id("b/sleep/1");
    a.system
        .send_anywhere(&sleeper, b"sleep 1500".to_vec())
        .await
        .unwrap();
    while b.system.registry().queued(&sleeper) != Some(0) || b.system.is_idle() {
        tokio::task::yield_now().await;
    }
    a.system
        .send_anywhere(&sleeper, b"fill".to_vec())
        .await
        .unwrap();
    let refused = a
        .ask("a/cast/1", "broadcast a/count/1,b/count/1,b/sleep/1 inc")
        .await;
    assert!(refused.starts_with("err: QueueFull"), "{refused}");
    // The slot held in the far counter's one-slot mailbox was given back: a target that no
    // host runs is what refuses the next one (not the counter's held slot), nothing sent.
    let none = a
        .ask("a/cast/1", "broadcast b/count/1,nowhere/x/1 inc")
        .await;
    assert!(none.starts_with("err: TargetNotFound"), "{none}");
    a.system.wait_idle().await;
    b.system.wait_idle().await;
    assert_eq!(a.ask("a/count/1", "get").await, "1");
    assert_eq!(poll(&b, "b/count/1", "get", |_| true).await, "1");
    // And the counter takes a message again.
    a.system
        .send_anywhere(&id("b/count/1"), b"inc".to_vec())
        .await
        .unwrap();
    assert_eq!(poll(&b, "b/count/1", "get", |c| c == "2").await, "2");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_error_reply_and_target_stopped_across_hosts() {
    let server = NatsServer::start(&[]);
    let a = node(&server.url(), "host-a").await;
    let b = node(&server.url(), "host-b").await;
    a.start_requester("a/req/1").await;
    b.start("sleeper", "b/sleep/1").await;
    b.start("sequencer", "b/seq/1").await;
    // A cancelled request gets no callback; its answer is a late reply on the requester's host.
    let corr = a.ask("a/req/1", "request b/sleep/1 5000 sleep 300").await;
    assert_eq!(a.ask("a/req/1", &format!("cancel {corr}")).await, "ok");
    b.system.wait_idle().await;
    while a.system.router().late_replies() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(a.ask("a/req/1", "count").await, "0");
    // An error returned by the far component is an error-reply callback with its reason.
    let refused = a
        .ask("a/req/1", "request b/seq/1 5000 refuse no stock")
        .await;
    let callback = poll(&a, "a/req/1", "callbacks", |c| !c.is_empty()).await;
    assert_eq!(
        callback,
        format!("{refused}\tapplication/vnd.airssys.error\terror-reply: runtime error: no stock")
    );
    // A request queued behind a long call when its target is stopped: target-stopped. Both
    // are on their way when `request` returns: B has them once it took four messages in
    // all, and one of the two is queued.
    b.system.wait_idle().await;
    let handled_before = b.system.stats().messages_handled;
    let busy = a.ask("a/req/1", "request b/sleep/1 60000 sleep 1000").await;
    let queued = a.ask("a/req/1", "request b/sleep/1 60000 second").await;
    while b.transport.stats().received < 4
        || b.system.registry().queued(&id("b/sleep/1")) != Some(1)
    {
        tokio::task::yield_now().await;
    }
    b.system.stop_component(&id("b/sleep/1")).await.unwrap();
    let all = poll(&a, "a/req/1", "count", |c| c == "3").await;
    assert_eq!(all, "3");
    let lines = a.ask("a/req/1", "callbacks").await;
    assert!(
        lines
            .lines()
            .any(|l| l == format!("{queued}\tapplication/vnd.airssys.error\ttarget-stopped")),
        "{lines}"
    );
    // The call in hand finished before the stop took effect: its reply came. (B counts a
    // message as taken in before it is in the mailbox, so the first may rarely still be
    // queued when the stop comes: then it was not handled, and it too is target-stopped.)
    let busy_handled = b.system.stats().messages_handled > handled_before;
    let busy_answer = if busy_handled {
        format!("{busy}\t-\tslept 1000")
    } else {
        format!("{busy}\tapplication/vnd.airssys.error\ttarget-stopped")
    };
    assert!(lines.lines().any(|l| l == busy_answer), "{lines}");
    a.system.wait_idle().await;
    assert_eq!(a.system.stats().pending_requests, 0);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_comes_back_is_reachable_again() {
    let server = NatsServer::start(&["--user", "edge", "--pass", "p4ss"]);
    let mut config = ClusterConfig::new(server.url(), "host-a", "test");
    config.lease = Duration::from_secs(2);
    config.auth = Auth::UserPassword {
        user: "edge".into(),
        password: "p4ss".into(),
    };
    let a = node_with(config.clone()).await;
    let b_config = ClusterConfig {
        host: "host-b".into(),
        ..config.clone()
    };
    let mut events = a.system.events();
    let b = node_with(b_config.clone()).await;
    b.start("echo", "b/echo/1").await;
    assert_eq!(a.ask("b/echo/1", "first").await, "first");
    b.stop().await;
    let gone = a
        .system
        .request(
            &id("b/echo/1"),
            b"while away".to_vec(),
            Duration::from_secs(2),
        )
        .await;
    assert!(
        matches!(
            &gone,
            Err(Error::Delivery {
                source: MessagingError::TargetNotFound(_),
                ..
            })
        ),
        "{gone:?}"
    );
    // The same host starts again with the same component: reachable again, announced again.
    let b = node_with(b_config).await;
    b.start("echo", "b/echo/1").await;
    assert_eq!(a.ask("b/echo/1", "back").await, "back");
    let mut ups = 0;
    let mut downs = 0;
    while ups < 2 {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Ok(SystemEvent::HostUp { host })) if host == "host-b" => ups += 1,
            Ok(Ok(SystemEvent::HostDown { host, .. })) if host == "host-b" => downs += 1,
            Ok(_) => {}
            Err(_) => panic!("host-b was announced {ups} times"),
        }
    }
    assert_eq!(downs, 1);
    // The wrong password is refused, naming the server.
    let mut wrong = config;
    wrong.host = "host-c".into();
    wrong.auth = Auth::UserPassword {
        user: "edge".into(),
        password: "nope".into(),
    };
    let refused = NatsTransport::connect(wrong)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(refused.is_some_and(|e| e.contains(&server.url())));
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_authenticates_with_an_nkey_and_a_stranger_is_refused() {
    let user = nkeys::KeyPair::new_user();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nats.conf");
    std::fs::write(
        &conf,
        format!(
            "authorization {{ users = [ {{ nkey: \"{}\" }} ] }}\n",
            user.public_key()
        ),
    )
    .unwrap();
    let server = NatsServer::start(&["-c", conf.to_str().unwrap()]);
    let mut config = ClusterConfig::new(server.url(), "host-a", "test");
    config.auth = Auth::Nkey(user.seed().unwrap());
    let a = node_with(config.clone()).await;
    a.start("echo", "a/echo/1").await;
    assert_eq!(a.ask("a/echo/1", "signed").await, "signed");
    // Another key, and no key at all, are refused.
    config.host = "host-b".into();
    config.auth = Auth::Nkey(nkeys::KeyPair::new_user().seed().unwrap());
    assert!(NatsTransport::connect(config.clone()).await.is_err());
    config.auth = Auth::None;
    let refused = NatsTransport::connect(config)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(refused.is_some_and(|e| e.contains("host-b")));
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_forty_thousand_components_is_seen_whole_by_its_peers() {
    use futures_util::StreamExt;
    use wasm_actor::RemoteLink;

    const IDS: usize = 40_000;
    let server = NatsServer::start(&[]);
    let a = node(&server.url(), "host-a").await;
    let b = node(&server.url(), "host-b").await;
    for k in 0..10 {
        a.start("echo", &format!("big/echo/{k}")).await;
    }
    // 40,000 ids more, claimed and announced by A's transport as its actor system does for a
    // component it starts (that many live instances would need a pool and a
    // `vm.max_map_count` raised past this machine's default).
    let started = std::time::Instant::now();
    let transport = a.transport.clone();
    futures_util::stream::iter(0..IDS)
        .map(|k| {
            let transport = transport.clone();
            async move {
                let id = id(&format!("big/idle/{k}"));
                transport.register(&id).await.unwrap();
                transport.announce(wasm_core::ComponentInfo {
                    id,
                    name: "idle".into(),
                    version: "1.0.0".into(),
                    health: "healthy".into(),
                });
            }
        })
        .buffer_unordered(256)
        .collect::<Vec<()>>()
        .await;
    eprintln!("{IDS} ids claimed in {:?}", started.elapsed());
    // B sees every one through `list-components`, and reaches the live ones.
    b.system
        .start_component(
            spec("logger", "b/log/1").with_grants(Grants::default().with_discover("big/**")),
        )
        .await
        .unwrap();
    let listed = poll(&b, "b/log/1", "list", |l| l.split(',').count() == IDS + 10).await;
    assert!(listed.contains("big/idle/39999") && listed.contains("big/echo/9"));
    for k in 0..10 {
        let to = format!("big/echo/{k}");
        assert_eq!(b.ask(&to, "hi").await, "hi");
    }
    // A host that joins now reads the whole directory before it serves.
    let started = std::time::Instant::now();
    let c = node(&server.url(), "host-c").await;
    eprintln!(
        "a host joined a cluster of {} ids in {:?}",
        IDS + 10,
        started.elapsed()
    );
    c.system
        .start_component(
            spec("logger", "c/log/1").with_grants(Grants::default().with_discover("big/**")),
        )
        .await
        .unwrap();
    let listed = c.ask("c/log/1", "list").await;
    assert_eq!(listed.split(',').count(), IDS + 10);
    assert_eq!(c.ask("big/echo/3", "there").await, "there");
    // A's lease held all along: its peers see it live.
    assert_eq!(b.transport.peers(), ["host-a", "host-c"]);
    c.stop().await;
    b.stop().await;
    a.stop().await;
}
