//! Runaway components are stopped with distinct typed errors, and the engine keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{ask, engine, limits, message, start_plain, start_with};
use wasm_core::{ComponentConfig, ResourceLimits};
use wasm_runtime::{ComponentInstance, EngineConfig, Error, HostServices, Limit, WasmEngine};
use wasm_security::Grants;

async fn start_limited(
    engine: &WasmEngine,
    name: &str,
    limits: ResourceLimits,
) -> ComponentInstance {
    start_with(
        engine,
        name,
        &format!("test/{name}/1"),
        &Grants::default(),
        HostServices::standalone(),
        limits,
        ComponentConfig::default(),
    )
    .await
}

/// Sends `command`, expects a failure, and checks the instance is poisoned afterwards.
async fn fail(instance: &mut ComponentInstance, command: &str) -> Error {
    let error = match instance.handle_message(&message(command.as_bytes())).await {
        Err(error) => error,
        Ok(result) => panic!("{command} returned {result:?}"),
    };
    assert!(error.poisons_instance(), "{error}");
    assert!(instance.poisoned().is_some());
    let again = instance.handle_message(&message(b"hello")).await;
    assert!(matches!(again, Err(Error::Poisoned { .. })), "{again:?}");
    error
}

/// The engine still instantiates and runs echo.
async fn engine_still_serves(engine: &WasmEngine) {
    let mut echo = start_plain(engine, "echo").await;
    assert_eq!(ask(&mut echo, "still here").await, "still here");
}

#[tokio::test]
async fn spinner_is_stopped_by_the_cpu_deadline() {
    let engine = engine();
    let mut spinner = start_limited(
        &engine,
        "spinner",
        ResourceLimits {
            max_execution_time_ms: 100,
            ..limits()
        },
    )
    .await;
    let error = fail(&mut spinner, "spin").await;
    assert!(
        matches!(
            &error,
            Error::LimitExceeded {
                limit: Limit::CpuTime,
                export: "handle-message",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("test/spinner/1"), "{error}");
    assert!(
        matches!(
            error.to_wasm_error(),
            wasm_core::WasmError::ResourceLimitExceeded(d) if d.starts_with("cpu-time")
        ),
        "{error}"
    );
    engine_still_serves(&engine).await;
}

#[tokio::test]
async fn time_suspended_in_a_host_call_does_not_count_as_cpu_time() {
    let engine = engine();
    let mut sleeper = start_limited(
        &engine,
        "sleeper",
        ResourceLimits {
            max_execution_time_ms: 100,
            max_wall_time_ms: 2_000,
            ..limits()
        },
    )
    .await;
    // Three times the CPU limit asleep: the guest barely runs, so the call succeeds.
    assert_eq!(ask(&mut sleeper, "sleep 300").await, "slept 300");
    assert!(sleeper.poisoned().is_none());
    // And the deadline is re-armed for the next call.
    assert_eq!(ask(&mut sleeper, "sleep 300").await, "slept 300");
}

#[tokio::test]
async fn a_sleep_past_the_wall_clock_cap_is_a_timeout_even_within_cpu_time() {
    let engine = engine();
    let mut sleeper = start_limited(
        &engine,
        "sleeper",
        ResourceLimits {
            max_execution_time_ms: 100,
            max_wall_time_ms: 100,
            ..limits()
        },
    )
    .await;
    let error = fail(&mut sleeper, "sleep 300").await;
    assert!(
        matches!(
            &error,
            Error::Timeout {
                timeout_ms: 100,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(error.to_wasm_error(), wasm_core::WasmError::Timeout);
}

#[tokio::test]
async fn a_memory_limit_hit_during_instantiation_is_a_limit_not_a_failed_instantiation() {
    let engine = engine();
    let loaded = common::load(&engine, "echo");
    let spec = wasm_runtime::InstanceSpec {
        capabilities: std::sync::Arc::new(wasm_security::CapabilitySet::deny_all(common::id(
            "test/echo/1",
        ))),
        services: HostServices::standalone(),
        limits: ResourceLimits {
            // Below the echo component's initial linear memory.
            max_memory_bytes: 64 * 1024,
            ..limits()
        },
    };
    let error = ComponentInstance::instantiate(&engine, &loaded, spec)
        .await
        .err();
    assert!(
        matches!(
            &error,
            Some(Error::LimitExceeded {
                limit: Limit::Memory,
                export: "instantiate",
                ..
            })
        ),
        "{error:?}"
    );
    engine_still_serves(&engine).await;
}

#[tokio::test]
async fn hog_is_stopped_by_the_memory_limit() {
    let engine = engine();
    let mut hog = start_limited(
        &engine,
        "hog",
        ResourceLimits {
            max_memory_bytes: 16 * 1024 * 1024,
            ..limits()
        },
    )
    .await;
    let error = fail(&mut hog, "grow").await;
    assert!(
        matches!(&error, Error::LimitExceeded { limit: Limit::Memory, detail, .. } if detail.contains("16777216")),
        "{error}"
    );
    assert!(matches!(
        error.to_wasm_error(),
        wasm_core::WasmError::ResourceLimitExceeded(d) if d.starts_with("memory")
    ));
    engine_still_serves(&engine).await;
}

#[tokio::test]
async fn deep_recursion_is_stopped_by_stack_exhaustion() {
    let engine = engine();
    let mut deep = start_limited(&engine, "deep-recursion", limits()).await;
    let error = fail(&mut deep, "recurse").await;
    assert!(
        matches!(
            &error,
            Error::LimitExceeded {
                limit: Limit::Stack,
                ..
            }
        ),
        "{error}"
    );
    engine_still_serves(&engine).await;
}

#[tokio::test]
async fn panicker_traps_with_its_panic_message() {
    let engine = engine();
    let mut panicker = start_limited(&engine, "panicker", limits()).await;
    let error = fail(&mut panicker, "panic").await;
    match &error {
        Error::Trapped {
            message, export, ..
        } => {
            assert_eq!(*export, "handle-message");
            assert!(message.contains("unreachable"), "{message}");
            assert!(message.contains("panicker was told to panic"), "{message}");
        }
        other => panic!("expected a trap, got {other}"),
    }
    engine_still_serves(&engine).await;
}

#[tokio::test]
async fn a_sleep_past_the_call_timeout_is_a_timeout() {
    let engine = engine();
    let mut sleeper = start_limited(
        &engine,
        "sleeper",
        ResourceLimits {
            max_wall_time_ms: 100,
            ..limits()
        },
    )
    .await;
    // Within the limit the sleep completes.
    assert_eq!(ask(&mut sleeper, "sleep 10").await, "slept 10");
    let error = fail(&mut sleeper, "sleep 10000").await;
    assert!(
        matches!(
            &error,
            Error::Timeout {
                timeout_ms: 100,
                ..
            }
        ),
        "{error}"
    );
    engine_still_serves(&engine).await;
}

#[tokio::test]
async fn fuel_limits_a_call_when_the_engine_meters_fuel() {
    let engine = WasmEngine::new(EngineConfig {
        fuel: true,
        ..EngineConfig::default()
    })
    .expect("engine");
    let mut spinner = start_limited(
        &engine,
        "spinner",
        ResourceLimits {
            max_fuel: Some(50_000_000),
            max_execution_time_ms: 10_000,
            max_wall_time_ms: 10_000,
            ..limits()
        },
    )
    .await;
    // A normal call fits in the fuel.
    assert_eq!(ask(&mut spinner, "hello").await, "hello");
    let error = fail(&mut spinner, "spin").await;
    assert!(
        matches!(
            &error,
            Error::LimitExceeded {
                limit: Limit::Fuel,
                ..
            }
        ),
        "{error}"
    );
    engine_still_serves(&engine).await;
}

#[tokio::test]
async fn fuel_on_an_engine_without_metering_is_refused() {
    let engine = engine();
    let loaded = common::load(&engine, "echo");
    let spec = wasm_runtime::InstanceSpec {
        capabilities: std::sync::Arc::new(wasm_security::CapabilitySet::deny_all(common::id(
            "test/echo/1",
        ))),
        services: HostServices::standalone(),
        limits: ResourceLimits {
            max_fuel: Some(1),
            ..limits()
        },
    };
    let error = ComponentInstance::instantiate(&engine, &loaded, spec)
        .await
        .err();
    assert!(
        matches!(&error, Some(Error::Limits { detail, .. }) if detail.contains("fuel")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_poisoned_instance_is_replaced_by_a_fresh_one_from_the_same_component() {
    let engine = engine();
    let loaded = common::load(&engine, "panicker");
    let mut first = start_limited(&engine, "panicker", limits()).await;
    assert_eq!(ask(&mut first, "x").await, "handled 1");
    fail(&mut first, "panic").await;
    let stats_before = engine.cache_stats();
    let mut second = start_limited(&engine, "panicker", limits()).await;
    // Fresh state, and no recompilation.
    assert_eq!(ask(&mut second, "x").await, "handled 1");
    assert_eq!(engine.cache_stats().compiled, stats_before.compiled);
    drop(loaded);
    let _ = second.shutdown(Duration::from_secs(1)).await;
}

/// A storage backend whose commits wait for a slow disk, on a thread of their own (as a
/// real backend's writer does).
#[derive(Debug)]
struct SlowDisk {
    inner: std::sync::Arc<wasm_runtime::MemoryStorage>,
    write_delay: Duration,
}

impl wasm_core::StorageBackend for SlowDisk {
    fn get(
        &self,
        namespace: &wasm_core::ComponentId,
        key: &str,
    ) -> Result<Option<Vec<u8>>, wasm_core::StorageError> {
        self.inner.get(namespace, key)
    }

    fn list_keys(
        &self,
        namespace: &wasm_core::ComponentId,
        prefix: Option<&str>,
    ) -> Result<Vec<String>, wasm_core::StorageError> {
        self.inner.list_keys(namespace, prefix)
    }

    fn usage(
        &self,
        namespace: &wasm_core::ComponentId,
        quota: &wasm_core::StorageQuota,
    ) -> Result<wasm_core::StorageUsage, wasm_core::StorageError> {
        self.inner.usage(namespace, quota)
    }

    fn commit(&self, writes: wasm_core::WriteSet) -> wasm_core::CommitFuture {
        let (done, answer) = tokio::sync::oneshot::channel();
        let (inner, delay) = (self.inner.clone(), self.write_delay);
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            inner.apply(&writes);
            let _ = done.send(());
        });
        Box::pin(async move {
            answer
                .await
                .map_err(|_| wasm_core::StorageError::IoError("disk thread died".into()))
        })
    }
}

#[tokio::test]
async fn time_waiting_for_storage_is_not_counted_as_cpu_time() {
    let engine = engine();
    let disk = std::sync::Arc::new(SlowDisk {
        inner: std::sync::Arc::new(wasm_runtime::MemoryStorage::new()),
        write_delay: Duration::from_millis(200),
    });
    let grants = Grants {
        storage: Some(wasm_security::StorageGrant {
            read: true,
            write: true,
            delete: false,
            quota: wasm_core::StorageQuota {
                max_bytes: 1024,
                max_keys: 8,
            },
        }),
        ..Grants::default()
    };
    let limits = ResourceLimits {
        max_execution_time_ms: 50,
        ..limits()
    };
    let mut counter = start_with(
        &engine,
        "counter",
        "test/counter/1",
        &grants,
        HostServices::standalone().with_storage(disk),
        limits,
        ComponentConfig::default(),
    )
    .await;
    // Each `inc` writes once: 200 ms at the disk against a 50 ms CPU limit.
    assert_eq!(ask(&mut counter, "inc").await, "1");
    assert_eq!(ask(&mut counter, "inc").await, "2");
    assert!(counter.poisoned().is_none());
}
