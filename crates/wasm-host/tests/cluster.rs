//! Two hosts built from manifests with a `[cluster]` section, on a real nats-server: a
//! request and a send from one reach a component of the other, and ids are claimed once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use test_fixtures::{NatsServer, fixture_path};
use wasm_host::{ComponentId, Error, Host, HostBuilder};

fn id(text: &str) -> ComponentId {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

fn manifest(dir: &Path, url: &str, host: &str, component: &str, fixture: &str) -> PathBuf {
    let text = format!(
        r#"
[cluster]
url = "{url}"
host = "{host}"
name = "orders"
heartbeat_ms = 100

[[components]]
id = "{component}"
path = "{path}"
"#,
        path = fixture_path(fixture).display()
    );
    let path = dir.join(format!("{host}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_from_manifests_reach_each_others_components() {
    let server = NatsServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = Host::from_manifest_file(manifest(
        dir.path(),
        &server.url(),
        "edge-1",
        "orders/echo/1",
        "echo",
    ))
    .await
    .unwrap();
    let (b, _) = Host::from_manifest_file(manifest(
        dir.path(),
        &server.url(),
        "edge-2",
        "orders/count/1",
        "counter",
    ))
    .await
    .unwrap();
    assert_eq!(a.cluster_host(), Some("edge-1"));
    assert_eq!(
        b.request(&id("orders/echo/1"), "ping").await.unwrap(),
        b"ping"
    );
    a.send_anywhere(&id("orders/count/1"), "inc").await.unwrap();
    b.wait_idle().await;
    assert_eq!(a.request(&id("orders/count/1"), "get").await.unwrap(), b"1");
    // The immediate send reaches only this host's components.
    assert!(a.send(&id("orders/count/1"), "inc").is_err());
    // A third host with an id that runs elsewhere does not start, naming the owner.
    let third = Host::from_manifest_file(manifest(
        dir.path(),
        &server.url(),
        "edge-3",
        "orders/echo/1",
        "echo",
    ))
    .await;
    let text = third.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("orders/echo/1") && text.contains("edge-1"),
        "{text}"
    );
    // A builder with a cluster must join it: `build` says so.
    let refused = HostBuilder::new()
        .cluster(wasm_host::ClusterConfig::new(
            server.url(),
            "edge-9",
            "orders",
        ))
        .build();
    assert!(
        matches!(refused, Err(Error::NeedsConnect { .. })),
        "{refused:?}"
    );
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}
