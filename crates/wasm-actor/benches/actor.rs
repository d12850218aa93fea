//! Actor benchmarks (issue 4): one-way throughput between two components, request-response
//! round trips, and 100,000 live components (issue 14); (issue 12) the pause of a live upgrade and
//! the cost of per-message spans; (issue 14) independent pairs on one core and on both. Every figure is the median of several runs,
//! compared with a baseline measured in the same run, and printed with its target.
//!
//! Run with `cargo bench -p wasm-actor` (or `cargo xtask bench`). Without `--bench` (as under
//! `cargo test --benches`) it runs a small smoke pass that checks the harness and prints no
//! targets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "actor/baseline.rs"]
mod baseline;
#[path = "actor/cores.rs"]
mod cores;
#[path = "actor/count.rs"]
mod count;
#[path = "actor/operate.rs"]
mod operate;
#[path = "actor/spawn.rs"]
mod spawn;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use wasm_actor::{ActorSystem, ComponentSpec, Placement, SystemConfig};
use wasm_core::ComponentId;
use wasm_runtime::{LoadedComponent, MemoryStorage, WasmEngine};
use wasm_security::{Grants, MessagingAction, MessagingGrant};

/// How much work one pass does.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub runs: usize,
    pub messages: u64,
    pub round_trips: u64,
    pub spawns: usize,
}

const FULL: Sizes = Sizes {
    runs: 7,
    messages: 20_000,
    round_trips: 10_000,
    spawns: 100_000,
};

const SMOKE: Sizes = Sizes {
    runs: 1,
    messages: 200,
    round_trips: 100,
    spawns: 50,
};

const SENDER: &str = "bench/sender/1";
const RECEIVER: &str = "bench/receiver/1";
const PINGER: &str = "bench/pinger/1";
const ECHO: &str = "bench/echo/1";

/// The tokio runtime the actors run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    CurrentThread,
    MultiThread,
    /// `Placement::Shards(2)`, driven from a current-thread runtime.
    Shards,
}

impl Flavour {
    /// All flavours, or the one `AIRSSYS_BENCH_FLAVOUR` names.
    fn selected() -> Vec<Flavour> {
        match Self::named() {
            Some(only) => vec![only],
            None => vec![
                Flavour::CurrentThread,
                Flavour::MultiThread,
                Flavour::Shards,
            ],
        }
    }

    /// The flavour `AIRSSYS_BENCH_FLAVOUR` names (`current`, `multi` or `shards`), if any.
    pub fn named() -> Option<Flavour> {
        match std::env::var("AIRSSYS_BENCH_FLAVOUR").ok()?.as_str() {
            "current" => Some(Flavour::CurrentThread),
            "multi" => Some(Flavour::MultiThread),
            "shards" => Some(Flavour::Shards),
            _ => None,
        }
    }

    /// Where the system places its components.
    pub fn placement(self) -> Placement {
        match self {
            Flavour::Shards => Placement::Shards(2),
            _ => Placement::Caller,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Flavour::CurrentThread => "current-thread runtime",
            Flavour::MultiThread => "multi-thread runtime (2 workers)",
            Flavour::Shards => "2 shards (a current-thread runtime each)",
        }
    }

    pub fn runtime(self) -> Runtime {
        let mut builder = match self {
            Flavour::CurrentThread | Flavour::Shards => {
                tokio::runtime::Builder::new_current_thread()
            }
            Flavour::MultiThread => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(2);
                b
            }
        };
        builder.enable_all().build().unwrap()
    }
}

pub fn id(text: &str) -> ComponentId {
    text.parse().unwrap()
}

pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The `q`-quantile (0..1) of sorted nanosecond samples, in microseconds.
pub fn quantile_us(sorted: &[u64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i] as f64 / 1e3
}

pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

pub fn talk_to_all() -> Grants {
    Grants {
        messaging: vec![MessagingGrant {
            actions: vec![MessagingAction::Send, MessagingAction::Request],
            targets: "**".into(),
        }],
        ..Grants::default()
    }
}

/// A host request with a text command; the text reply.
async fn ask(system: &ActorSystem, to: &str, command: &str) -> String {
    let reply = system
        .request(
            &id(to),
            command.as_bytes().to_vec(),
            Duration::from_secs(60),
        )
        .await
        .unwrap_or_else(|e| panic!("{to} `{command}`: {e}"));
    String::from_utf8(reply).unwrap()
}

/// The actors of one benchmark on one runtime.
#[derive(Debug)]
pub struct Actors {
    pub rt: Runtime,
    pub system: Arc<ActorSystem>,
}

impl Actors {
    pub fn start(flavour: Flavour, engine: &WasmEngine, specs: Vec<ComponentSpec>) -> Self {
        let rt = flavour.runtime();
        let system = rt.block_on(async {
            let system = ActorSystem::new(
                engine.clone(),
                Arc::new(MemoryStorage::new()),
                SystemConfig {
                    placement: flavour.placement(),
                    ..SystemConfig::default()
                },
            );
            for spec in specs {
                system.start_component(spec).await.unwrap();
            }
            Arc::new(system)
        });
        Self { rt, system }
    }

    pub fn stop(self) {
        self.rt.block_on(self.system.shutdown());
    }
}

/// 1. One-way throughput: `pinger` blasts `n` ticks at a counting `pinger` in one call; the
///    run ends when the receiver has counted them all (its `count` request queues behind them).
fn throughput(engine: &WasmEngine, pinger: &LoadedComponent, sizes: Sizes, full: bool) {
    let n = sizes.messages;
    let specs = || {
        vec![
            ComponentSpec::new(id(SENDER), pinger.clone()).with_grants(talk_to_all()),
            ComponentSpec::new(id(RECEIVER), pinger.clone())
                .with_mailbox(n as usize + 16)
                .with_neighbour(id(SENDER)),
        ]
    };
    let actors: Vec<(Flavour, Actors)> = Flavour::selected()
        .into_iter()
        .map(|f| (f, Actors::start(f, engine, specs())))
        .collect();
    let mut bare = baseline::BarePair::new(engine, pinger);
    let mut bare_rates = Vec::new();
    let mut sender_shares = Vec::new();
    let mut actor_rates = vec![Vec::new(); actors.len()];
    for run in 0..=sizes.runs {
        let (bare_time, sending) = bare.blast(n);
        for (k, (_, a)) in actors.iter().enumerate() {
            let time = a.rt.block_on(async {
                let start = Instant::now();
                let sent = ask(&a.system, SENDER, &format!("blast {RECEIVER} {n}")).await;
                assert_eq!(sent, format!("sent {n}"));
                let count = ask(&a.system, RECEIVER, "count").await;
                let time = start.elapsed();
                assert_eq!(count, (n * (run as u64 + 1)).to_string(), "ticks lost");
                time
            });
            if run > 0 {
                actor_rates[k].push(n as f64 / time.as_secs_f64());
            }
        }
        if run > 0 {
            // Run 0 warms up.
            bare_rates.push(n as f64 / bare_time.as_secs_f64());
            sender_shares.push(sending.as_secs_f64() / bare_time.as_secs_f64());
        }
    }
    let bare_rate = median(bare_rates);
    println!(
        "\n1. one-way throughput, {n} messages per run, median of {} runs",
        sizes.runs
    );
    println!(
        "   baseline (bare): pinger `blast` into a collecting router + {n} receiver \
         handle-message calls + `count`, direct ComponentInstance calls on one thread: {bare_rate:.0} msg/s"
    );
    println!(
        "   (of the bare time, the sender's blast is {:.0}%, the receiver's calls the rest)",
        median(sender_shares) * 100.0
    );
    for ((flavour, a), rates) in actors.into_iter().zip(actor_rates) {
        let rate = median(rates);
        let ratio = rate / bare_rate;
        print!(
            "   actors on {}: {:.0} msg/s, ratio to bare {:.2}",
            flavour.name(),
            rate,
            ratio
        );
        if full {
            print!(" (target >= 0.50: {})", verdict(ratio >= 0.5));
        }
        println!();
        a.stop();
    }
}

/// Round trips measured by `pinger` itself, from just before `request` to its callback,
/// polled for every `every` (a poll is one more message in the pinger's mailbox: every 2 ms,
/// noise well below 1%).
async fn actor_round_trips(system: &ActorSystem, m: u64, every: Duration) -> Vec<u64> {
    let started = ask(system, PINGER, &format!("rtt {ECHO} {m}")).await;
    assert_eq!(started, "started");
    for _ in 0..60_000 {
        tokio::time::sleep(every).await;
        let reply = ask(system, PINGER, "latencies").await;
        if reply.starts_with("pending") {
            continue;
        }
        assert!(!reply.starts_with("failed"), "error callbacks: {reply}");
        let mut samples: Vec<u64> = reply.split(',').map(|s| s.parse().unwrap()).collect();
        assert_eq!(samples.len() as u64, m);
        samples.sort_unstable();
        return samples;
    }
    panic!("the round trips never finished");
}

/// 2. Request-response round trip between two components, against a bare tokio ping-pong
///    between two tasks on the same runtime flavour.
fn round_trips(
    engine: &WasmEngine,
    pinger: &LoadedComponent,
    echo: &LoadedComponent,
    sizes: Sizes,
    full: bool,
) {
    let m = sizes.round_trips;
    println!(
        "\n2. request-response round trip, {m} sequential requests per run, median of {} runs \
         of each run's p50 and p99",
        sizes.runs
    );
    let wasm_p50 = baseline::echo_call_p50_us(engine, echo, m);
    println!(
        "   reference: one echo handle-message as a direct ComponentInstance call: p50 {wasm_p50:.2} us"
    );
    // The floor: the same two guest calls per round trip, direct, with a router that
    // answers the pinger's `request` at once.
    let mut floor = baseline::BareRoundTrip::new(engine, pinger, echo);
    for flavour in Flavour::selected() {
        let specs = vec![
            ComponentSpec::new(id(PINGER), pinger.clone()).with_grants(talk_to_all()),
            ComponentSpec::new(id(ECHO), echo.clone()).with_neighbour(id(PINGER)),
        ];
        let a = Actors::start(flavour, engine, specs);
        let (mut p50s, mut p99s, mut tokio50s, mut tokio99s) = (vec![], vec![], vec![], vec![]);
        let (mut floor50s, mut ratios) = (vec![], vec![]);
        for run in 0..=sizes.runs {
            let bare = a.rt.block_on(baseline::tokio_ping_pong(m));
            let direct = floor.run(m);
            let ours =
                a.rt.block_on(actor_round_trips(&a.system, m, Duration::from_millis(2)));
            if run > 0 {
                tokio50s.push(quantile_us(&bare, 0.5));
                tokio99s.push(quantile_us(&bare, 0.99));
                p50s.push(quantile_us(&ours, 0.5));
                p99s.push(quantile_us(&ours, 0.99));
                floor50s.push(quantile_us(&direct, 0.5));
                ratios.push(quantile_us(&ours, 0.5) / quantile_us(&direct, 0.5));
            }
        }
        let (p50, p99) = (median(p50s), median(p99s));
        let (t50, t99) = (median(tokio50s), median(tokio99s));
        let (f50, to_floor) = (median(floor50s), median(ratios));
        println!("   on {}:", flavour.name());
        println!(
            "     baseline tokio ping-pong between two tasks: p50 {t50:.2} us, p99 {t99:.2} us"
        );
        println!(
            "     floor: the same two instances called directly (request- and callback-shaped \
             messages, the request answered at once): p50 {f50:.2} us"
        );
        print!(
            "     components (pinger -> echo -> callback): p50 {p50:.2} us, p99 {p99:.2} us, \
             p50 ratio to tokio {:.1}",
            p50 / t50
        );
        if full {
            print!(" (target p50 <= 5 us: {})", verdict(p50 <= 5.0));
        }
        println!();
        let tail = p99 / p50;
        print!(
            "     round trip p50 against the floor: ratio {to_floor:.2} (against one bare echo \
             call {:.2})",
            p50 / wasm_p50
        );
        if full && flavour == Flavour::Shards {
            print!(
                " (target <= 1.3x on one shard: {})",
                verdict(to_floor <= 1.3)
            );
        }
        print!("; p99 against p50: ratio {tail:.2}");
        if full && flavour != Flavour::MultiThread {
            print!(" (target <= 3x: {})", verdict(tail <= 3.0));
        } else if full {
            // The target is for one shard; on tokio's work-stealing runtime the bare ping-pong
            // has a long tail of its own.
            print!(" (no target here: tokio's own ping-pong {:.2})", t99 / t50);
        }
        println!();
        a.stop();
    }
}

fn main() {
    if let Some(mode) = spawn::child_mode() {
        spawn::child(&mode);
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full { FULL } else { SMOKE };
    if !full {
        println!("smoke pass (run `cargo bench -p wasm-actor` for the figures)");
    }
    let engine = WasmEngine::new(wasm_runtime::EngineConfig::default()).unwrap();
    let load = |name: &str| {
        engine
            .loader()
            .load_bytes(name, &test_fixtures::fixture(name))
            .unwrap()
    };
    let pinger = load("pinger");
    let echo = load("echo");
    // `AIRSSYS_BENCH_ONLY=throughput,rtt,spawn,upgrade,observability,cores` picks sections and `AIRSSYS_BENCH_FLAVOUR=current`
    // or `multi` one runtime flavour (for profiling).
    let only = std::env::var("AIRSSYS_BENCH_ONLY").unwrap_or_default();
    let wanted = |section: &str| only.is_empty() || only.split(',').any(|s| s == section);
    if wanted("throughput") {
        throughput(&engine, &pinger, sizes, full);
    }
    if wanted("rtt") {
        round_trips(&engine, &pinger, &echo, sizes, full);
    }
    if wanted("spawn") {
        spawn::report(sizes, full);
    }
    if wanted("upgrade") {
        operate::upgrade_pause(&engine, &echo, sizes, full);
    }
    if wanted("observability") {
        operate::observed_throughput(&engine, &pinger, sizes, full);
    }
    if wanted("cores") {
        cores::report(&engine, &pinger, sizes, full);
    }
    // Only when named: it is meant for callgrind.
    if only.split(',').any(|s| s == "count") {
        count::run(&engine, &pinger, &echo);
    }
}
