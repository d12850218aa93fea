//! Failover of deployed components (issue 28), against the lease it rests on:
//!
//! - `placed-failover`: two `airssys-wasm host` processes run a deployed application of
//!   six echo components; the host that runs them is killed with SIGKILL, and the time
//!   until every one of its components answers again from the other host is measured, over
//!   several kills (the killed host is started again, and the next kill takes the other).
//!   Target: p50 at most the lease + 2 s.
//!
//! Run with `cargo bench --bench placed_failover` (or `cargo xtask bench`;
//! `AIRSSYS_BENCH_ONLY=placed-failover`). It starts its own nats-server. Without `--bench`
//! it makes one short smoke pass that prints no target.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use test_fixtures::{NatsServer, fixture_path, workspace_root};
use wasm_host::deploy::ClusterClient;
use wasm_host::{ClusterConfig, ComponentId, Host};

/// The hosts' lease.
const LEASE: Duration = Duration::from_secs(2);
/// Components of the application.
const COMPONENTS: usize = 6;
const CLUSTER: &str = "bench";

fn id(text: &str) -> ComponentId {
    text.parse().unwrap()
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * q).round() as usize]
}

fn cache() -> std::path::PathBuf {
    workspace_root().join("target/tmp/bench-cache")
}

fn host(url: &str, name: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_airssys-wasm"))
        .args(["host", "--cluster", url, "--name", CLUSTER, "--host", name])
        .args(["--lease-ms", &LEASE.as_millis().to_string()])
        .arg("--cache-dir")
        .arg(cache())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn deploy(url: &str, dir: &Path) {
    let manifest = dir.join("app.toml");
    let mut text = String::new();
    for i in 0..COMPONENTS {
        text.push_str(&format!(
            "[[components]]\nid = \"app/echo/{i}\"\npath = \"{}\"\n\n",
            fixture_path("echo").display()
        ));
    }
    std::fs::write(&manifest, text).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_airssys-wasm"))
        .args([
            "deploy",
            "--cluster",
            url,
            "--name",
            CLUSTER,
            "--wait",
            "60",
        ])
        .arg(&manifest)
        .arg("--cache-dir")
        .arg(cache())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Whether every component answers now (each within 200 ms).
async fn all_answer(tester: &Host) -> bool {
    for i in 0..COMPONENTS {
        let to = id(&format!("app/echo/{i}"));
        if tester
            .request_with_timeout(&to, "x", Duration::from_millis(200))
            .await
            .is_err()
        {
            return false;
        }
    }
    true
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let only = std::env::var("AIRSSYS_BENCH_ONLY").unwrap_or_default();
    if !only.is_empty() && !only.split(',').any(|s| s == "placed-failover") {
        return;
    }
    let kills = if full { 20 } else { 1 };
    let server = NatsServer::start(&[]);
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let reader = ClusterClient::connect(ClusterConfig::new(&url, "reader", CLUSTER))
            .await
            .unwrap();
        let tester = Host::builder()
            .cluster(ClusterConfig::new(&url, "tester", CLUSTER))
            .connect()
            .await
            .unwrap();
        // One host first, so that it runs the whole application; the other joins empty.
        let mut hosts = vec![(String::from("a"), host(&url, "a"))];
        deploy(&url, dir.path());
        hosts.push((String::from("b"), host(&url, "b")));
        while reader.view().await.unwrap().host("b").is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut samples = Vec::with_capacity(kills);
        for round in 0..kills {
            while !all_answer(&tester).await {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let view = reader.view().await.unwrap();
            let victim = view.owners[&id("app/echo/0")].host.clone();
            assert!(view.owners.values().all(|o| o.host == victim));
            let slot = hosts.iter().position(|(n, _)| *n == victim).unwrap();
            // The kill falls at a different point of the renewal period in each round.
            let phase = (LEASE / 3) * (round % 10) as u32 / 10;
            tokio::time::sleep(phase).await;
            let killed = Instant::now();
            hosts[slot].1.kill().unwrap();
            hosts[slot].1.wait().unwrap();
            while !all_answer(&tester).await {}
            samples.push(killed.elapsed());
            // The name is free once its lease lapsed (it has: the components moved).
            hosts[slot].1 = host(&url, &victim);
            let deadline = Instant::now() + Duration::from_secs(30);
            while reader.view().await.unwrap().host(&victim).is_none() {
                assert!(Instant::now() < deadline, "{victim} did not come back");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let p50 = quantile(&mut samples, 0.5);
        let p90 = quantile(&mut samples, 0.9);
        println!(
            "\nplaced-failover: SIGKILL of the host running {COMPONENTS} deployed components, to all of them answering from the other host, {kills} kills"
        );
        print!(
            "   lease {} ms: p50 {} ms, p90 {} ms, p50 minus the lease {} ms",
            LEASE.as_millis(),
            p50.as_millis(),
            p90.as_millis(),
            p50.as_millis() as i128 - LEASE.as_millis() as i128
        );
        if full {
            print!(
                " (target <= lease + 2000 ms: {})",
                verdict(p50 <= LEASE + Duration::from_secs(2))
            );
        }
        println!();
        tester.shutdown().await.unwrap();
        for (_, mut child) in hosts {
            let _ = child.kill();
            let _ = child.wait();
        }
    });
}
