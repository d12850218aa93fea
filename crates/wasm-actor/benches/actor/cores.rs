//! Section 6 (issue 14, part 3): one-way throughput of many independent pairs, with the
//! actors on one core (a current-thread runtime) and on both (the multi-thread runtime with
//! two workers), in the same run.

use std::time::Instant;

use wasm_actor::ComponentSpec;
use wasm_runtime::{LoadedComponent, WasmEngine};

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
                        .with_mailbox(n as usize + 16),
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

/// Prints the aggregate rate on each runtime and the ratio of both cores to one.
pub fn report(engine: &WasmEngine, pinger: &LoadedComponent, sizes: Sizes, full: bool) {
    let n = sizes.messages;
    let one = Pairs::start(Flavour::CurrentThread, engine, pinger, n);
    let all = Pairs::start(Flavour::MultiThread, engine, pinger, n);
    let total = n as f64 * PAIRS as f64;
    let (mut one_rates, mut all_rates) = (Vec::new(), Vec::new());
    for run in 0..=sizes.runs {
        let k = run as u64 + 1;
        let (t1, t2) = (one.run(n, k), all.run(n, k));
        if run > 0 {
            // Run 0 warms up.
            one_rates.push(total / t1);
            all_rates.push(total / t2);
        }
    }
    let (r1, r2) = (median(one_rates), median(all_rates));
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "\n6. one-way throughput of {PAIRS} independent pairs, {n} messages each per run, \
         median of {} runs ({cores} cores here)",
        sizes.runs
    );
    println!(
        "   baseline: the pairs on one core ({}): {r1:.0} msg/s",
        Flavour::CurrentThread.name()
    );
    print!(
        "   the pairs on {}: {r2:.0} msg/s, ratio to one core {:.2}",
        Flavour::MultiThread.name(),
        r2 / r1
    );
    if full {
        print!(
            " (target >= 1.70 on two cores: {})",
            verdict(r2 / r1 >= 1.7)
        );
    }
    println!();
    one.stop();
    all.stop();
}
