//! Cluster storage on a real nats-server: a component's writes survive its host, are stored
//! whole or not at all, and an owner that was taken over cannot write any more.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use test_fixtures::NatsServer;
use wasm_cluster::{ClusterConfig, ClusterStorage, Error, NatsTransport};
use wasm_core::{ComponentId, StorageBackend, StorageError, StorageQuota, WriteSet};

fn id(text: &str) -> ComponentId {
    text.parse().expect("component id")
}

async fn host(url: &str, name: &str) -> (NatsTransport, ClusterStorage) {
    let mut config = ClusterConfig::new(url, name, "test");
    config.lease = Duration::from_secs(2);
    let transport = NatsTransport::connect(config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let storage = transport.storage().await.unwrap_or_else(|e| panic!("{e}"));
    (transport, storage)
}

fn writes(to: &ComponentId, puts: &[(&str, Option<&str>)]) -> WriteSet {
    let mut set = WriteSet::new(to.clone());
    for (key, value) in puts {
        set.put(*key, value.map(|v| v.as_bytes().to_vec()));
    }
    set
}

fn get(storage: &ClusterStorage, of: &ComponentId, key: &str) -> Option<String> {
    storage
        .get(of, key)
        .unwrap()
        .map(|v| String::from_utf8(v).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_is_found_by_the_next_owner_on_another_host() {
    let server = NatsServer::start(&[]);
    let (a, on_a) = host(&server.url(), "host-a").await;
    let (b, on_b) = host(&server.url(), "host-b").await;
    let counter = id("app/counter/1");
    on_a.take(&counter, 1).await.unwrap();
    // Past two snapshots (one every 64 calls): the next owner reads a snapshot and the
    // calls after it.
    for n in 1..=150 {
        let count = n.to_string();
        on_a.commit(writes(
            &counter,
            &[("count", Some(&count)), (&format!("seen/{n}"), Some("y"))],
        ))
        .await
        .unwrap();
        // Read back at once, from this host's copy.
        assert_eq!(
            get(&on_a, &counter, "count").as_deref(),
            Some(count.as_str())
        );
    }
    on_a.commit(writes(&counter, &[("seen/7", None)]))
        .await
        .unwrap();
    assert_eq!(get(&on_a, &counter, "seen/7"), None);
    // Host B takes the component over: its copy is current before its first call.
    on_b.take(&counter, 2).await.unwrap();
    assert_eq!(get(&on_b, &counter, "count").as_deref(), Some("150"));
    assert_eq!(on_b.list_keys(&counter, Some("seen/")).unwrap().len(), 149);
    assert_eq!(get(&on_b, &counter, "seen/7"), None);
    let usage = on_b.usage(&counter, &StorageQuota::default()).unwrap();
    assert_eq!(usage.key_count, 150);
    // A component this host does not hold is refused by name.
    let stranger = on_b.get(&id("app/other/1"), "count");
    assert!(
        matches!(&stranger, Err(StorageError::IoError(text)) if text.contains("app/other/1")),
        "{stranger:?}"
    );
    b.close().await;
    a.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_taken_over_stores_nothing_of_its_next_call() {
    let server = NatsServer::start(&[]);
    let (a, on_a) = host(&server.url(), "host-a").await;
    let (b, on_b) = host(&server.url(), "host-b").await;
    let counter = id("app/counter/1");
    on_a.take(&counter, 5).await.unwrap();
    on_a.commit(writes(&counter, &[("count", Some("1"))]))
        .await
        .unwrap();
    on_b.take(&counter, 9).await.unwrap();
    // A (paused, say) resumes and commits a call of many keys: none of them is stored,
    // because the batch's last message finds the fence moved.
    let puts: Vec<(String, Option<&str>)> =
        (0..20).map(|k| (format!("late/{k}"), Some("x"))).collect();
    let puts: Vec<(&str, Option<&str>)> = puts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let mut late = writes(&counter, &puts);
    late.put("count", Some(b"999".to_vec()));
    let refused = on_a.commit(late).await;
    assert!(
        matches!(&refused, Err(StorageError::IoError(text)) if text.contains("taken over")),
        "{refused:?}"
    );
    on_b.commit(writes(&counter, &[("count", Some("2"))]))
        .await
        .unwrap();
    // A third owner reads what the server holds: B's write, nothing of A's refused call.
    let (c, on_c) = host(&server.url(), "host-c").await;
    on_c.take(&counter, 12).await.unwrap();
    assert_eq!(get(&on_c, &counter, "count").as_deref(), Some("2"));
    assert!(on_c.list_keys(&counter, Some("late/")).unwrap().is_empty());
    // And an older epoch cannot take the storage back.
    let stale = on_a.take(&counter, 5).await;
    assert!(
        matches!(
            &stale,
            Err(Error::Fenced {
                holder: 12,
                epoch: 5,
                ..
            })
        ),
        "{stale:?}"
    );
    c.close().await;
    b.close().await;
    a.close().await;
}

mod components {
    //! The same with real components: a counter's count survives the host it ran on.
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use test_fixtures::{NatsServer, fixture};
    use wasm_actor::{ActorSystem, ComponentSpec, SystemConfig};
    use wasm_cluster::{ClusterConfig, NatsTransport};
    use wasm_core::ComponentId;
    use wasm_runtime::{EngineConfig, WasmEngine};

    fn engine() -> WasmEngine {
        static ENGINE: OnceLock<WasmEngine> = OnceLock::new();
        ENGINE
            .get_or_init(|| WasmEngine::new(EngineConfig::default()).expect("engine"))
            .clone()
    }

    fn counter(at: &str) -> ComponentSpec {
        let component = engine()
            .loader()
            .load_bytes("counter", &fixture("counter"))
            .unwrap_or_else(|e| panic!("loading counter: {e}"));
        let grants = wasm_security::Grants::default().with_storage(wasm_security::StorageGrant {
            read: true,
            write: true,
            delete: true,
            quota: wasm_core::StorageQuota::default(),
        });
        ComponentSpec::new(at.parse().expect("component id"), component).with_grants(grants)
    }

    struct Node {
        system: ActorSystem,
        transport: NatsTransport,
    }

    async fn node(url: &str, host: &str) -> Node {
        let mut config = ClusterConfig::new(url, host, "test");
        config.lease = Duration::from_secs(2);
        let transport = NatsTransport::connect(config)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let storage = transport.storage().await.unwrap_or_else(|e| panic!("{e}"));
        let system = ActorSystem::with_remote(
            engine(),
            Arc::new(storage),
            SystemConfig::default(),
            Arc::new(transport.clone()),
        );
        Node { system, transport }
    }

    impl Node {
        async fn ask(&self, to: &ComponentId, command: &str) -> String {
            let reply = self
                .system
                .request(to, command.as_bytes().to_vec(), Duration::from_secs(10))
                .await
                .unwrap_or_else(|e| panic!("{to} {command}: {e:?}"));
            String::from_utf8(reply).expect("utf-8 reply")
        }

        async fn stop(self) {
            self.system.shutdown().await;
            self.transport.close().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_counter_moved_to_another_host_keeps_every_count_it_replied() {
        let server = NatsServer::start(&[]);
        let a = node(&server.url(), "host-a").await;
        let b = node(&server.url(), "host-b").await;
        let at: ComponentId = "app/counter/1".parse().unwrap();
        a.system
            .start_component(counter("app/counter/1"))
            .await
            .unwrap();
        for n in 1..=30 {
            assert_eq!(a.ask(&at, "inc").await, n.to_string());
        }
        // Running on A, it cannot start on B (its id is A's)...
        assert!(
            b.system
                .start_component(counter("app/counter/1"))
                .await
                .is_err()
        );
        // ...and once A stops it, B starts it with its storage: `initialize` loads 30.
        a.system.stop_component(&at).await.unwrap();
        b.system
            .start_component(counter("app/counter/1"))
            .await
            .unwrap();
        assert_eq!(b.ask(&at, "get").await, "30");
        assert_eq!(b.ask(&at, "inc").await, "31");
        assert_eq!(b.ask(&at, "load").await, "31");
        // A asks it across hosts, where it runs now.
        assert_eq!(a.ask(&at, "inc").await, "32");
        b.stop().await;
        a.stop().await;
    }
}
