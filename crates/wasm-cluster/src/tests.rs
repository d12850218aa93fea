//! The wire protocol against a real host: a raw peer (a NATS client that writes its own
//! lease record and speaks in frames) sends to a host that runs real components. It can do
//! what a well-behaved transport never does: send again, skip, and speak for others.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use test_fixtures::{NatsServer, fixture};
use wasm_actor::{ActorSystem, ComponentSpec, SystemConfig, SystemEvent};
use wasm_core::{ComponentId, ComponentMessage, MessageMetadata};
use wasm_runtime::{EngineConfig, MemoryStorage, WasmEngine};

use crate::frame::{Bundle, Frame, Received, WireMsg, decode};
use crate::records::HostRecord;
use crate::subject::{Names, host_key};
use crate::{ClusterConfig, NatsTransport};

fn id(text: &str) -> ComponentId {
    text.parse().unwrap()
}

struct Host {
    system: ActorSystem,
    transport: NatsTransport,
}

/// One engine for every host of the tests (a component runs on the engine it was loaded on).
fn engine() -> WasmEngine {
    static ENGINE: std::sync::OnceLock<WasmEngine> = std::sync::OnceLock::new();
    ENGINE
        .get_or_init(|| WasmEngine::new(EngineConfig::default()).unwrap())
        .clone()
}

async fn host(url: &str, name: &str, components: &[(&str, &str)]) -> Host {
    let engine = engine();
    let transport = NatsTransport::connect(ClusterConfig::new(url, name, "raw"))
        .await
        .unwrap();
    let system = ActorSystem::with_remote(
        engine.clone(),
        Arc::new(MemoryStorage::new()),
        SystemConfig::default(),
        Arc::new(transport.clone()),
    );
    for (fixture_name, at) in components {
        let code = engine
            .loader()
            .load_bytes(fixture_name, &fixture(fixture_name))
            .unwrap();
        system
            .start_component(ComponentSpec::new(id(at), code))
            .await
            .unwrap();
    }
    Host { system, transport }
}

impl Host {
    async fn ask(&self, to: &str, command: &str) -> String {
        let reply = self
            .system
            .request(
                &id(to),
                command.as_bytes().to_vec(),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        String::from_utf8(reply).unwrap()
    }

    async fn stop(self) {
        self.system.shutdown().await;
        self.transport.close().await;
    }
}

/// A member of cluster `raw` that is no airssys host: it holds a lease record and speaks in
/// frames by hand.
struct RawPeer {
    client: async_nats::Client,
    names: Names,
    host: String,
    incarnation: u64,
    inbox: async_nats::Subscriber,
}

impl RawPeer {
    async fn join(url: &str, host: &str) -> Self {
        let client = async_nats::connect(url).await.unwrap();
        let names = Names::new("raw");
        let incarnation = 0x5eed;
        let inbox = client
            .subscribe(names.inbox(host, incarnation))
            .await
            .unwrap();
        let js = async_nats::jetstream::new(client.clone());
        let hosts = js.get_key_value(names.hosts_bucket()).await.unwrap();
        let record = HostRecord {
            incarnation,
            lease_ms: 60_000,
            pid: 1,
            machine: "test".into(),
            since_ms: 0,
            labels: Default::default(),
            places: false,
        };
        hosts
            .put(host_key(host), record.encode().into())
            .await
            .unwrap();
        Self {
            client,
            names,
            host: host.into(),
            incarnation,
            inbox,
        }
    }

    /// Publishes a bundle of `frames` to `to`'s inbox, as this peer or as `(host, incarnation)`.
    async fn send(&self, to: &Host, frames: &[Frame], as_whom: Option<(&str, u64)>) {
        let (host, incarnation) = as_whom.unwrap_or((&self.host, self.incarnation));
        let mut bundle = Bundle::new(host, incarnation);
        for frame in frames {
            bundle.push(frame);
        }
        let subject = self
            .names
            .inbox(to.transport.host(), to.transport.incarnation());
        self.client
            .publish(subject, bundle.take().into())
            .await
            .unwrap();
        self.client.flush().await.unwrap();
    }

    /// The next frame that comes to this peer's inbox.
    async fn next(&mut self) -> Frame {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.inbox.next())
                .await
                .expect("a frame within 10 s")
                .unwrap();
            let Received { frames, .. } = decode(&message.payload).unwrap();
            if let Some(frame) = frames.into_iter().flatten().next() {
                return frame;
            }
        }
    }

    /// Asks `to` for a window for `target`; returns its id and limit.
    async fn window(&mut self, to: &Host, target: &str) -> (u64, u64) {
        let epoch = to.transport.inner.owned.lock()[&id(target)].epoch;
        self.send(
            to,
            &[Frame::Ask {
                ask: 1,
                target: id(target),
                epoch,
                want: 64,
            }],
            None,
        )
        .await;
        match self.next().await {
            Frame::Grant {
                ask: 1,
                window,
                limit,
                ..
            } => (window, limit),
            other => panic!("no grant: {other:?}"),
        }
    }
}

fn message(sender: &str, payload: &str) -> WireMsg {
    WireMsg {
        message: ComponentMessage {
            sender: id(sender),
            payload: payload.as_bytes().to_vec(),
            metadata: MessageMetadata::default(),
        },
        deadline_ms: None,
    }
}

fn data(window: u64, target: &str, first_seq: u64, payloads: &[&str]) -> Frame {
    Frame::Data {
        window,
        target: id(target),
        first_seq,
        messages: payloads
            .iter()
            .map(|p| message("host/embedder/0", p))
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_takes_each_message_once_and_in_order_whatever_is_sent_again() {
    let server = NatsServer::start(&[]);
    let b = host(&server.url(), "host-b", &[("sequencer", "b/seq/1")]).await;
    let mut raw = RawPeer::join(&server.url(), "raw-1").await;
    let (window, limit) = raw.window(&b, "b/seq/1").await;
    assert!(limit >= 5, "{limit}");
    // 1 and 2 arrive; 4 and 5 come with 3 missing: they are not taken.
    raw.send(&b, &[data(window, "b/seq/1", 1, &["1", "2"])], None)
        .await;
    raw.send(&b, &[data(window, "b/seq/1", 4, &["4", "5"])], None)
        .await;
    // Everything from 1 is sent again: 3, 4 and 5 are taken once, 1 and 2 not again.
    raw.send(
        &b,
        &[data(window, "b/seq/1", 1, &["1", "2", "3", "4", "5"])],
        None,
    )
    .await;
    let mut received = 0;
    while received < 5 {
        if let Frame::Ack {
            window: acked,
            received: r,
            ..
        } = raw.next().await
        {
            assert_eq!(acked, window);
            received = r;
        }
    }
    b.system.wait_idle().await;
    assert_eq!(
        b.ask("b/seq/1", "report").await,
        "received=5 out-of-order=0 senders=1"
    );
    assert_eq!(b.transport.stats().received, 5);
    assert_eq!(b.transport.stats().duplicates, 2);
    // Given back: the window's held slots are free again, and it is forgotten once done.
    raw.send(&b, &[Frame::Return { window, last: 5 }], None)
        .await;
    loop {
        if let Frame::Ack { done: 5, .. } = raw.next().await {
            break;
        }
    }
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_cannot_speak_for_another_hosts_component_and_strangers_are_not_heard() {
    let server = NatsServer::start(&[]);
    let b = host(&server.url(), "host-b", &[("counter", "b/count/1")]).await;
    let c = host(&server.url(), "host-c", &[("echo", "c/echo/1")]).await;
    let mut raw = RawPeer::join(&server.url(), "raw-1").await;
    let mut events = b.system.events();
    let (window, _) = raw.window(&b, "b/count/1").await;
    // As C's component: refused, reported on B naming both hosts, nothing counted.
    let forged = Frame::Data {
        window,
        target: id("b/count/1"),
        first_seq: 1,
        messages: vec![message("c/echo/1", "inc")],
    };
    raw.send(&b, &[forged], None).await;
    let reason = loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Ok(SystemEvent::DeadLetter { reason, .. })) => break reason,
            Ok(_) => {}
            Err(_) => panic!("no dead letter for the forged message"),
        }
    };
    assert!(
        reason.contains("raw-1") && reason.contains("host-c"),
        "{reason}"
    );
    // A bundle from an incarnation no host holds, and one that is no bundle: not heard.
    raw.send(
        &b,
        &[data(window, "b/count/1", 2, &["inc"])],
        Some(("raw-1", 0xbad)),
    )
    .await;
    raw.client
        .publish(
            raw.names.inbox("host-b", b.transport.incarnation()),
            "garbage".into(),
        )
        .await
        .unwrap();
    // As its own embedder, on the same window: taken.
    raw.send(&b, &[data(window, "b/count/1", 2, &["inc"])], None)
        .await;
    loop {
        if let Frame::Ack { received: 2, .. } = raw.next().await {
            break;
        }
    }
    b.system.wait_idle().await;
    assert_eq!(b.ask("b/count/1", "get").await, "1");
    let stats = b.transport.stats();
    assert_eq!((stats.forged, stats.received), (2, 2), "{stats:?}");
    c.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_hold_that_is_never_filled_lapses() {
    let server = NatsServer::start(&[]);
    let engine = engine();
    let b = host(&server.url(), "host-b", &[]).await;
    let code = engine
        .loader()
        .load_bytes("counter", &fixture("counter"))
        .unwrap();
    b.system
        .start_component(ComponentSpec::new(id("b/count/1"), code).with_mailbox(1))
        .await
        .unwrap();
    let mut raw = RawPeer::join(&server.url(), "raw-1").await;
    let epoch = b.transport.inner.owned.lock()[&id("b/count/1")].epoch;
    raw.send(
        &b,
        &[Frame::Reserve {
            rid: 7,
            target: id("b/count/1"),
            epoch,
        }],
        None,
    )
    .await;
    assert!(matches!(
        raw.next().await,
        Frame::Reserved {
            rid: 7,
            code: crate::frame::Code::Ok,
            ..
        }
    ));
    // The one slot is held: B's own sender finds the mailbox full.
    assert!(b.system.send(&id("b/count/1"), b"inc".to_vec()).is_err());
    assert_eq!(b.transport.stats().held, 1);
    // Never filled nor given back: the hold lapses, and the slot is B's again.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while b.system.send(&id("b/count/1"), b"inc".to_vec()).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the hold never lapsed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(b.transport.stats().held, 0);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_from_a_host_that_was_not_asked_is_dropped() {
    let server = NatsServer::start(&[]);
    let engine = engine();
    let a = host(&server.url(), "host-a", &[]).await;
    let b = host(&server.url(), "host-b", &[("sleeper", "b/sleep/1")]).await;
    let code = engine
        .loader()
        .load_bytes("requester", &fixture("requester"))
        .unwrap();
    let grants = wasm_security::Grants::default()
        .with_messaging(&[wasm_security::MessagingAction::Request], "**");
    a.system
        .start_component(ComponentSpec::new(id("a/req/1"), code).with_grants(grants))
        .await
        .unwrap();
    let raw = RawPeer::join(&server.url(), "raw-1").await;
    let correlation = a.ask("a/req/1", "request b/sleep/1 10000 sleep 300").await;
    // Another member answers first, for a request it was never sent: dropped.
    raw.send(
        &a,
        &[Frame::Answer {
            incarnation: a.transport.incarnation(),
            correlation: wasm_core::CorrelationId::new(correlation.clone()),
            outcome: Ok(b"forged".to_vec()),
        }],
        None,
    )
    .await;
    let mut callbacks = String::new();
    for _ in 0..500 {
        callbacks = a.ask("a/req/1", "callbacks").await;
        if !callbacks.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(callbacks, format!("{correlation}\t-\tslept 300"));
    assert_eq!(a.transport.stats().misrouted, 1);
    b.stop().await;
    a.stop().await;
}
