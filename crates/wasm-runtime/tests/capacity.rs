//! How many instances a pool holds and what they cost the kernel: a live pooled instance
//! without a copy-on-write image costs two memory-map entries, and a full pool is refused
//! with an error that names the pool, not a bare allocation failure.
//!
//! One test in its own binary: it counts this process's memory map, which other tests
//! running beside it would change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{id, limits, load};
use wasm_runtime::{
    ComponentInstance, EngineConfig, Error, HostServices, InstanceSpec, PoolingConfig, WasmEngine,
};
use wasm_security::CapabilitySet;

/// Entries in this process's memory map.
fn maps() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

fn spec(n: usize) -> InstanceSpec {
    InstanceSpec {
        capabilities: Arc::new(CapabilitySet::deny_all(id(&format!("test/echo/{n}")))),
        services: HostServices::standalone(),
        limits: limits(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn pooled_instances_cost_two_map_entries_and_a_full_pool_says_so() {
    const SLOTS: usize = 200;
    let engine = WasmEngine::new(EngineConfig {
        pooling: Some(PoolingConfig {
            max_instances: u32::try_from(SLOTS).unwrap(),
            max_memory_bytes: 32 * 1024 * 1024,
            copy_on_write: false,
            ..PoolingConfig::default()
        }),
        ..EngineConfig::default()
    })
    .unwrap();
    assert!(engine.pooling_active());
    let echo = load(&engine, "echo");
    // One instance made and dropped first, so one-time mappings are not counted.
    drop(
        ComponentInstance::instantiate(&engine, &echo, spec(SLOTS))
            .await
            .unwrap(),
    );
    let before = maps();
    let mut live = Vec::with_capacity(SLOTS);
    for n in 0..SLOTS {
        let mut instance = ComponentInstance::instantiate(&engine, &echo, spec(n))
            .await
            .unwrap_or_else(|e| panic!("instance {n}: {e}"));
        instance.metadata().await.unwrap();
        live.push(instance);
    }
    let per_instance = (maps() - before) as f64 / SLOTS as f64;
    // The accessible part of the memory slot and its reserved rest; the stack slot was mapped
    // with the pool. A regression (an image mapping, a stack per call) shows as 3 or more.
    assert!(
        per_instance <= 2.1,
        "{per_instance:.2} map entries per pooled instance"
    );

    let refused = match ComponentInstance::instantiate(&engine, &echo, spec(SLOTS + 1)).await {
        Ok(_) => panic!("a pool of {SLOTS} took instance {}", SLOTS + 1),
        Err(e) => e,
    };
    let text = refused.to_string();
    assert!(matches!(refused, Error::Capacity { .. }), "{refused:?}");
    assert!(
        text.contains("test/echo/201")
            && text.contains("the instance pool is full")
            && text.contains("PoolingConfig::max_instances is 200"),
        "{text}"
    );
    // A slot freed is a slot taken again.
    live.pop();
    let mut again = ComponentInstance::instantiate(&engine, &echo, spec(SLOTS + 1))
        .await
        .unwrap_or_else(|e| panic!("after a slot was freed: {e}"));
    again.metadata().await.unwrap();
}
