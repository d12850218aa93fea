//! The pooling instance allocator: on by default, a pool the machine cannot reserve falls
//! back to on-demand allocation with a warning, and a pool whose full use would pass the
//! kernel's map limit is warned about with the figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Captured, ask, engine, start_plain};
use wasm_runtime::{EngineConfig, PoolingConfig, WasmEngine};

#[tokio::test]
async fn pooling_is_active_by_default() {
    let engine = engine();
    assert!(EngineConfig::default().pooling.is_some());
    assert!(engine.pooling_active());
    let mut echo = start_plain(&engine, "echo").await;
    assert_eq!(ask(&mut echo, "pooled").await, "pooled");
}

#[tokio::test]
async fn a_pool_the_machine_cannot_reserve_falls_back_to_on_demand_allocation() {
    let captured = Captured::default();
    let _guard = captured.install();
    // A billion instances of 1 TiB each: no machine reserves that much address space.
    let engine = WasmEngine::new(EngineConfig {
        pooling: Some(PoolingConfig {
            max_instances: 1_000_000_000,
            max_memory_bytes: 1 << 40,
            ..PoolingConfig::default()
        }),
        ..EngineConfig::default()
    })
    .expect("engine falls back instead of failing");
    assert!(!engine.pooling_active());
    let lines = captured.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("WARN") && l.contains("falling back to on-demand allocation")),
        "{lines:#?}"
    );
    let mut echo = start_plain(&engine, "echo").await;
    assert_eq!(ask(&mut echo, "on demand").await, "on demand");
}

#[tokio::test(flavor = "current_thread")]
async fn a_pool_the_map_limit_cannot_hold_when_full_is_warned_about() {
    let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Its stacks fit (2 entries a slot), its memories when all are live (2 more) do not.
    let slots = limit * 3 / 8;
    let captured = Captured::default();
    let _guard = captured.install();
    let engine = WasmEngine::new(EngineConfig {
        pooling: Some(PoolingConfig {
            max_instances: u32::try_from(slots).unwrap(),
            max_memory_bytes: 1024 * 1024,
            copy_on_write: false,
            ..PoolingConfig::default()
        }),
        ..EngineConfig::default()
    })
    .unwrap();
    assert!(engine.pooling_active());
    let lines = captured.lines();
    assert!(
        lines.iter().any(|l| l.contains("WARN")
            && l.contains(&format!("a full pool of {slots} instances"))
            && l.contains(&format!("vm.max_map_count is {limit}"))
            && l.contains("sysctl -w vm.max_map_count=")),
        "{lines:#?}"
    );
}
