//! What deploying rests on, on a real nats-server: the code store (named by digest, checked
//! on fetch), the applications bucket, and the view of hosts with their labels.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use test_fixtures::NatsServer;
use wasm_cluster::deploy::{ClusterClient, digest};
use wasm_cluster::{ClusterConfig, Error, NatsTransport};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_is_kept_by_digest_and_refused_when_it_does_not_match() {
    let server = NatsServer::start(&[]);
    let client = ClusterClient::connect(ClusterConfig::new(server.url(), "deployer", "t"))
        .await
        .unwrap();
    let code = client.code().await.unwrap();
    let bytes = vec![7u8; 300_000];
    let name = code.put(&bytes).await.unwrap();
    assert_eq!(name, digest(&bytes));
    assert!(code.has(&name).await);
    // Put again: the same name, nothing sent twice.
    assert_eq!(code.put(&bytes).await.unwrap(), name);
    assert_eq!(code.get(&name).await.unwrap(), bytes);
    // Bytes stored under another digest are refused, naming both.
    let forged = format!("sha256:{}", "cd".repeat(32));
    code.put_unchecked(&forged, b"not the code").await.unwrap();
    let refused = code.get(&forged).await.unwrap_err();
    assert!(matches!(refused, Error::Code { .. }));
    let text = refused.to_string();
    assert!(
        text.contains(&forged) && text.contains(&digest(b"not the code")),
        "{text}"
    );
    // Unknown and malformed digests are named.
    let missing = format!("sha256:{}", "ef".repeat(32));
    assert!(
        code.get(&missing)
            .await
            .unwrap_err()
            .to_string()
            .contains(&missing)
    );
    assert!(
        code.get("sha1:abc")
            .await
            .unwrap_err()
            .to_string()
            .contains("sha1:abc")
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_are_listed_and_an_unknown_one_is_named_with_the_deployed() {
    let server = NatsServer::start(&[]);
    let client = ClusterClient::connect(ClusterConfig::new(server.url(), "deployer", "t"))
        .await
        .unwrap();
    let apps = client.apps().await.unwrap();
    let first = apps.put("shop", b"one".to_vec()).await.unwrap();
    let second = apps.put("shop", b"two".to_vec()).await.unwrap();
    assert!(second > first);
    apps.put("a.b c", b"odd".to_vec()).await.unwrap();
    let listed = apps.list().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["a.b c", "shop"]);
    assert_eq!(listed[1].record, b"two");
    assert_eq!(listed[1].revision, second);
    let unknown = apps.remove("nope").await.unwrap_err();
    assert!(matches!(unknown, Error::UnknownApp { .. }));
    assert!(unknown.to_string().contains("a.b c, shop"), "{unknown}");
    apps.remove("shop").await.unwrap();
    assert!(apps.get("shop").await.unwrap().is_none());
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_are_seen_with_their_labels_and_components_with_their_owner() {
    let server = NatsServer::start(&[]);
    let mut config = ClusterConfig::new(server.url(), "edge-1", "t");
    config.places = true;
    config.labels.insert("zone".into(), "a".into());
    let edge = NatsTransport::connect(config).await.unwrap();
    let plain = NatsTransport::connect(ClusterConfig::new(server.url(), "plain", "t"))
        .await
        .unwrap();
    let client = ClusterClient::connect(ClusterConfig::new(server.url(), "reader", "t"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let view = loop {
        let view = client.view().await.unwrap();
        if view.hosts.len() == 2 && plain.view().hosts.len() == 2 {
            break view;
        }
        assert!(Instant::now() < deadline, "{view:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let edge_view = view.host("edge-1").unwrap();
    assert!(edge_view.places && edge_view.has_labels(["zone=a"]));
    assert!(!edge_view.has_labels(["zone=b"]) && !edge_view.has_labels(["zone"]));
    assert!(!view.host("plain").unwrap().places);
    // The transport's own view agrees.
    assert_eq!(plain.view().host("edge-1"), Some(edge_view));
    // A bad label is refused before anything connects.
    let mut bad = ClusterConfig::new(server.url(), "edge-2", "t");
    bad.labels.insert("zone".into(), "a,b".into());
    let refused = NatsTransport::connect(bad).await.unwrap_err();
    assert!(refused.to_string().contains("zone=a,b"), "{refused}");
    edge.close().await;
    plain.close().await;
    client.close().await;
}
