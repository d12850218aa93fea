//! Storage benchmark (issue 14), each figure against a baseline measured in the same run:
//!
//! - `storage`: 64 counter components each writing in a loop (a client per component sends
//!   `inc`, one write per message, and sends the next once the reply came, that is once the
//!   write is durable), on a redb file, with group commit (the default writer) against one
//!   durable commit per write (`RedbOptions { max_batch: 1 }`). Target: at least 10x the
//!   writes per second.
//! - the same run measures the round trip of requests to echo (no storage) while the 64
//!   write, against the same with no writes. Target: p99 at most 2x idle. It also runs the
//!   writers all on one shard of their own (echo alone on the other) and prints that p99
//!   ratio and its write rate (no target: what the p99 target costs on this machine).
//!
//! - `cluster-storage` (issue 28): the same 64 writers with cluster storage (one nats-server
//!   with JetStream, one replica, started by the bench), against redb group commit in the same
//!   run. Target: at least 0.3x the writes per second. To say what three replicas cost, the
//!   same again on a three-server NATS cluster with R3 (printed, no target).
//!
//! Run with `cargo bench --bench storage` (or `cargo xtask bench`; `AIRSSYS_BENCH_ONLY=storage`
//! or `cluster-storage`).
//! Without `--bench` it makes one short smoke pass that prints no target.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use test_fixtures::{NatsServer, fixture_path, workspace_root};
use wasm_host::{
    ClusterConfig, ComponentId, Grants, Host, Placement, RedbOptions, RedbStorage, StorageGrant,
    StorageQuota,
};

const WRITERS: usize = 64;

fn id(text: &str) -> ComponentId {
    text.parse().unwrap()
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let at = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[at]
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// What one run measured.
struct Run {
    writes_per_s: f64,
    /// Echo round trips while the writers ran.
    busy: Vec<Duration>,
    transactions: u64,
    write_sets: u64,
}

/// Where the writers' storage is.
enum Backend {
    Redb(RedbOptions),
    /// Cluster storage through the nats-server(s) at these URLs, with this many replicas.
    Cluster(Vec<String>, usize),
}

/// Where the writers sit among the shards.
#[derive(Clone, Copy)]
enum Seating {
    /// The default: each on the shard carrying the fewest components (echo shares a shard
    /// with half of them).
    Spread,
    /// All on one shard (each the neighbour of the first), echo alone on the other.
    Apart,
}

async fn host(
    backend: &Backend,
    seating: Seating,
) -> (Host, Option<Arc<RedbStorage>>, tempfile::TempDir) {
    // On the real disk (not a tmpfs): the commits wait for it.
    let scratch = workspace_root().join("target/tmp");
    std::fs::create_dir_all(&scratch).unwrap();
    let dir = tempfile::tempdir_in(scratch).unwrap();
    // The default placement (shards); `AIRSSYS_BENCH_PLACEMENT=caller` for the components
    // on the driving runtime instead.
    let placement = match std::env::var("AIRSSYS_BENCH_PLACEMENT").as_deref() {
        Ok("caller") => Placement::Caller,
        _ => Placement::Shards(0),
    };
    let builder = Host::builder().placement(placement).no_admin();
    let (host, store) = match backend {
        Backend::Redb(options) => {
            let store =
                Arc::new(RedbStorage::open_with(dir.path().join("bench.redb"), *options).unwrap());
            let host = builder.storage_backend(store.clone()).build().unwrap();
            (host, Some(store))
        }
        Backend::Cluster(urls, replicas) => {
            let mut config = ClusterConfig::new(urls[0].as_str(), "bench-1", "bench");
            config.urls.clone_from(urls);
            config.replicas = *replicas;
            let host = builder
                .cluster(config)
                .cluster_storage()
                .connect()
                .await
                .unwrap();
            (host, None)
        }
    };
    let echo = host.load_component_file(fixture_path("echo")).unwrap();
    host.start_component(host.spec(id("bench/echo/1"), echo))
        .await
        .unwrap();
    let counter = host.load_component_file(fixture_path("counter")).unwrap();
    let grants = Grants::none().with_storage(StorageGrant {
        read: true,
        write: true,
        delete: false,
        quota: StorageQuota::default(),
    });
    let apart = matches!(seating, Seating::Apart);
    for n in 0..WRITERS {
        let mut spec = host
            .spec(id(&format!("bench/writer{n}/1")), counter.clone())
            .with_grants(grants.clone());
        if apart && n > 0 {
            spec = spec.with_neighbour(id("bench/writer0/1"));
        }
        host.start_component(spec).await.unwrap();
    }
    (host, store, dir)
}

/// Echo round trips for `how_long`, one at a time.
async fn echo_loop(host: &Host, how_long: Duration) -> Vec<Duration> {
    let echo = id("bench/echo/1");
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < how_long {
        let t = Instant::now();
        host.request(&echo, "x").await.unwrap();
        samples.push(t.elapsed());
    }
    samples
}

async fn run(backend: &Backend, how_long: Duration) -> (Run, Vec<Duration>) {
    run_seated(backend, Seating::Spread, how_long).await
}

async fn run_seated(
    backend: &Backend,
    seating: Seating,
    how_long: Duration,
) -> (Run, Vec<Duration>) {
    let (host, store, _dir) = host(backend, seating).await;
    let stats = || store.as_ref().map(|s| s.commit_stats());
    let host = Arc::new(host);
    let idle = echo_loop(&host, how_long / 2).await;
    let writes = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for n in 0..WRITERS {
        let (host, writes, stop) = (host.clone(), writes.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let to = id(&format!("bench/writer{n}/1"));
            while !stop.load(Ordering::Relaxed) {
                host.request(&to, "inc").await.unwrap();
                writes.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Let the writers get going, then count over a fixed window.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = (writes.load(Ordering::Relaxed), stats());
    let started = Instant::now();
    let busy = echo_loop(&host, how_long).await;
    let elapsed = started.elapsed().as_secs_f64();
    let after = (writes.load(Ordering::Relaxed), stats());
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    host.shutdown().await.unwrap();
    let run = Run {
        writes_per_s: (after.0 - before.0) as f64 / elapsed,
        busy,
        transactions: match (&after.1, &before.1) {
            (Some(a), Some(b)) => a.transactions - b.transactions,
            _ => 0,
        },
        write_sets: match (&after.1, &before.1) {
            (Some(a), Some(b)) => a.write_sets - b.write_sets,
            _ => 0,
        },
    };
    (run, idle)
}

/// The driving runtime of each section.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn storage(runs: usize, how_long: Duration, full: bool) {
    let rt = runtime();
    let (mut ratios, mut grouped_rates, mut single_rates) = (Vec::new(), Vec::new(), Vec::new());
    let (mut p99_ratios, mut p99_busy, mut p99_idle) = (Vec::new(), Vec::new(), Vec::new());
    let mut batch = Vec::new();
    let (mut apart_ratios, mut apart_rates) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (single, _) = rt.block_on(run(&Backend::Redb(RedbOptions { max_batch: 1 }), how_long));
        let (mut grouped, mut idle) =
            rt.block_on(run(&Backend::Redb(RedbOptions::default()), how_long));
        ratios.push(grouped.writes_per_s / single.writes_per_s);
        grouped_rates.push(grouped.writes_per_s);
        single_rates.push(single.writes_per_s);
        batch.push(grouped.write_sets as f64 / grouped.transactions.max(1) as f64);
        let busy = percentile(&mut grouped.busy, 0.99);
        let quiet = percentile(&mut idle, 0.99);
        p99_busy.push(busy.as_secs_f64() * 1e6);
        p99_idle.push(quiet.as_secs_f64() * 1e6);
        p99_ratios.push(busy.as_secs_f64() / quiet.as_secs_f64());
        let (mut apart, mut idle) = rt.block_on(run_seated(
            &Backend::Redb(RedbOptions::default()),
            Seating::Apart,
            how_long,
        ));
        let (busy, quiet) = (
            percentile(&mut apart.busy, 0.99),
            percentile(&mut idle, 0.99),
        );
        apart_ratios.push(busy.as_secs_f64() / quiet.as_secs_f64());
        apart_rates.push(apart.writes_per_s);
    }
    let spread_rate = median(grouped_rates);
    println!(
        "storage: {WRITERS} writers, group commit {:.0} writes/s (mean batch {:.1} calls per \
         commit), one commit per write {:.0} writes/s, medians of {runs}",
        spread_rate,
        median(batch),
        median(single_rates)
    );
    println!(
        "storage: echo round trip p99 {:.1} us during the writes, {:.1} us idle",
        median(p99_busy),
        median(p99_idle)
    );
    if full {
        let ratio = median(ratios);
        println!(
            "storage: group commit / one commit per write = {ratio:.1}x (target >= 10x): {}",
            verdict(ratio >= 10.0)
        );
        let ratio = median(p99_ratios);
        println!(
            "storage: echo p99 during writes / idle = {ratio:.2} (target <= 2): {}",
            verdict(ratio <= 2.0)
        );
    }
    // What the p99 target would take on this machine: echo on a shard no writer shares.
    let apart_rate = median(apart_rates);
    println!(
        "storage: writers on a shard of their own (neighbours of one another), echo alone on \
         the other: echo p99 during writes / idle = {:.2}, group commit {:.0} writes/s ({:.2}x \
         the spread seating)",
        median(apart_ratios),
        apart_rate,
        apart_rate / spread_rate
    );
}

fn cluster_storage(runs: usize, how_long: Duration, full: bool) {
    let rt = runtime();
    let server = NatsServer::start(&[]);
    // What three replicas cost: a three-server NATS cluster on this machine, in the same run.
    let three = NatsServer::cluster(3);
    let r1 = Backend::Cluster(vec![server.url()], 1);
    let r3 = Backend::Cluster(NatsServer::urls(&three), 3);
    let (mut ratios, mut cluster_rates, mut redb_rates) = (Vec::new(), Vec::new(), Vec::new());
    let (mut r3_rates, mut r3_ratios) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (redb, _) = rt.block_on(run(&Backend::Redb(RedbOptions::default()), how_long));
        let (cluster, _) = rt.block_on(run(&r1, how_long));
        let (replicated, _) = rt.block_on(run(&r3, how_long));
        ratios.push(cluster.writes_per_s / redb.writes_per_s);
        r3_ratios.push(replicated.writes_per_s / cluster.writes_per_s);
        cluster_rates.push(cluster.writes_per_s);
        r3_rates.push(replicated.writes_per_s);
        redb_rates.push(redb.writes_per_s);
    }
    println!(
        "cluster-storage: {WRITERS} writers, cluster storage (1 replica) {:.0} writes/s, 3 replicas \
         on a three-server NATS cluster {:.0} writes/s, redb group commit {:.0} writes/s, medians of {runs}",
        median(cluster_rates),
        median(r3_rates),
        median(redb_rates)
    );
    println!(
        "cluster-storage: what R3 costs: R3 / R1 = {:.2}x",
        median(r3_ratios)
    );
    if full {
        let ratio = median(ratios);
        println!(
            "cluster-storage: cluster (R1) / redb group commit = {ratio:.2}x (target >= 0.3x): {}",
            verdict(ratio >= 0.3)
        );
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let only = std::env::var("AIRSSYS_BENCH_ONLY").unwrap_or_default();
    let wanted = |section: &str| only.is_empty() || only.split(',').any(|s| s == section);
    if wanted("storage") {
        if full {
            storage(5, Duration::from_secs(2), true);
        } else {
            storage(1, Duration::from_millis(200), false);
        }
    }
    if wanted("cluster-storage") {
        if full {
            cluster_storage(5, Duration::from_secs(2), true);
        } else {
            cluster_storage(1, Duration::from_millis(200), false);
        }
    }
}
