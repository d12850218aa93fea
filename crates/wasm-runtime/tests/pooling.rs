//! The pooling instance allocator: on by default, and a pool the machine cannot reserve falls
//! back to on-demand allocation with a warning.
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
