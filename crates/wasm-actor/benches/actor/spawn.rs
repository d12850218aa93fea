//! 3. Spawning many `echo` components. Each run is a fresh child process (this binary again,
//!    with `AIRSSYS_BENCH_SPAWN` set), so resident memory starts from the same state. The
//!    baseline (`bare`) makes the same instances on the same pool with direct
//!    `ComponentInstance` calls and keeps them alive: what wasmtime and the kernel cost for a
//!    fresh pool slot, a fiber stack and the first calls, before any actor exists.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasm_actor::{ActorSystem, ComponentSpec, SystemConfig};
use wasm_core::{ComponentConfig, ResourceLimits};
use wasm_runtime::{
    ComponentInstance, EngineConfig, HostServices, InstanceSpec, LoadedComponent, MemoryStorage,
    PoolingConfig, WasmEngine,
};
use wasm_security::CapabilitySet;

use crate::{Flavour, Sizes, id, median, verdict};

const MODE_VAR: &str = "AIRSSYS_BENCH_SPAWN";
const COUNT_VAR: &str = "AIRSSYS_BENCH_SPAWN_COUNT";

/// The allocators measured: the pool sized for the run, and on-demand allocation. `bare` is
/// the baseline: the same instances made and kept alive by direct `ComponentInstance` calls
/// (instantiate, `initialize`, `metadata`) on the pool, with no actor, mailbox or registry.
const MODES: [&str; 3] = ["bare", "pooled", "on-demand"];

pub fn child_mode() -> Option<String> {
    std::env::var(MODE_VAR).ok()
}

/// VmRSS of this process in KiB.
fn rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One run in this (child) process; prints `SPAWN <pooled> <us/spawn> <KiB/component> <us/stop>`.
pub fn child(mode: &str) {
    let n: usize = std::env::var(COUNT_VAR).unwrap().parse().unwrap();
    let pooling = (mode != "on-demand").then_some(PoolingConfig {
        max_instances: u32::try_from(n).unwrap() + 16,
        max_memory_bytes: 64 * 1024 * 1024,
    });
    let engine = WasmEngine::new(EngineConfig {
        pooling,
        ..EngineConfig::default()
    })
    .unwrap();
    let echo = engine
        .loader()
        .load_bytes("echo", &test_fixtures::fixture("echo"))
        .unwrap();
    let rt = Flavour::CurrentThread.runtime();
    if mode == "bare" {
        rt.block_on(bare_spawns(&engine, &echo, n));
        return;
    }
    rt.block_on(async {
        let system = ActorSystem::new(
            engine.clone(),
            Arc::new(MemoryStorage::new()),
            SystemConfig::default(),
        );
        // One component started and stopped first: one-time setup is not counted.
        let warm = id("bench/warm/0");
        system
            .start_component(ComponentSpec::new(warm.clone(), echo.clone()))
            .await
            .unwrap();
        system.stop_component(&warm).await.unwrap();
        let before = rss_kib();
        let start = Instant::now();
        for i in 0..n {
            let spec = ComponentSpec::new(id(&format!("bench/echo/{i}")), echo.clone());
            if let Err(e) = system.start_component(spec).await {
                // Reported, not a crash: on-demand allocation can run out of mappings.
                println!("SPAWN-FAILED {i} {e}");
                system.shutdown().await;
                return;
            }
        }
        let spawn = start.elapsed();
        let after = rss_kib();
        assert_eq!(system.registry().len(), n);
        let last = id(&format!("bench/echo/{}", n - 1));
        let reply = system
            .request(
                &last,
                b"alive?".to_vec(),
                std::time::Duration::from_secs(10),
            )
            .await
            .unwrap();
        assert_eq!(reply, b"alive?");
        let start = Instant::now();
        system.shutdown().await;
        print_run(&engine, n, spawn, after - before, start.elapsed());
    });
}

/// The line a child prints: `SPAWN <pooled> <us/spawn> <KiB/component> <us/stop>`.
fn print_run(engine: &WasmEngine, n: usize, spawn: Duration, kib: f64, stop: Duration) {
    println!(
        "SPAWN {} {} {} {}",
        engine.pooling_active(),
        spawn.as_secs_f64() * 1e6 / n as f64,
        kib / n as f64,
        stop.as_secs_f64() * 1e6 / n as f64
    );
}

/// The baseline: `n` echo instances made and kept alive without actors.
async fn bare_spawns(engine: &WasmEngine, echo: &LoadedComponent, n: usize) {
    let config = ComponentConfig {
        env_vars: Vec::new(),
        config_data: None,
        resource_limits: ResourceLimits::default(),
    };
    let config = &config;
    let make = |i: usize| {
        let spec = InstanceSpec {
            capabilities: Arc::new(CapabilitySet::deny_all(id(&format!("bench/echo/{i}")))),
            services: HostServices::standalone(),
            limits: ResourceLimits::default(),
        };
        async move {
            let mut instance = ComponentInstance::instantiate(engine, echo, spec)
                .await
                .unwrap();
            instance.initialize(config).await.unwrap().unwrap();
            instance.metadata().await.unwrap();
            instance
        }
    };
    drop(make(n).await);
    let before = rss_kib();
    let start = Instant::now();
    let mut live = Vec::with_capacity(n);
    for i in 0..n {
        live.push(make(i).await);
    }
    let spawn = start.elapsed();
    let after = rss_kib();
    let start = Instant::now();
    drop(live);
    print_run(engine, n, spawn, after - before, start.elapsed());
}

struct Run {
    pooled: bool,
    spawn_us: f64,
    kib: f64,
    stop_us: f64,
}

/// One run in a child process: its figures, or where and why spawning failed.
fn run_child(mode: &str, n: usize) -> Result<Run, String> {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(MODE_VAR, mode)
        .env(COUNT_VAR, n.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if let Some(failure) = stdout.lines().find_map(|l| l.strip_prefix("SPAWN-FAILED ")) {
        let (at, error) = failure.split_once(' ').unwrap_or((failure, ""));
        return Err(format!("failed after {at} components: {error}"));
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SPAWN "))
        .unwrap_or_else(|| {
            panic!(
                "spawn run ({mode}) failed: {}\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let f: Vec<&str> = line.split(' ').collect();
    Ok(Run {
        pooled: f[0] == "true",
        spawn_us: f[1].parse().unwrap(),
        kib: f[2].parse().unwrap(),
        stop_us: f[3].parse().unwrap(),
    })
}

pub fn report(sizes: Sizes, full: bool) {
    let n = sizes.spawns;
    let rounds = sizes.runs.min(5);
    println!(
        "\n3. spawning {n} echo components (start_component, one group each, current-thread \
         runtime), median of {rounds} rounds, each run a fresh process, the modes interleaved"
    );
    // Interleaved, so a slow spell of the machine hits every mode alike.
    let mut results: Vec<Result<Vec<Run>, String>> = MODES.iter().map(|_| Ok(Vec::new())).collect();
    for _ in 0..rounds {
        for (mode, result) in MODES.iter().zip(&mut results) {
            if let Ok(runs) = result {
                match run_child(mode, n) {
                    Ok(run) => runs.push(run),
                    Err(failure) => *result = Err(failure),
                }
            }
        }
    }
    let bare: Option<Vec<f64>> = match &results[0] {
        Ok(runs) => Some(runs.iter().map(|r| r.spawn_us).collect()),
        Err(_) => None,
    };
    for (mode, result) in MODES.iter().zip(results) {
        let runs = match result {
            Ok(runs) => runs,
            Err(failure) => {
                println!("   {mode}: {failure}");
                continue;
            }
        };
        let pooled = runs.iter().all(|r| r.pooled);
        let spawn = median(runs.iter().map(|r| r.spawn_us).collect());
        let kib = median(runs.iter().map(|r| r.kib).collect());
        let stop = median(runs.iter().map(|r| r.stop_us).collect());
        let label = if *mode != "on-demand" && !pooled {
            format!("{mode} (pool requested, fell back to on-demand)")
        } else {
            (*mode).to_owned()
        };
        print!("   {label}: {spawn:.1} us per spawn");
        if let (Some(bare), true) = (&bare, *mode != "bare") {
            // Each run against the bare run of its own round.
            let ratios = runs.iter().zip(bare).map(|(r, b)| r.spawn_us / b).collect();
            print!(", ratio to bare {:.2}", median(ratios));
        }
        if full && *mode != "bare" {
            print!(" (target <= 50 us: {})", verdict(spawn <= 50.0));
        }
        print!(", {kib:.1} KiB resident per idle component");
        if full && *mode != "bare" {
            print!(" (target <= 256 KiB: {})", verdict(kib <= 256.0));
        }
        println!(", shutdown {stop:.1} us per component");
    }
}
