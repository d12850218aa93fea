//! Cluster benchmarks (issue 11), each against a baseline measured in the same run:
//!
//! - `cluster-rtt`: a request from a component on host A to one on host B and its callback,
//!   against a raw async-nats request/reply between two clients on the same server;
//! - `cluster-throughput`: one-way sends from a component on A to one on B, against raw
//!   async-nats publish/subscribe of the same payloads (issue 27), with the same sends to a
//!   component on A itself as the ceiling the components leave;
//! - `local-rtt`: the local round trip of a system in a cluster against one in none.
//!
//! Run with `cargo bench -p wasm-cluster` (or `cargo xtask bench`; `AIRSSYS_BENCH_ONLY` picks
//! sections). It starts its own nats-server on a loopback port. Without `--bench` (as under
//! `cargo test --benches`) it runs a small smoke pass that prints no targets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use test_fixtures::{NatsServer, fixture};
use tokio::runtime::Runtime;
use wasm_actor::{ActorSystem, ComponentSpec, SystemConfig};
use wasm_cluster::{ClusterConfig, NatsTransport};
use wasm_core::ComponentId;
use wasm_runtime::{EngineConfig, LoadedComponent, MemoryStorage, WasmEngine};
use wasm_security::Grants;

#[derive(Debug, Clone, Copy)]
struct Sizes {
    runs: usize,
    round_trips: u64,
    messages: u64,
}

const FULL: Sizes = Sizes {
    runs: 5,
    round_trips: 2_000,
    messages: 50_000,
};

const SMOKE: Sizes = Sizes {
    runs: 1,
    round_trips: 20,
    messages: 50,
};

fn id(text: &str) -> ComponentId {
    text.parse().unwrap()
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn quantile_us(sorted: &[u64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i] as f64 / 1e3
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// One host: its actor system and its cluster transport.
type Node = (ActorSystem, NatsTransport);

struct Bench {
    rt: Runtime,
    engine: WasmEngine,
    pinger: LoadedComponent,
    echo: LoadedComponent,
    url: String,
}

async fn ask(system: &ActorSystem, to: &str, command: &str) -> String {
    let reply = system
        .request(
            &id(to),
            command.as_bytes().to_vec(),
            Duration::from_secs(120),
        )
        .await
        .unwrap_or_else(|e| panic!("{to} `{command}`: {e}"));
    String::from_utf8(reply).unwrap()
}

impl Bench {
    async fn node(&self, host: &str) -> Node {
        let transport = NatsTransport::connect(ClusterConfig::new(&self.url, host, "bench"))
            .await
            .unwrap();
        let system = ActorSystem::with_remote(
            self.engine.clone(),
            Arc::new(MemoryStorage::new()),
            SystemConfig::default(),
            Arc::new(transport.clone()),
        );
        (system, transport)
    }

    /// Two hosts on the bench's server, each running one component.
    fn pair(&self, on_a: (&LoadedComponent, &str), on_b: (&LoadedComponent, &str)) -> (Node, Node) {
        self.rt.block_on(async {
            let a = self.node("host-a").await;
            let b = self.node("host-b").await;
            a.0.start_component(self.spec(on_a.0, on_a.1))
                .await
                .unwrap();
            b.0.start_component(self.spec(on_b.0, on_b.1))
                .await
                .unwrap();
            (a, b)
        })
    }

    fn stop_pair(&self, a: Node, b: Node) {
        self.rt.block_on(async {
            for (system, transport) in [a, b] {
                system.shutdown().await;
                transport.close().await;
            }
        });
    }

    fn spec(&self, component: &LoadedComponent, at: &str) -> ComponentSpec {
        ComponentSpec::new(id(at), component.clone())
            .with_grants(Grants::default().with_messaging(
                &[
                    wasm_security::MessagingAction::Send,
                    wasm_security::MessagingAction::Request,
                ],
                "**",
            ))
            .with_mailbox(100_000)
    }
}

/// Round trips timed by the pinger itself, request to callback.
async fn pinger_round_trips(system: &ActorSystem, pinger: &str, target: &str, m: u64) -> Vec<u64> {
    assert_eq!(
        ask(system, pinger, &format!("rtt {target} {m}")).await,
        "started"
    );
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let reply = ask(system, pinger, "latencies").await;
        if reply.starts_with("pending") {
            continue;
        }
        assert!(!reply.starts_with("failed"), "error callbacks: {reply}");
        let mut samples: Vec<u64> = reply.split(',').map(|s| s.parse().unwrap()).collect();
        samples.sort_unstable();
        return samples;
    }
}

/// Raw async-nats request/reply: a responder client echoing, a requester client timing.
async fn raw_round_trips(url: &str, m: u64) -> Vec<u64> {
    let responder = async_nats::connect(url).await.unwrap();
    let requester = async_nats::connect(url).await.unwrap();
    let mut sub = responder.subscribe("raw.echo").await.unwrap();
    responder.flush().await.unwrap();
    let serve = tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            if let Some(reply) = msg.reply {
                responder.publish(reply, msg.payload).await.unwrap();
            }
        }
    });
    // The subscription must be on the server before the first request.
    while requester.request("raw.echo", "warm".into()).await.is_err() {}
    let mut samples = Vec::with_capacity(m as usize);
    for _ in 0..m {
        let start = Instant::now();
        requester
            .request("raw.echo", Bytes::from_static(b"ping"))
            .await
            .unwrap();
        samples.push(start.elapsed().as_nanos() as u64);
    }
    serve.abort();
    samples.sort_unstable();
    samples
}

/// Raw async-nats publish/subscribe of `n` ticks; returns messages per second.
async fn raw_throughput(url: &str, n: u64) -> f64 {
    let receiver = async_nats::connect(url).await.unwrap();
    let sender = async_nats::connect(url).await.unwrap();
    let mut sub = receiver.subscribe("raw.ticks").await.unwrap();
    receiver.flush().await.unwrap();
    while sender.request("raw.none", "".into()).await.is_ok() {}
    let start = Instant::now();
    let count = tokio::spawn(async move {
        let mut seen = 0;
        while seen < n {
            sub.next().await.unwrap();
            seen += 1;
        }
    });
    for _ in 0..n {
        sender
            .publish("raw.ticks", Bytes::from_static(b"tick"))
            .await
            .unwrap();
    }
    sender.flush().await.unwrap();
    count.await.unwrap();
    n as f64 / start.elapsed().as_secs_f64()
}

fn cluster_rtt(bench: &Bench, sizes: Sizes, full: bool) {
    let m = sizes.round_trips;
    let (a, b) = bench.pair((&bench.pinger, "a/pinger/1"), (&bench.echo, "b/echo/1"));
    let (mut raw50, mut raw99, mut ours50, mut ours99) = (vec![], vec![], vec![], vec![]);
    for run in 0..=sizes.runs {
        let raw = bench.rt.block_on(raw_round_trips(&bench.url, m));
        let ours = bench
            .rt
            .block_on(pinger_round_trips(&a.0, "a/pinger/1", "b/echo/1", m));
        if run > 0 {
            raw50.push(quantile_us(&raw, 0.5));
            raw99.push(quantile_us(&raw, 0.99));
            ours50.push(quantile_us(&ours, 0.5));
            ours99.push(quantile_us(&ours, 0.99));
        }
    }
    let (r50, r99, o50, o99) = (median(raw50), median(raw99), median(ours50), median(ours99));
    println!(
        "\n1. cross-host request round trip, {m} sequential requests per run, median of {} runs",
        sizes.runs
    );
    println!(
        "   baseline raw async-nats request/reply (two clients, same server): p50 {r50:.1} us, p99 {r99:.1} us"
    );
    print!(
        "   pinger on host A -> echo on host B -> callback: p50 {o50:.1} us, p99 {o99:.1} us, p50 ratio to raw {:.2}",
        o50 / r50
    );
    if full {
        print!(" (target p50 <= 1.5x raw: {})", verdict(o50 <= 1.5 * r50));
    }
    println!();
    bench.stop_pair(a, b);
}

fn cluster_throughput(bench: &Bench, sizes: Sizes, full: bool) {
    let n = sizes.messages;
    let (a, b) = bench.pair(
        (&bench.pinger, "a/sender/1"),
        (&bench.pinger, "b/receiver/1"),
    );
    // The ceiling: the same blast to a receiver on the sender's own host, no transport.
    bench.rt.block_on(async {
        a.0.start_component(bench.spec(&bench.pinger, "a/receiver/1"))
            .await
            .unwrap();
    });
    let (mut raw, mut ours, mut local) = (vec![], vec![], vec![]);
    for run in 0..=sizes.runs {
        let r = bench.rt.block_on(raw_throughput(&bench.url, n));
        let l = bench.rt.block_on(async {
            let start = Instant::now();
            let sent = ask(&a.0, "a/sender/1", &format!("blast a/receiver/1 {n}")).await;
            assert_eq!(sent, format!("sent {n}"));
            let expected = (n * (run as u64 + 1)).to_string();
            while ask(&a.0, "a/receiver/1", "count").await != expected {
                tokio::task::yield_now().await;
            }
            n as f64 / start.elapsed().as_secs_f64()
        });
        let o = bench.rt.block_on(async {
            let start = Instant::now();
            let sent = ask(&a.0, "a/sender/1", &format!("blast b/receiver/1 {n}")).await;
            assert_eq!(sent, format!("sent {n}"));
            if std::env::var_os("AIRSSYS_BENCH_DEBUG").is_some() {
                eprintln!(
                    "   (the sender's call returned after {:?})",
                    start.elapsed()
                );
            }
            // The last ticks may still be on their way (sent on credit): wait for them all.
            let expected = (n * (run as u64 + 1)).to_string();
            let deadline = Instant::now() + Duration::from_secs(60);
            while ask(&b.0, "b/receiver/1", "count").await != expected {
                assert!(Instant::now() < deadline, "ticks lost");
                tokio::task::yield_now().await;
            }
            if std::env::var_os("AIRSSYS_BENCH_DEBUG").is_some() {
                eprintln!("   (all arrived after {:?})", start.elapsed());
            }
            n as f64 / start.elapsed().as_secs_f64()
        });
        if run > 0 {
            raw.push(r);
            ours.push(o);
            local.push(l);
        }
    }
    let (r, o, l) = (median(raw), median(ours), median(local));
    let (sa, sb) = (a.1.stats(), b.1.stats());
    println!(
        "\n   (A sent {} messages in {} bundles; B sent {} bundles of credit)",
        sa.sent, sa.bundles, sb.bundles
    );
    println!(
        "\n2. cross-host one-way throughput, {n} messages per run, median of {} runs",
        sizes.runs
    );
    println!("   baseline raw async-nats publish/subscribe of the same payloads: {r:.0} msg/s");
    print!(
        "   pinger on host A blasting a pinger on host B: {o:.0} msg/s, ratio to raw {:.3}",
        o / r
    );
    if full {
        print!(" (target >= 0.50: {})", verdict(o / r >= 0.5));
    }
    println!();
    println!(
        "   the same blast to a pinger on host A itself (no transport, what the components cost): {l:.0} msg/s, ratio to raw {:.3}; cross-host reaches {:.2} of it",
        l / r,
        o / l
    );
    bench.stop_pair(a, b);
}

fn local_rtt(bench: &Bench, sizes: Sizes, full: bool) {
    let m = sizes.round_trips * 5;
    let (clustered, transport, alone) = bench.rt.block_on(async {
        let (clustered, transport) = bench.node("host-a").await;
        let alone = ActorSystem::new(
            bench.engine.clone(),
            Arc::new(MemoryStorage::new()),
            SystemConfig::default(),
        );
        for system in [&clustered, &alone] {
            system
                .start_component(bench.spec(&bench.pinger, "l/pinger/1"))
                .await
                .unwrap();
            system
                .start_component(bench.spec(&bench.echo, "l/echo/1"))
                .await
                .unwrap();
        }
        (clustered, transport, alone)
    });
    let (mut none50, mut with50) = (vec![], vec![]);
    for run in 0..=sizes.runs {
        let none = bench
            .rt
            .block_on(pinger_round_trips(&alone, "l/pinger/1", "l/echo/1", m));
        let with = bench
            .rt
            .block_on(pinger_round_trips(&clustered, "l/pinger/1", "l/echo/1", m));
        if run > 0 {
            none50.push(quantile_us(&none, 0.5));
            with50.push(quantile_us(&with, 0.5));
        }
    }
    let (n50, w50) = (median(none50), median(with50));
    println!(
        "\n3. local round trip (pinger -> echo on one host), {m} requests per run, median of {} runs",
        sizes.runs
    );
    println!("   baseline, no cluster: p50 {n50:.2} us");
    print!(
        "   the same host in a cluster: p50 {w50:.2} us, ratio {:.3}",
        w50 / n50
    );
    if full {
        print!(" (target within 5%: {})", verdict(w50 <= 1.05 * n50));
    }
    println!();
    bench.rt.block_on(async {
        clustered.shutdown().await;
        alone.shutdown().await;
        transport.close().await;
    });
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full { FULL } else { SMOKE };
    if !full {
        println!("smoke pass (run `cargo bench -p wasm-cluster` for the figures)");
    }
    let server = NatsServer::start(&[]);
    let engine = WasmEngine::new(EngineConfig::default()).unwrap();
    let load = |name: &str| engine.loader().load_bytes(name, &fixture(name)).unwrap();
    let bench = Bench {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        pinger: load("pinger"),
        echo: load("echo"),
        engine: engine.clone(),
        url: server.url(),
    };
    let only = std::env::var("AIRSSYS_BENCH_ONLY").unwrap_or_default();
    let wanted = |section: &str| only.is_empty() || only.split(',').any(|s| s == section);
    if wanted("cluster-rtt") {
        cluster_rtt(&bench, sizes, full);
    }
    if wanted("cluster-throughput") {
        cluster_throughput(&bench, sizes, full);
    }
    if wanted("local-rtt") {
        local_rtt(&bench, sizes, full);
    }
}
