//! Events (started, capability denied), restarts without recompilation, and the remote
//! transport seam with a small test transport.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{ask, id, spec, talk_to_all, wait_for};
use parking_lot::Mutex;
use wasm_actor::{
    ActorSystem, Claim, ComponentSpec, Error, LocalPush, RemoteLink, RemoteTransport, Router,
    SystemConfig, SystemEvent,
};
use wasm_core::{ComponentId, ComponentMessage, ErrorCallback, MessagingError, Routed};
use wasm_runtime::{EngineConfig, MemoryStorage, WasmEngine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_and_capability_denied_events_are_published() {
    let system = common::system();
    let mut events = system.events();
    system
        .start_component(spec("intruder", "ev/i/1"))
        .await
        .unwrap();
    let started = wait_for(&mut events, "start", |e| {
        matches!(e, SystemEvent::Started { .. })
    })
    .await;
    assert_eq!(started, SystemEvent::Started { id: id("ev/i/1") });
    let reply = ask(&system, "ev/i/1", "send ev/other/1").await;
    assert!(reply.starts_with("denied"), "{reply}");
    let denied = wait_for(&mut events, "denial", |e| {
        matches!(e, SystemEvent::CapabilityDenied { .. })
    })
    .await;
    match denied {
        SystemEvent::CapabilityDenied {
            component,
            capability,
            resource,
        } => {
            assert_eq!(component, id("ev/i/1"));
            assert_eq!(capability, "messaging.send");
            assert!(resource.contains("ev/other/1"), "{resource}");
        }
        other => panic!("{other:?}"),
    }
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reinstantiates_without_recompiling() {
    // An engine of its own, so no other test's loads move its counters.
    let engine = WasmEngine::new(EngineConfig::default()).unwrap();
    let panicker = engine
        .loader()
        .load_bytes("panicker", &test_fixtures::fixture("panicker"))
        .unwrap();
    let system = ActorSystem::new(
        engine.clone(),
        Arc::new(MemoryStorage::new()),
        SystemConfig::default(),
    );
    let mut events = system.events();
    system
        .start_component(ComponentSpec::new(id("rc/p/1"), panicker))
        .await
        .unwrap();
    let before = engine.cache_stats();
    assert_eq!(before.compiled, 1);
    for _ in 0..3 {
        let _ = system
            .request(&id("rc/p/1"), b"panic".to_vec(), Duration::from_secs(10))
            .await;
        wait_for(&mut events, "restart", |e| {
            matches!(e, SystemEvent::Restarted { .. })
        })
        .await;
    }
    assert_eq!(ask(&system, "rc/p/1", "x").await, "handled 1");
    assert_eq!(engine.cache_stats(), before);
    system.shutdown().await;
}

/// Records what it is asked to deliver; `absent` ids get `target-not-found`. Sends are
/// decided at once, requests later (as a round trip to another host would be).
#[derive(Debug, Default)]
struct TestTransport {
    delivered: Arc<Mutex<Vec<(ComponentId, ComponentMessage)>>>,
    registered: Mutex<Vec<ComponentId>>,
}

impl TestTransport {
    fn record(&self, to: &ComponentId, message: ComponentMessage) -> Result<(), MessagingError> {
        record(&self.delivered, to, message)
    }
}

fn record(
    delivered: &Mutex<Vec<(ComponentId, ComponentMessage)>>,
    to: &ComponentId,
    message: ComponentMessage,
) -> Result<(), MessagingError> {
    if to.to_string().contains("absent") {
        return Err(MessagingError::TargetNotFound(to.clone()));
    }
    delivered.lock().push((to.clone(), message));
    Ok(())
}

impl RemoteTransport for TestTransport {
    fn attach(&self, router: Router) {
        // No lease to keep: this host may serve for as long as the test runs.
        router.serve_until(std::time::Instant::now() + Duration::from_secs(3600));
    }
}

impl RemoteLink for TestTransport {
    fn send(&self, to: &ComponentId, message: ComponentMessage) -> Routed<()> {
        Routed::Done(self.record(to, message))
    }

    fn request(
        &self,
        to: &ComponentId,
        message: ComponentMessage,
        _timeout: Duration,
    ) -> Routed<()> {
        let delivered = self.delivered.clone();
        let to = to.clone();
        Routed::Later(Box::pin(async move {
            tokio::task::yield_now().await;
            record(&delivered, &to, message)
        }))
    }

    fn broadcast(
        &self,
        targets: &[ComponentId],
        _message: ComponentMessage,
        _local: LocalPush,
    ) -> Routed<()> {
        Routed::Done(Err(MessagingError::TargetNotFound(targets[0].clone())))
    }

    fn register(&self, id: &ComponentId) -> Claim {
        let result = if id.to_string().contains("taken") {
            Err(format!("{id} runs on host other-host"))
        } else {
            self.registered.lock().push(id.clone());
            Ok(())
        };
        Box::pin(async move { result })
    }

    fn announce(&self, _info: wasm_core::ComponentInfo) {}

    fn unregister(&self, id: &ComponentId) {
        self.registered.lock().retain(|r| r != id);
    }

    fn components(&self) -> Vec<ComponentId> {
        Vec::new()
    }

    fn info(&self, _id: &ComponentId) -> Option<wasm_core::ComponentInfo> {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_transport_gets_only_unknown_ids_and_pending_remote_requests_end_at_shutdown() {
    let transport = Arc::new(TestTransport::default());
    let system = ActorSystem::with_remote(
        common::engine(),
        Arc::new(MemoryStorage::new()),
        SystemConfig::default(),
        transport.clone(),
    );
    system
        .start_component(spec("requester", "rt/a/1").with_grants(talk_to_all()))
        .await
        .unwrap();
    system
        .start_component(spec("echo", "rt/echo/1"))
        .await
        .unwrap();
    // Each registered id is claimed in the cluster; a claim refused is an error naming it.
    assert_eq!(
        *transport.registered.lock(),
        vec![id("rt/a/1"), id("rt/echo/1")]
    );
    let claimed = system.start_component(spec("echo", "rt/taken/1")).await;
    assert!(
        matches!(&claimed, Err(Error::Claimed { component, reason })
            if component == &id("rt/taken/1") && reason.contains("other-host")),
        "{claimed:?}"
    );
    assert!(!system.registry().contains(&id("rt/taken/1")));
    // Local traffic never reaches the transport.
    assert_eq!(ask(&system, "rt/a/1", "send rt/echo/1 hi").await, "ok");
    assert!(
        !ask(&system, "rt/a/1", "request rt/echo/1 5000 hi")
            .await
            .is_empty()
    );
    system.wait_idle().await;
    assert!(transport.delivered.lock().is_empty());
    // An id not registered here goes to the transport, with its correlation metadata.
    assert_eq!(ask(&system, "rt/a/1", "send far/b/1 over").await, "ok");
    let corr = ask(&system, "rt/a/1", "request far/b/1 60000 q").await;
    let absent = ask(&system, "rt/a/1", "send far/absent/1 x").await;
    assert!(absent.starts_with("err: TargetNotFound"), "{absent}");
    {
        let delivered = transport.delivered.lock();
        assert_eq!(delivered.len(), 2);
        assert_eq!(delivered[0].0, id("far/b/1"));
        assert_eq!(delivered[0].1.payload, b"over");
        assert_eq!(
            delivered[1]
                .1
                .metadata
                .correlation_id
                .as_ref()
                .map(|c| c.as_str()),
            Some(corr.as_str())
        );
        assert_eq!(delivered[1].1.metadata.reply_to, Some(id("rt/a/1")));
    }
    // A host request to a remote id is pending until shutdown answers it.
    let far = id("far/b/1");
    let host = system.request(&far, b"q".to_vec(), Duration::from_secs(600));
    let (outcome, ()) = tokio::join!(host, async {
        while system.stats().pending_requests < 2 {
            tokio::task::yield_now().await;
        }
        system.shutdown().await;
    });
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
    assert_eq!(system.stats().pending_requests, 0);
}
