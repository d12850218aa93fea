//! 3. Many live `echo` components on one host (issue 14, part 2). Each run is a fresh child
//!    process (this binary again, with `AIRSSYS_BENCH_SPAWN` set), so resident memory and the
//!    memory map start from the same state. A run spawns `n` components on fresh pool slots
//!    (cold), asks each for one reply once all are up, stops them all, and spawns `n` again on
//!    the reused slots (warm).
//!
//!    The baseline (`bare`) makes the same instances on the same pool with direct
//!    `ComponentInstance` calls (instantiate, `initialize`, `metadata`), sharing one set of
//!    host services (with its audit buffer) as the actors share the system's, and keeps them
//!    alive:
//!    what wasmtime and the kernel cost for a pool slot, a fiber stack and the first calls,
//!    before any actor exists. `pooled` runs the actors on the default shards,
//!    `pooled-caller` on the one thread that starts them (`Placement::Caller`), and
//!    `on-demand` is the actor run without the pool, for comparison.

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

/// The runs: the baseline, actors on the pool (on shards, and on the starting thread), actors
/// on on-demand allocation.
const MODES: [&str; 4] = ["bare", "pooled", "pooled-caller", "on-demand"];

/// Map entries a live pooled instance costs (two for its memory, two for the stack slot it
/// holds), plus what the process maps besides: the budget a run needs.
const MAPS_PER_COMPONENT: usize = 4;

pub fn child_mode() -> Option<String> {
    std::env::var(MODE_VAR).ok()
}

/// VmRSS of this process in KiB.
fn rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Entries in this process's memory map (each counts against `vm.max_map_count`).
fn maps() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

/// `vm.max_map_count`.
fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(usize::MAX)
}

/// What one child run measured, per component.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    pooled: bool,
    cold_us: f64,
    warm_us: f64,
    kib: f64,
    maps: f64,
    stop_us: f64,
    /// The final `shutdown`, per component (0 for the bare runs).
    shutdown_us: f64,
}

impl Figures {
    fn line(&self) -> String {
        format!(
            "SPAWN {} {} {} {} {} {} {}",
            self.pooled,
            self.cold_us,
            self.warm_us,
            self.kib,
            self.maps,
            self.stop_us,
            self.shutdown_us
        )
    }

    fn parse(line: &str) -> Self {
        let f: Vec<&str> = line.split(' ').collect();
        Self {
            pooled: f[0] == "true",
            cold_us: f[1].parse().unwrap(),
            warm_us: f[2].parse().unwrap(),
            kib: f[3].parse().unwrap(),
            maps: f[4].parse().unwrap(),
            stop_us: f[5].parse().unwrap(),
            shutdown_us: f[6].parse().unwrap(),
        }
    }
}

/// What a run measured for all `n` components together.
struct Totals {
    cold: Duration,
    warm: Duration,
    kib: f64,
    maps: usize,
    stop: Duration,
    shutdown: Duration,
}

impl Figures {
    fn per_component(engine: &WasmEngine, n: usize, t: Totals) -> Self {
        let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
        Self {
            pooled: engine.pooling_active(),
            cold_us: per(t.cold),
            warm_us: per(t.warm),
            kib: t.kib / n as f64,
            maps: t.maps as f64 / n as f64,
            stop_us: per(t.stop),
            shutdown_us: per(t.shutdown),
        }
    }
}

/// One run in this (child) process; prints `SPAWN <figures>` or `SPAWN-FAILED <at> <error>`.
pub fn child(mode: &str) {
    let n: usize = std::env::var(COUNT_VAR).unwrap().parse().unwrap();
    let pooling = (mode != "on-demand").then_some(PoolingConfig {
        max_instances: u32::try_from(n).unwrap() + 16,
        max_memory_bytes: ResourceLimits::default().max_memory_bytes,
        copy_on_write: false,
        ..PoolingConfig::default()
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
    // The system's default placement (shards), driven from one thread, unless
    // `AIRSSYS_BENCH_FLAVOUR` names another; `pooled-caller` keeps the actors on that one
    // thread (`Placement::Caller`). The bare mode always runs on one thread.
    let flavour = match mode {
        "pooled-caller" => Flavour::CurrentThread,
        _ => Flavour::named().unwrap_or(Flavour::Shards),
    };
    let figures = if mode == "bare" {
        Flavour::CurrentThread
            .runtime()
            .block_on(bare(&engine, &echo, n))
    } else {
        flavour
            .runtime()
            .block_on(actors(flavour, &engine, &echo, n))
    };
    match figures {
        Ok(f) => println!("{}", f.line()),
        Err((at, error)) => println!("SPAWN-FAILED {at} {error}"),
    }
}

type Failed = (usize, String);

/// Starts `bench/echo/0..n`; how long it took.
async fn start_all(
    system: &ActorSystem,
    echo: &LoadedComponent,
    n: usize,
) -> Result<Duration, Failed> {
    let start = Instant::now();
    for i in 0..n {
        let spec = ComponentSpec::new(id(&format!("bench/echo/{i}")), echo.clone());
        // Reported, not a crash: the machine's map limit or on-demand allocation can be the
        // wall, and the error says which.
        system
            .start_component(spec)
            .await
            .map_err(|e| (i, e.to_string()))?;
    }
    Ok(start.elapsed())
}

async fn actors(
    flavour: Flavour,
    engine: &WasmEngine,
    echo: &LoadedComponent,
    n: usize,
) -> Result<Figures, Failed> {
    let system = ActorSystem::new(
        engine.clone(),
        Arc::new(MemoryStorage::new()),
        SystemConfig {
            placement: flavour.placement(),
            ..SystemConfig::default()
        },
    );
    // One component started and stopped first: one-time setup is not counted.
    let warm = id("bench/warm/0");
    system
        .start_component(ComponentSpec::new(warm.clone(), echo.clone()))
        .await
        .unwrap();
    system.stop_component(&warm).await.unwrap();
    let (rss, map) = (rss_kib(), maps());
    let cold = start_all(&system, echo, n).await;
    let cold = match cold {
        Ok(cold) => cold,
        Err(failed) => {
            system.shutdown().await;
            return Err(failed);
        }
    };
    let (kib, map_count) = (rss_kib() - rss, maps().saturating_sub(map));
    assert_eq!(system.registry().len(), n);
    // Every component answers once all are up.
    for i in 0..n {
        let to = id(&format!("bench/echo/{i}"));
        let reply = system
            .request(&to, b"alive?".to_vec(), Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("{to}: {e}"));
        assert_eq!(reply, b"alive?");
    }
    let start = Instant::now();
    for i in 0..n {
        system
            .stop_component(&id(&format!("bench/echo/{i}")))
            .await
            .unwrap();
    }
    let stop = start.elapsed();
    let warm = start_all(&system, echo, n).await?;
    let start = Instant::now();
    system.shutdown().await;
    let shutdown = start.elapsed();
    Ok(Figures::per_component(
        engine,
        n,
        Totals {
            cold,
            warm,
            kib,
            maps: map_count,
            stop,
            shutdown,
        },
    ))
}

/// The baseline: `n` echo instances made and kept alive without actors, dropped, and made
/// again on the reused slots.
async fn bare(engine: &WasmEngine, echo: &LoadedComponent, n: usize) -> Result<Figures, Failed> {
    let config = ComponentConfig {
        env_vars: Vec::new(),
        config_data: None,
        resource_limits: ResourceLimits::default(),
    };
    let config = &config;
    // One set of services for every instance, as the actors share the system's.
    let services = HostServices::standalone();
    let services = &services;
    let make = |i: usize| {
        let spec = InstanceSpec {
            capabilities: Arc::new(CapabilitySet::deny_all(id(&format!("bench/echo/{i}")))),
            services: services.clone(),
            limits: ResourceLimits::default(),
        };
        async move {
            let mut instance = ComponentInstance::instantiate(engine, echo, spec)
                .await
                .map_err(|e| (i, e.to_string()))?;
            instance.initialize(config).await.unwrap().unwrap();
            instance.metadata().await.unwrap();
            Ok::<_, Failed>(instance)
        }
    };
    drop(make(n).await?);
    let make_all = |n: usize| async move {
        let start = Instant::now();
        let mut live = Vec::with_capacity(n);
        for i in 0..n {
            live.push(make(i).await?);
        }
        Ok::<_, Failed>((start.elapsed(), live))
    };
    let (rss, map) = (rss_kib(), maps());
    let (cold, live) = make_all(n).await?;
    let (kib, map_count) = (rss_kib() - rss, maps().saturating_sub(map));
    let start = Instant::now();
    drop(live);
    let stop = start.elapsed();
    let (warm, live) = make_all(n).await?;
    drop(live);
    Ok(Figures::per_component(
        engine,
        n,
        Totals {
            cold,
            warm,
            kib,
            maps: map_count,
            stop,
            shutdown: Duration::ZERO,
        },
    ))
}

/// One run in a child process: its figures, or where and why spawning failed.
fn run_child(mode: &str, n: usize) -> Result<Figures, String> {
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
    Ok(Figures::parse(line))
}

pub fn report(sizes: Sizes, full: bool) {
    let n = sizes.spawns;
    let rounds = sizes.runs.min(3);
    println!(
        "\n3. {n} live echo components (start_component from one task on a current-thread \
         runtime, on the shared supervisors, pool slots of 64 MiB without copy-on-write \
         images; `pooled` and `on-demand` on the default shards, `pooled-caller` with every \
         actor on that one thread), each answering one request once all are up; median of \
         {rounds} rounds, each run a fresh process, the modes interleaved"
    );
    let limit = max_map_count();
    let needed = n * MAPS_PER_COMPONENT + 20_000;
    if limit < needed {
        println!(
            "   vm.max_map_count is {limit}; {n} components need about {needed} map entries \
             ({MAPS_PER_COMPONENT} each), so the pooled runs stop early with the host's \
             capacity error (raise it with `sysctl -w vm.max_map_count={needed}`)"
        );
    }
    // Interleaved, so a slow spell of the machine hits every mode alike.
    let mut results: Vec<Result<Vec<Figures>, String>> =
        MODES.iter().map(|_| Ok(Vec::new())).collect();
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
    let bare = results[0].as_ref().ok().cloned();
    for (mode, result) in MODES.iter().zip(results) {
        let runs = match result {
            Ok(runs) => runs,
            Err(failure) => {
                println!("   {mode}: {failure}");
                continue;
            }
        };
        let label = if *mode != "on-demand" && !runs.iter().all(|r| r.pooled) {
            format!("{mode} (pool requested, fell back to on-demand)")
        } else {
            (*mode).to_owned()
        };
        let pick = |f: fn(&Figures) -> f64| median(runs.iter().map(f).collect());
        let ratio = |f: fn(&Figures) -> f64| {
            bare.as_ref().map(|bare| {
                // Each run against the bare run of its own round.
                median(runs.iter().zip(bare).map(|(r, b)| f(r) / f(b)).collect())
            })
        };
        let (cold, warm, kib) = (pick(|r| r.cold_us), pick(|r| r.warm_us), pick(|r| r.kib));
        print!(
            "   {label}: {kib:.1} KiB resident and {:.2} memory-map entries per idle component, \
             stop {:.1} us per component",
            pick(|r| r.maps),
            pick(|r| r.stop_us)
        );
        if *mode != "bare" {
            print!(
                " one at a time, {:.1} us in the host's shutdown",
                pick(|r| r.shutdown_us)
            );
        }
        println!();
        if *mode == "bare" {
            println!(
                "   {label}: spawn {cold:.1} us cold (fresh slots), {warm:.1} us warm (reused slots)"
            );
            continue;
        }
        if full && *mode == "pooled" {
            println!(
                "   {label}: resident memory per idle component {kib:.1} KiB (target <= 64 KiB: {})",
                verdict(kib <= 64.0)
            );
        }
        for (what, us, r) in [
            ("cold (fresh slots)", cold, ratio(|r| r.cold_us)),
            ("warm (reused slots)", warm, ratio(|r| r.warm_us)),
        ] {
            print!("   {label}: spawn {what} {us:.1} us");
            if let Some(r) = r {
                print!(", ratio to bare {r:.2}");
                // Warm: 1.1x on the caller's thread, 1.25x on shards (a hop to the shard's
                // thread per start); cold: 1.3x on either.
                let target = match (*mode, what.starts_with("warm")) {
                    ("pooled-caller", true) => Some(1.1),
                    ("pooled", true) => Some(1.25),
                    ("pooled" | "pooled-caller", false) => Some(1.3),
                    _ => None,
                };
                if let (true, Some(target)) = (full, target) {
                    print!(" (target <= {target}x: {})", verdict(r <= target));
                }
            }
            if full && *mode == "pooled" && what.starts_with("warm") {
                print!(" (target <= 50 us: {})", verdict(us <= 50.0));
            }
            println!();
        }
    }
}
