//! Two hosts built from manifests with a `[cluster]` section, on a real nats-server: a
//! request and a send from one reach a component of the other, and ids are claimed once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use test_fixtures::{NatsServer, fixture_path};
use wasm_host::{ComponentId, Error, Host, HostBuilder};

fn id(text: &str) -> ComponentId {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// Writes `text` as `<host>.toml` in `dir`.
fn write_manifest(dir: &Path, host: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{host}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn manifest(dir: &Path, url: &str, host: &str, component: &str, fixture: &str) -> PathBuf {
    let text = format!(
        r#"
[cluster]
url = "{url}"
host = "{host}"
name = "orders"
lease_ms = 1000

[[components]]
id = "{component}"
path = "{path}"
"#,
        path = fixture_path(fixture).display()
    );
    write_manifest(dir, host, &text)
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
    // `airssys-wasm call --cluster` asks a component anywhere in the cluster, starting none.
    let call = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_airssys-wasm"))
            .arg("call")
            .args(args)
            .output()
            .unwrap()
    };
    let url = server.url();
    let out = call(&[
        "--cluster",
        &url,
        "--name",
        "orders",
        "orders/echo/1",
        "from the cli",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from the cli\n");
    let out = call(&[
        "--cluster",
        &url,
        "--name",
        "orders",
        "orders/nobody/1",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(70));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("orders/nobody/1")
            && stderr.contains(&url)
            && stderr.contains("target not found"),
        "{stderr}"
    );
    // A cluster name nobody uses finds nothing: hosts of different clusters never meet.
    let out = call(&["--cluster", &url, "--name", "other", "orders/echo/1", "x"]);
    assert_eq!(out.status.code(), Some(70));
    // An unreachable server is named.
    let dead = format!("nats://127.0.0.1:{}", test_fixtures::free_port());
    let out = call(&["--cluster", &dead, "orders/echo/1", "x"]);
    assert_eq!(out.status.code(), Some(70));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&dead));
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

/// Asks `to` until the reply satisfies `done` (bounded), for effects that arrive later.
async fn poll(host: &Host, to: &str, command: &str, done: impl Fn(&str) -> bool) -> String {
    for _ in 0..2_000 {
        if let Ok(reply) = host.request(&id(to), command).await {
            let reply = String::from_utf8_lossy(&reply).into_owned();
            if done(&reply) {
                return reply;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{to} never answered `{command}` as expected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_process_killed_with_requests_pending_gets_each_requester_one_error() {
    let server = NatsServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    // Host B is a real `airssys-wasm run` process.
    let b_manifest = manifest(
        dir.path(),
        &server.url(),
        "edge-2",
        "far/sleep/1",
        "sleeper",
    );
    let mut b = std::process::Command::new(env!("CARGO_BIN_EXE_airssys-wasm"))
        .arg("run")
        .arg(&b_manifest)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let a_text = format!(
        r#"
[cluster]
url = "{url}"
host = "edge-1"
name = "orders"
lease_ms = 1000

[[components]]
id = "near/req/1"
path = "{path}"

[components.capabilities.messaging]
request = ["far/**"]
"#,
        url = server.url(),
        path = fixture_path("requester").display()
    );
    let a_manifest = dir.path().join("edge-1.toml");
    std::fs::write(&a_manifest, a_text).unwrap();
    let (a, _) = Host::from_manifest_file(&a_manifest).await.unwrap();
    // B is up once its sleeper answers.
    poll(&a, "far/sleep/1", "ping", |r| r == "ping").await;
    let mut corrs = Vec::new();
    for _ in 0..3 {
        let corr = poll(
            &a,
            "near/req/1",
            "request far/sleep/1 60000 sleep 4000",
            |r| r.starts_with("req-"),
        )
        .await;
        corrs.push(corr);
    }
    b.kill().unwrap();
    b.wait().unwrap();
    // Each pending request gets one target-failed callback, long before its 60 s timeout.
    let callbacks = poll(&a, "near/req/1", "count", |c| c == "3").await;
    assert_eq!(callbacks, "3");
    let all = String::from_utf8(a.request(&id("near/req/1"), "callbacks").await.unwrap()).unwrap();
    for corr in &corrs {
        let line = all
            .lines()
            .find(|l| l.starts_with(&format!("{corr}\t")))
            .unwrap_or_else(|| panic!("no callback for {corr}: {all}"));
        assert!(
            line.contains("target-failed: host edge-2 is gone: its 1000 ms lease lapsed"),
            "{line}"
        );
    }
    a.wait_idle().await;
    assert_eq!(a.stats().pending_requests, 0);
    a.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_pipeline_split_over_two_host_processes_books_the_same_totals() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        root.join("examples/out/index.txt").is_file(),
        "the example components are not built: run `cargo xtask examples`"
    );
    let server = NatsServer::start(&[]);
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_airssys-wasm");
    let storage = |name: &str| dir.path().join(name).display().to_string();
    let mut edge2 = std::process::Command::new(binary)
        .current_dir(&root)
        .args(["run", "examples/cluster/edge-2.toml", "--cluster-url", &url])
        .args(["--storage", &storage("edge-2.redb")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // edge-2 is up once its pricing service answers across the cluster.
    let caller = Host::builder()
        .cluster(wasm_host::ClusterConfig::new(
            url.as_str(),
            "probe",
            "orders",
        ))
        .connect()
        .await
        .unwrap();
    poll(&caller, "orders/pricing/1", "price sku=widget qty=1", |r| {
        r == "cents=250"
    })
    .await;
    caller.shutdown().await.unwrap();
    let edge1 = std::process::Command::new(binary)
        .current_dir(&root)
        .args(["run", "examples/cluster/edge-1.toml", "--cluster-url", &url])
        .args(["--storage", &storage("edge-1.redb")])
        .args([
            "--send",
            "orders/ingest/1=@examples/orders.txt",
            "--exit-when-idle",
        ])
        .args([
            "--report",
            "orders/ledger/1=totals",
            "--report",
            "orders/auditor/1=report",
        ])
        .output()
        .unwrap();
    edge2.kill().unwrap();
    edge2.wait().unwrap();
    let stdout = String::from_utf8_lossy(&edge1.stdout);
    assert_eq!(
        edge1.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&edge1.stderr)
    );
    // The same figures as the single-host demo (tests/cli_run.rs checks those).
    assert!(
        stdout.contains("report orders/ledger/1 totals: orders=8 total-cents=35823"),
        "{stdout}"
    );
    assert!(
        stdout.contains("report orders/auditor/1 report: booked=8 rejected=3 booked-cents=35823"),
        "{stdout}"
    );
}

/// A manifest of one counter with `storage = "cluster"`.
fn counter_with_cluster_storage(dir: &Path, url: &str, host: &str) -> PathBuf {
    let text = format!(
        r#"
[host]
storage = "cluster"

[cluster]
url = "{url}"
host = "{host}"
name = "orders"
lease_ms = 1000

[[components]]
id = "orders/count/1"
path = "{path}"

[components.capabilities]
storage = {{ read = true, write = true, delete = true }}
"#,
        path = fixture_path("counter").display()
    );
    write_manifest(dir, host, &text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_with_cluster_storage_keeps_every_replied_count_when_its_host_is_killed() {
    let server = NatsServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    // The counter runs in a real `airssys-wasm run` process, edge-2.
    let mut b = std::process::Command::new(env!("CARGO_BIN_EXE_airssys-wasm"))
        .arg("run")
        .arg(counter_with_cluster_storage(
            dir.path(),
            &server.url(),
            "edge-2",
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (a, _) = Host::from_manifest_file(manifest(
        dir.path(),
        &server.url(),
        "edge-1",
        "orders/echo/1",
        "echo",
    ))
    .await
    .unwrap();
    poll(&a, "orders/count/1", "get", |r| r == "0").await;
    for n in 1..=40 {
        let reply = a.request(&id("orders/count/1"), "inc").await.unwrap();
        assert_eq!(String::from_utf8(reply).unwrap(), n.to_string());
    }
    b.kill().unwrap();
    b.wait().unwrap();
    // Once edge-2's lease lapses, edge-3 takes the id, and with it the storage: the counter's
    // `initialize` loads every count that was replied.
    let mut c = None;
    for _ in 0..100 {
        match Host::from_manifest_file(counter_with_cluster_storage(
            dir.path(),
            &server.url(),
            "edge-3",
        ))
        .await
        {
            Ok((host, _)) => {
                c = Some(host);
                break;
            }
            Err(e) => {
                let text = e.to_string();
                assert!(text.contains("edge-2"), "{text}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    let c = c.expect("edge-3 took the counter once edge-2's lease lapsed");
    assert_eq!(
        c.request(&id("orders/count/1"), "get").await.unwrap(),
        b"40"
    );
    assert_eq!(
        c.request(&id("orders/count/1"), "inc").await.unwrap(),
        b"41"
    );
    // And edge-1 reaches it where it runs now.
    poll(&a, "orders/count/1", "inc", |r| r == "42").await;
    c.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}
