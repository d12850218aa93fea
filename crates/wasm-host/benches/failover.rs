//! Failure detection in a cluster (issue 27), against the lease it rests on:
//!
//! - `failover`: a host process (`airssys-wasm run`) holds requests from a host of this
//!   process (its component is slow); it is killed with SIGKILL, and the time until every one
//!   of those requests has its error callback is measured, over several kills. Target: p50 at
//!   most 1.2x the killed host's lease.
//!
//! Run with `cargo bench --bench failover` (or `cargo xtask bench`;
//! `AIRSSYS_BENCH_ONLY=failover`). It starts its own nats-server. Without `--bench` it makes
//! one short smoke pass that prints no target.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use test_fixtures::{NatsServer, fixture_path, workspace_root};
use wasm_host::{ClusterConfig, ComponentId, Grants, Host, MessagingAction};

/// The killed host's lease.
const LEASE: Duration = Duration::from_secs(2);
/// Requests pending to it when it is killed.
const PENDING: u64 = 5;

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

/// The far host: one slow `flow` component, its lease `LEASE`.
fn far(dir: &std::path::Path, url: &str) -> Child {
    let manifest = dir.join("far.toml");
    std::fs::write(
        &manifest,
        format!(
            "[cluster]\nurl = \"{url}\"\nhost = \"far\"\nname = \"bench\"\nlease_ms = {}\n\n[[components]]\nid = \"far/flow/1\"\npath = \"{}\"\n",
            LEASE.as_millis(),
            fixture_path("flow").display()
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_airssys-wasm"))
        .arg("run")
        .arg(&manifest)
        .env(
            "AIRSSYS_CACHE_DIR",
            workspace_root().join("target/tmp/bench-cache"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn ask(host: &Host, to: &str, command: &str) -> Option<String> {
    host.request_with_timeout(&id(to), command, Duration::from_secs(10))
        .await
        .ok()
        .map(|r| String::from_utf8(r).unwrap())
}

fn field(report: &str, key: &str) -> u64 {
    report
        .split(' ')
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One kill: far holds `PENDING` requests, dies; how long until near has every error.
async fn one_kill(near: &Host, dir: &std::path::Path, url: &str, round: usize) -> Duration {
    let mut child = far(dir, url);
    // far is up (its lease taken, possibly after the previous one's lapsed) once it answers.
    while ask(near, "far/flow/1", "slow 60000").await.as_deref() != Some("ok") {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tag = format!("k{round}");
    let start = format!("start {tag} {PENDING} 1 600000 far/flow/1 {PENDING}");
    assert_eq!(
        ask(near, "near/flow/1", &start).await.as_deref(),
        Some("started")
    );
    // Every request is on its way and the first is in far's hands.
    loop {
        let report = ask(near, "near/flow/1", &format!("report {tag}"))
            .await
            .unwrap();
        if field(&report, "requests") == PENDING {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The kill falls at a different point of far's renewal period (a third of its lease)
    // in each round, so the figure is not one phase of it.
    let phase = (LEASE / 3) * (round % 10) as u32 / 10;
    tokio::time::sleep(Duration::from_millis(100) + phase).await;
    let killed = Instant::now();
    child.kill().unwrap();
    child.wait().unwrap();
    loop {
        let report = ask(near, "near/flow/1", &format!("report {tag}"))
            .await
            .unwrap();
        if field(&report, "errors") == PENDING {
            return killed.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let only = std::env::var("AIRSSYS_BENCH_ONLY").unwrap_or_default();
    if !only.is_empty() && !only.split(',').any(|s| s == "failover") {
        return;
    }
    let kills = if full { 20 } else { 1 };
    let server = NatsServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut config = ClusterConfig::new(server.url(), "near", "bench");
        config.lease = LEASE;
        config.give_up = LEASE * 10;
        let near = Host::builder().cluster(config).connect().await.unwrap();
        let code = near.load_component_file(fixture_path("flow")).unwrap();
        let grants =
            Grants::none().with_messaging(&[MessagingAction::Send, MessagingAction::Request], "**");
        near.start_component(near.spec(id("near/flow/1"), code).with_grants(grants))
            .await
            .unwrap();
        let mut samples = Vec::with_capacity(kills);
        for round in 0..kills {
            samples.push(one_kill(&near, dir.path(), &server.url(), round).await);
        }
        let p50 = quantile(&mut samples, 0.5);
        let p90 = quantile(&mut samples, 0.9);
        println!(
            "\nfailover: SIGKILL of a host holding {PENDING} requests, to the last of their error callbacks, {kills} kills"
        );
        print!(
            "   lease {} ms: p50 {} ms, p90 {} ms, p50 ratio to the lease {:.2}",
            LEASE.as_millis(),
            p50.as_millis(),
            p90.as_millis(),
            p50.as_secs_f64() / LEASE.as_secs_f64()
        );
        if full {
            print!(
                " (target <= 1.2x the lease: {})",
                verdict(p50.as_secs_f64() <= 1.2 * LEASE.as_secs_f64())
            );
        }
        println!();
        near.shutdown().await.unwrap();
    });
}
