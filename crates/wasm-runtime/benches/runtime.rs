//! Runtime benchmarks: instantiation, one `handle-message` call against bare wasmtime, and
//! capability checks. Each figure is the median of several runs; ratios compare against a
//! baseline measured in the same run. Run with `cargo bench -p wasm-runtime`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use tokio::runtime::Runtime;

use wasm_core::{ComponentId, ComponentMessage, MessageMetadata, ResourceLimits};
use wasm_runtime::{
    ComponentInstance, EngineConfig, HostServices, InstanceSpec, LoadedComponent, WasmEngine,
};
use wasm_security::{CapabilitySet, Grants, MessagingAction, MessagingGrant};

/// Bare wasmtime bindings of the same contract, used only as the baseline.
mod bare {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "airssys:core/runtime-host",
        exports: { default: async },
    });
}

const RUNS: usize = 7;

/// Median nanoseconds per iteration over `RUNS` runs of `iters` iterations.
fn median_ns(iters: u32, mut run: impl FnMut(u32)) -> f64 {
    run(iters / 10 + 1); // warm-up
    let mut samples: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            run(iters);
            start.elapsed().as_nanos() as f64 / f64::from(iters)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[RUNS / 2]
}

fn message() -> ComponentMessage {
    ComponentMessage {
        sender: "bench/host/0".parse().unwrap(),
        payload: b"hello, component".to_vec(),
        metadata: MessageMetadata::default(),
    }
}

fn spec(id: &str) -> InstanceSpec {
    InstanceSpec {
        capabilities: Arc::new(CapabilitySet::deny_all(id.parse().unwrap())),
        services: HostServices::standalone(),
        limits: ResourceLimits::default(),
    }
}

fn main() {
    // `AIRSSYS_BENCH_ONLY=instantiate,call,checks` picks sections (for profiling one of them).
    let only = std::env::var("AIRSSYS_BENCH_ONLY").unwrap_or_default();
    let wanted = |section: &str| only.is_empty() || only.split(',').any(|s| s == section);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = WasmEngine::new(EngineConfig::default()).unwrap();
    println!("pooling allocator active: {}", engine.pooling_active());
    let echo_bytes = test_fixtures::fixture("echo");
    let echo = engine.loader().load_bytes("echo", &echo_bytes).unwrap();

    if wanted("instantiate") {
        instantiate(&rt, &engine, &echo);
    }
    if wanted("call") {
        handle_message(&rt, &engine, &echo, &echo_bytes);
    }
    if wanted("checks") {
        capability_checks();
    }
}

/// Section 1, instantiation from the pre-instantiated component (store, WASI context,
/// instance). The spec (grants, services, audit ring) is built once, outside the timed loop;
/// each instance gets a clone (reference-count increments only).
fn instantiate(rt: &Runtime, engine: &WasmEngine, echo: &LoadedComponent) {
    let echo_spec = spec("bench/echo/1");
    let inst_ns = median_ns(2_000, |n| {
        rt.block_on(async {
            for _ in 0..n {
                let instance = ComponentInstance::instantiate(engine, echo, echo_spec.clone())
                    .await
                    .unwrap();
                black_box(instance);
            }
        })
    });
    println!(
        "instantiate echo (pooled, no WASI imports): median {:.2} us per instance (target <= 20 us: {})",
        inst_ns / 1e3,
        if inst_ns <= 20_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}

/// A bare wasmtime instance of `echo`: the generated bindings, no host functions, no
/// limits, on its own store of `engine`.
struct Bare {
    store: wasmtime::Store<()>,
    bindings: bare::RuntimeHost,
}

impl Bare {
    fn new(rt: &Runtime, engine: &wasmtime::Engine, bytes: &[u8]) -> Self {
        let component = wasmtime::component::Component::from_binary(engine, bytes).unwrap();
        let linker = wasmtime::component::Linker::<()>::new(engine);
        let mut store = wasmtime::Store::new(engine, ());
        store.set_epoch_deadline(u64::MAX / 2);
        let bindings = rt
            .block_on(bare::RuntimeHost::instantiate_async(
                &mut store, &component, &linker,
            ))
            .unwrap();
        Self { store, bindings }
    }

    /// Median nanoseconds of one `handle-message` typed call with `message`.
    fn call_ns(
        &mut self,
        rt: &Runtime,
        message: &bare::airssys::core::types::ComponentMessage,
    ) -> f64 {
        let Self { store, bindings } = self;
        let guest = bindings.airssys_core_component_lifecycle();
        median_ns(CALLS, |n| {
            rt.block_on(async {
                for _ in 0..n {
                    let reply = guest
                        .call_handle_message(&mut *store, message)
                        .await
                        .unwrap();
                    black_box(reply).unwrap();
                }
            })
        })
    }
}

const CALLS: u32 = 20_000;

/// Section 2, one `handle-message` call: the engine API against bare wasmtime typed calls to
/// the same export, on an engine with wasmtime's defaults and on one configured like ours
/// (epoch interruption, pooling). The second isolates what the API adds (conversion,
/// deadlines, the CPU meter, the wall-clock timeout, error mapping).
fn handle_message(rt: &Runtime, engine: &WasmEngine, echo: &LoadedComponent, bytes: &[u8]) {
    let mut ours = rt
        .block_on(ComponentInstance::instantiate(
            engine,
            echo,
            spec("bench/echo/2"),
        ))
        .unwrap();
    let msg = message();
    let bare_msg = bare::airssys::core::types::ComponentMessage {
        sender: bare::airssys::core::types::ComponentId {
            namespace: "bench".into(),
            name: "host".into(),
            instance: "0".into(),
        },
        payload: msg.payload.clone(),
        metadata: bare::airssys::core::types::MessageMetadata {
            correlation_id: None,
            reply_to: None,
            timestamp: bare::airssys::core::types::Timestamp {
                seconds: 0,
                nanoseconds: 0,
            },
            content_type: None,
        },
    };
    let default_engine =
        wasmtime::Engine::new(wasmtime::Config::new().wasm_component_model(true)).unwrap();
    // Our pool's slots: reserved from the default 256 MiB limit with a 2 MiB guard, not
    // wasmtime's 4 GiB (so both pay the same bounds checks).
    let slot = 256 * 1024 * 1024;
    let mut like_ours_pool = wasmtime::PoolingAllocationConfig::new();
    like_ours_pool.max_memory_size(slot);
    let mut like_ours_config = wasmtime::Config::new();
    like_ours_config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .memory_reservation(slot as u64)
        .memory_guard_size(2 * 1024 * 1024)
        .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(
            like_ours_pool,
        ));
    let like_ours = wasmtime::Engine::new(&like_ours_config).unwrap();
    let mut bare_default = Bare::new(rt, &default_engine, bytes);
    let mut bare_like_ours = Bare::new(rt, &like_ours, bytes);
    // Interleaved rounds, so drift in the machine's speed hits all three alike.
    let (mut ours_ns, mut default_ns, mut like_ns) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        ours_ns.push(median_ns(CALLS, |n| {
            rt.block_on(async {
                for _ in 0..n {
                    let reply = ours.handle_message(&msg).await.unwrap();
                    black_box(reply).unwrap();
                }
            })
        }));
        default_ns.push(bare_default.call_ns(rt, &bare_msg));
        like_ns.push(bare_like_ours.call_ns(rt, &bare_msg));
    }
    let (ours_ns, default_ns, like_ns) = (median(ours_ns), median(default_ns), median(like_ns));
    println!(
        "handle-message (16-byte payload): engine API {:.2} us; bare wasmtime async typed call \
         {:.2} us with wasmtime's default config (ratio {:.2}), {:.2} us with epoch \
         interruption and pooling like ours (ratio {:.2}; target <= 1.2: {})",
        ours_ns / 1e3,
        default_ns / 1e3,
        ours_ns / default_ns,
        like_ns / 1e3,
        ours_ns / like_ns,
        if ours_ns / like_ns <= 1.2 {
            "met"
        } else {
            "NOT met"
        }
    );
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Section 3, capability checks (allowed and denied), exact and wildcard grants.
fn capability_checks() {
    let grants = Grants {
        messaging: vec![
            MessagingGrant {
                actions: vec![MessagingAction::Send],
                targets: "orders/validator/1".into(),
            },
            MessagingGrant {
                actions: vec![MessagingAction::Send],
                targets: "audit/**".into(),
            },
        ],
        ..Grants::default()
    };
    let caps = CapabilitySet::compile("bench/caller/1".parse().unwrap(), &grants).unwrap();
    let exact: ComponentId = "orders/validator/1".parse().unwrap();
    let wild: ComponentId = "audit/log/7".parse().unwrap();
    let denied: ComponentId = "secret/vault/1".parse().unwrap();
    for (label, target) in [
        ("allowed exact", &exact),
        ("allowed wildcard", &wild),
        ("denied", &denied),
    ] {
        let ns = median_ns(2_000_000, |n| {
            for _ in 0..n {
                black_box(caps.check_messaging(MessagingAction::Send, black_box(target))).ok();
            }
        });
        println!(
            "capability check {label}: median {ns:.1} ns (target < 100 ns: {})",
            if ns < 100.0 { "met" } else { "NOT met" }
        );
    }
}
