//! Operating a running system (issue 12): the pause of a live upgrade under a steady stream,
//! and throughput with the per-message spans recorded by a subscriber against none.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;
use wasm_actor::{ActorSystem, ComponentSpec, SystemConfig};
use wasm_core::{ComponentConfig, ResourceLimits};
use wasm_runtime::{
    ComponentInstance, HostServices, InstanceSpec, LoadedComponent, MemoryStorage, WasmEngine,
};
use wasm_security::CapabilitySet;

use crate::{Flavour, RECEIVER, SENDER, Sizes, ask, id, median, quantile_us, talk_to_all, verdict};

const ECHO: &str = "bench/echo/1";

/// One bare build of a new version, as the upgrade does it: instantiate, `initialize`,
/// `metadata`, with no actor around.
async fn bare_build(engine: &WasmEngine, echo: &LoadedComponent) -> Duration {
    let start = Instant::now();
    let spec = InstanceSpec {
        capabilities: Arc::new(CapabilitySet::deny_all(id(ECHO))),
        services: HostServices::standalone(),
        limits: ResourceLimits::default(),
    };
    let mut instance = ComponentInstance::instantiate(engine, echo, spec)
        .await
        .unwrap();
    let config = ComponentConfig {
        env_vars: Vec::new(),
        config_data: None,
        resource_limits: ResourceLimits::default(),
    };
    instance.initialize(&config).await.unwrap().unwrap();
    instance.metadata().await.unwrap();
    let took = start.elapsed();
    drop(instance);
    took
}

/// 4. Live upgrade: echo is upgraded (to the same code) `upgrades` times while the host keeps
///    sending to it; each upgrade's pause is bounded by the whole `upgrade` call (the message
///    in hand, then the new instance built, then the switch: the component handles nothing in
///    between). Against a bare build of the same instance in the same run.
pub fn upgrade_pause(engine: &WasmEngine, echo: &LoadedComponent, sizes: Sizes, full: bool) {
    let upgrades = if full { 100 } else { 5 };
    let rt = Flavour::MultiThread.runtime();
    let (pauses, bare, handled) = rt.block_on(async {
        let system = Arc::new(ActorSystem::new(
            engine.clone(),
            Arc::new(MemoryStorage::new()),
            SystemConfig::default(),
        ));
        system
            .start_component(ComponentSpec::new(id(ECHO), echo.clone()).with_mailbox(256))
            .await
            .unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sender = tokio::spawn({
            let (system, stop) = (system.clone(), stop.clone());
            async move {
                let mut sent = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    system
                        .send_timeout(&id(ECHO), b"x".to_vec(), Duration::from_secs(30))
                        .await
                        .unwrap();
                    sent += 1;
                }
                sent
            }
        });
        let mut pauses = Vec::with_capacity(upgrades);
        let mut bare = Vec::with_capacity(upgrades);
        for _ in 0..=upgrades {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let start = Instant::now();
            system.upgrade(&id(ECHO), echo.clone()).await.unwrap();
            pauses.push(start.elapsed().as_nanos() as u64);
            bare.push(bare_build(engine, echo).await.as_nanos() as u64);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let sent = sender.await.unwrap();
        system.wait_idle().await;
        let handled = system.stats().messages_handled;
        assert_eq!(handled, sent, "messages lost across upgrades");
        system.shutdown().await;
        // The first upgrade warms up.
        (pauses[1..].to_vec(), bare[1..].to_vec(), handled)
    });
    let mut pauses = pauses;
    let mut bare = bare;
    pauses.sort_unstable();
    bare.sort_unstable();
    let p50 = quantile_us(&pauses, 0.5);
    let b50 = quantile_us(&bare, 0.5);
    let _ = sizes;
    println!(
        "\n4. live upgrade of echo under a steady stream from the host, {upgrades} upgrades \
         (echo on a shard, the default; the host sends from a multi-thread runtime), \
         {handled} messages handled, none lost"
    );
    println!(
        "   baseline: a bare build of the same instance (instantiate + initialize + metadata): p50 {b50:.1} us"
    );
    print!(
        "   upgrade pause (the whole upgrade call): p50 {p50:.1} us, p99 {:.1} us, ratio to bare {:.1}",
        quantile_us(&pauses, 0.99),
        p50 / b50
    );
    if full {
        print!(" (target p50 <= 5 ms: {})", verdict(p50 <= 5_000.0));
    }
    println!();
}

/// One blast of `n` ticks from the sender to the receiver and its count: messages per second.
fn blast_rate(rt: &tokio::runtime::Runtime, system: &ActorSystem, n: u64, expected: u64) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        let sent = ask(system, SENDER, &format!("blast {RECEIVER} {n}")).await;
        assert_eq!(sent, format!("sent {n}"));
        let count = ask(system, RECEIVER, "count").await;
        assert_eq!(count, expected.to_string(), "ticks lost");
        n as f64 / start.elapsed().as_secs_f64()
    })
}

/// A sender and a receiver `pinger` on a current-thread runtime, with or without
/// per-message observability. Both run on that runtime's thread (`Placement::Caller`): on
/// shards the pair would cross threads, and the section would measure the hand-off's noise
/// rather than the instrumentation (about 180 instructions a message, by callgrind).
fn pair(
    engine: &WasmEngine,
    pinger: &LoadedComponent,
    n: u64,
    observe: bool,
) -> (tokio::runtime::Runtime, ActorSystem) {
    let flavour = Flavour::CurrentThread;
    let rt = flavour.runtime();
    let system = rt.block_on(async {
        let system = ActorSystem::new(
            engine.clone(),
            Arc::new(MemoryStorage::new()),
            SystemConfig {
                observe,
                placement: flavour.placement(),
                ..SystemConfig::default()
            },
        );
        system
            .start_component(
                ComponentSpec::new(id(SENDER), pinger.clone()).with_grants(talk_to_all()),
            )
            .await
            .unwrap();
        system
            .start_component(
                ComponentSpec::new(id(RECEIVER), pinger.clone()).with_mailbox(n as usize + 16),
            )
            .await
            .unwrap();
        system
    });
    (rt, system)
}

/// 5. Observability cost: one-way throughput (as in 1, current-thread runtime) with
///    per-message observability on (per-component metrics, a `handle` span per message) and
///    no subscriber, against it off (`SystemConfig::observe`), alternating runs; and, for
///    reference, on with a subscriber that records every span (no exporter).
pub fn observed_throughput(
    engine: &WasmEngine,
    pinger: &LoadedComponent,
    sizes: Sizes,
    full: bool,
) {
    let n = sizes.messages;
    // For a profiler (callgrind counts instructions, repeatable on a noisy machine):
    // `AIRSSYS_BENCH_OBSERVE=on` or `off` runs that system alone.
    if let Ok(only) = std::env::var("AIRSSYS_BENCH_OBSERVE") {
        let (rt, system) = pair(engine, pinger, n, only == "on");
        let rates: Vec<f64> = (1..=sizes.runs as u64 * 3)
            .map(|k| blast_rate(&rt, &system, n, n * k))
            .collect();
        println!("observability {only} alone: {:.0} msg/s", median(rates));
        rt.block_on(system.shutdown());
        return;
    }
    let (rt_off, off_system) = pair(engine, pinger, n, false);
    // `AIRSSYS_AA=1` runs off against off: an A/A run that shows the machine's noise.
    let (rt_on, on_system) = pair(engine, pinger, n, std::env::var_os("AIRSSYS_AA").is_none());
    let subscriber = || {
        tracing_subscriber::registry()
            .with(Targets::new().with_target("airssys::message", tracing::Level::INFO))
    };
    let (mut off, mut on, mut recorded) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ratios, mut recorded_ratios) = (Vec::new(), Vec::new());
    let (mut off_total, mut on_total) = (0, 0);
    // Three times the runs of the other sections: each is short, and the ratio of each run's
    // adjacent measurements cancels load that lasts longer than one run.
    let runs = sizes.runs * 3;
    for run in 0..=runs {
        // Which goes first alternates: no order effect (a warmer cache) favours either.
        off_total += n;
        on_total += n;
        let (plain, observed) = if run % 2 == 0 {
            let plain = blast_rate(&rt_off, &off_system, n, off_total);
            (plain, blast_rate(&rt_on, &on_system, n, on_total))
        } else {
            let observed = blast_rate(&rt_on, &on_system, n, on_total);
            (blast_rate(&rt_off, &off_system, n, off_total), observed)
        };
        on_total += n;
        let traced = tracing::subscriber::with_default(subscriber(), || {
            assert!(
                tracing::enabled!(target: "airssys::message", tracing::Level::INFO),
                "the spans are on"
            );
            blast_rate(&rt_on, &on_system, n, on_total)
        });
        if run > 0 {
            off.push(plain);
            on.push(observed);
            recorded.push(traced);
            ratios.push(observed / plain);
            recorded_ratios.push(traced / plain);
        }
    }
    rt_off.block_on(off_system.shutdown());
    rt_on.block_on(on_system.shutdown());
    let (off, on, recorded) = (median(off), median(on), median(recorded));
    let ratio = median(ratios);
    println!(
        "\n5. one-way throughput with per-message observability, {n} messages per run, {runs} runs \
         alternating; rates are medians, ratios the median of each run's ratio"
    );
    println!("   baseline: observability off (system-wide counters only): {off:.0} msg/s");
    print!(
        "   on (per-component metrics, a span per message, no subscriber): {on:.0} msg/s, ratio {ratio:.3}"
    );
    if full {
        print!(" (target >= 0.97: {})", verdict(ratio >= 0.97));
    }
    println!();
    println!(
        "   on, with a subscriber recording every span (no exporter): {recorded:.0} msg/s, ratio {:.3}",
        median(recorded_ratios)
    );
}
