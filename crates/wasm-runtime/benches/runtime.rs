//! Runtime benchmarks: instantiation, one `handle-message` call against bare wasmtime, and
//! capability checks. Each figure is the median of several runs; ratios compare against a
//! baseline measured in the same run. Run with `cargo bench -p wasm-runtime`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use wasm_core::{ComponentId, ComponentMessage, MessageMetadata, ResourceLimits};
use wasm_runtime::{ComponentInstance, EngineConfig, HostServices, InstanceSpec, WasmEngine};
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = WasmEngine::new(EngineConfig::default()).unwrap();
    println!("pooling allocator active: {}", engine.pooling_active());
    let echo_bytes = test_fixtures::fixture("echo");
    let echo = engine.loader().load_bytes("echo", &echo_bytes).unwrap();

    // 1. Instantiation from the pre-instantiated component (store, WASI context, instance).
    // The spec (grants, services, audit ring) is built once, outside the timed loop; each
    // instance gets a clone (reference-count increments only).
    let echo_spec = spec("bench/echo/1");
    let inst_ns = median_ns(2_000, |n| {
        rt.block_on(async {
            for _ in 0..n {
                let instance = ComponentInstance::instantiate(&engine, &echo, echo_spec.clone())
                    .await
                    .unwrap();
                black_box(instance);
            }
        })
    });
    println!(
        "instantiate echo (pooled, no WASI imports): median {:.2} us per instance",
        inst_ns / 1e3
    );

    // 2. One handle-message call: engine API versus a bare wasmtime typed call.
    let mut ours = rt
        .block_on(ComponentInstance::instantiate(
            &engine,
            &echo,
            spec("bench/echo/2"),
        ))
        .unwrap();
    let msg = message();
    let ours_ns = median_ns(20_000, |n| {
        rt.block_on(async {
            for _ in 0..n {
                let reply = ours.handle_message(&msg).await.unwrap();
                black_box(reply).unwrap();
            }
        })
    });

    let bare_engine =
        wasmtime::Engine::new(wasmtime::Config::new().wasm_component_model(true)).unwrap();
    let component = wasmtime::component::Component::from_binary(&bare_engine, &echo_bytes).unwrap();
    let linker = wasmtime::component::Linker::<()>::new(&bare_engine);
    let mut store = wasmtime::Store::new(&bare_engine, ());
    let bindings = rt
        .block_on(bare::RuntimeHost::instantiate_async(
            &mut store, &component, &linker,
        ))
        .unwrap();
    let guest = bindings.airssys_core_component_lifecycle();
    let bare_msg = bare::airssys::core::types::ComponentMessage {
        sender: bare::airssys::core::types::ComponentId {
            namespace: "bench".into(),
            name: "host".into(),
            instance: "0".into(),
        },
        payload: b"hello, component".to_vec(),
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
    let bare_ns = median_ns(20_000, |n| {
        rt.block_on(async {
            for _ in 0..n {
                let reply = guest
                    .call_handle_message(&mut store, &bare_msg)
                    .await
                    .unwrap();
                black_box(reply).unwrap();
            }
        })
    });
    println!(
        "handle-message (16-byte payload): engine API {:.2} us, bare wasmtime async typed call {:.2} us, ratio {:.2}",
        ours_ns / 1e3,
        bare_ns / 1e3,
        ours_ns / bare_ns
    );

    // 3. Capability checks (allowed and denied), exact and wildcard grants.
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
        println!("capability check {label}: median {ns:.1} ns");
    }
}
