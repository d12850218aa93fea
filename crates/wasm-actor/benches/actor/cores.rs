//! Section 6 (issue 14, part 3): one-way throughput of many independent pairs, with the
//! actors on one core (a current-thread runtime) and on both (the multi-thread runtime with
//! two workers, and two shards with each receiver placed next to its sender), in the same
//! run.

use std::time::Instant;

use wasm_actor::ComponentSpec;
use wasm_runtime::{LoadedComponent, WasmEngine};

use crate::baseline::BarePair;
use crate::{Actors, Flavour, Sizes, ask, id, median, talk_to_all, verdict};

/// Independent sender-receiver pairs: enough that both workers always have a pair to run.
const PAIRS: usize = 8;

struct Pairs(Actors);

impl Pairs {
    fn start(flavour: Flavour, engine: &WasmEngine, pinger: &LoadedComponent, n: u64) -> Self {
        let specs = (0..PAIRS)
            .flat_map(|p| {
                [
                    ComponentSpec::new(id(&format!("pairs/sender/{p}")), pinger.clone())
                        .with_grants(talk_to_all()),
                    ComponentSpec::new(id(&format!("pairs/receiver/{p}")), pinger.clone())
                        .with_mailbox(n as usize + 16)
                        .with_neighbour(id(&format!("pairs/sender/{p}"))),
                ]
            })
            .collect();
        Self(Actors::start(flavour, engine, specs))
    }

    /// Every sender blasts `n` ticks at its receiver at once; the time until every receiver
    /// has counted all of this run's ticks (`count` queues behind them).
    fn run(&self, n: u64, run: u64) -> f64 {
        self.0.rt.block_on(async {
            let start = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for p in 0..PAIRS {
                let system = self.0.system.clone();
                tasks.spawn(async move {
                    let receiver = format!("pairs/receiver/{p}");
                    let sent = ask(
                        &system,
                        &format!("pairs/sender/{p}"),
                        &format!("blast {receiver} {n}"),
                    )
                    .await;
                    assert_eq!(sent, format!("sent {n}"));
                    let count = ask(&system, &receiver, "count").await;
                    assert_eq!(count, (n * run).to_string(), "ticks lost");
                });
            }
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
            start.elapsed().as_secs_f64()
        })
    }

    fn stop(self) {
        self.0.stop();
    }
}

/// The machine's own ceiling: `PAIRS` bare pairs (direct instance calls, no actors) blasting
/// on `threads` OS threads at once (the pairs split between them); the elapsed time.
fn bare_run(pairs: &mut [BarePair], threads: usize, n: u64) -> f64 {
    let chunk = pairs.len().div_ceil(threads);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for part in pairs.chunks_mut(chunk) {
            scope.spawn(move || {
                for pair in part {
                    pair.blast(n);
                }
            });
        }
    });
    start.elapsed().as_secs_f64()
}

/// Prints the aggregate rate on one core and, for each placement over both, its rate and
/// ratio to one core; and the same ratio of the bare wasm work on two threads, the most
/// this machine's two cores give.
pub fn report(engine: &WasmEngine, pinger: &LoadedComponent, sizes: Sizes, full: bool) {
    let n = sizes.messages;
    let mut bare: Vec<BarePair> = (0..PAIRS).map(|_| BarePair::new(engine, pinger)).collect();
    let (mut bare_one, mut bare_two) = (Vec::new(), Vec::new());
    let one = Pairs::start(Flavour::CurrentThread, engine, pinger, n);
    let all: Vec<(Flavour, Pairs)> = [Flavour::MultiThread, Flavour::Shards]
        .into_iter()
        .map(|f| (f, Pairs::start(f, engine, pinger, n)))
        .collect();
    let total = n as f64 * PAIRS as f64;
    let mut one_rates = Vec::new();
    let mut all_rates = vec![Vec::new(); all.len()];
    for run in 0..=sizes.runs {
        let k = run as u64 + 1;
        let t1 = one.run(n, k);
        let times: Vec<f64> = all.iter().map(|(_, pairs)| pairs.run(n, k)).collect();
        let (b1, b2) = (bare_run(&mut bare, 1, n), bare_run(&mut bare, 2, n));
        if run > 0 {
            // Run 0 warms up.
            bare_one.push(total / b1);
            bare_two.push(total / b2);
            one_rates.push(total / t1);
            for (rates, t) in all_rates.iter_mut().zip(times) {
                rates.push(total / t);
            }
        }
    }
    let r1 = median(one_rates);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "\n6. one-way throughput of {PAIRS} independent pairs, {n} messages each per run, \
         median of {} runs ({cores} cores here)",
        sizes.runs
    );
    let (b1, b2) = (median(bare_one), median(bare_two));
    println!(
        "   the machine: the same wasm work as direct instance calls (no actors) on one \
         thread {b1:.0} msg/s, on two threads {b2:.0} msg/s, ratio {:.2}",
        b2 / b1
    );
    println!(
        "   baseline: the pairs on one core ({}): {r1:.0} msg/s",
        Flavour::CurrentThread.name()
    );
    for ((flavour, pairs), rates) in all.into_iter().zip(all_rates) {
        let r2 = median(rates);
        print!(
            "   the pairs on {}: {r2:.0} msg/s, ratio to one core {:.2}",
            flavour.name(),
            r2 / r1
        );
        if full {
            print!(
                " (target >= 1.70 on two cores: {})",
                verdict(r2 / r1 >= 1.7)
            );
        }
        println!();
        pairs.stop();
    }
    one.stop();
}
