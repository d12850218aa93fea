//! Compile once: reuse in memory, reuse from disk across engine starts, distrust bad entries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use test_fixtures::fixture;
use wasm_runtime::{EngineConfig, WasmEngine};

fn engine_with_cache(dir: &std::path::Path) -> WasmEngine {
    WasmEngine::new(EngineConfig {
        cache_dir: Some(dir.to_owned()),
        ..EngineConfig::default()
    })
    .expect("engine")
}

#[test]
fn the_same_bytes_compile_once_per_engine() {
    let engine = common::engine();
    let bytes = fixture("echo");
    engine.loader().load_bytes("a", &bytes).expect("first");
    engine.loader().load_bytes("b", &bytes).expect("second");
    let stats = engine.cache_stats();
    assert_eq!((stats.compiled, stats.memory_hits), (1, 1));
}

#[test]
fn concurrent_loads_of_the_same_bytes_compile_once() {
    let engine = common::engine();
    let bytes = fixture("counter");
    let start = std::sync::Barrier::new(4);
    std::thread::scope(|scope| {
        for i in 0..4 {
            let (engine, bytes, start) = (&engine, &bytes, &start);
            scope.spawn(move || {
                start.wait();
                engine
                    .loader()
                    .load_bytes(&format!("counter-{i}"), bytes)
                    .expect("load");
            });
        }
    });
    let stats = engine.cache_stats();
    assert_eq!((stats.compiled, stats.memory_hits), (1, 3), "{stats:?}");
}

#[test]
fn a_second_engine_start_loads_the_compiled_component_from_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = fixture("echo");
    let first = engine_with_cache(dir.path());
    first.loader().load_bytes("echo", &bytes).expect("load");
    assert_eq!(first.cache_stats().compiled, 1);
    drop(first);
    let entries: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(entries.len(), 1, "one cache entry written");

    let second = engine_with_cache(dir.path());
    second.loader().load_bytes("echo", &bytes).expect("load");
    let stats = second.cache_stats();
    assert_eq!(
        (stats.compiled, stats.disk_hits, stats.disk_rejected),
        (0, 1, 0)
    );
}

#[tokio::test]
async fn a_corrupt_cache_entry_is_ignored_and_replaced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = fixture("echo");
    engine_with_cache(dir.path())
        .loader()
        .load_bytes("echo", &bytes)
        .expect("load");
    let entry = std::fs::read_dir(dir.path())
        .expect("dir")
        .next()
        .expect("an entry")
        .expect("entry")
        .path();
    let mut data = std::fs::read(&entry).expect("read");
    let middle = data.len() / 2;
    data[middle] ^= 0xff;
    std::fs::write(&entry, &data).expect("corrupt");

    let engine = engine_with_cache(dir.path());
    let loaded = engine.loader().load_bytes("echo", &bytes).expect("load");
    let stats = engine.cache_stats();
    assert_eq!(
        (stats.compiled, stats.disk_hits, stats.disk_rejected),
        (1, 0, 1)
    );
    // The recompiled component works, and the entry was rewritten intact.
    let spec = wasm_runtime::InstanceSpec {
        capabilities: std::sync::Arc::new(wasm_security::CapabilitySet::deny_all(common::id(
            "t/echo/1",
        ))),
        services: wasm_runtime::HostServices::standalone(),
        limits: common::limits(),
    };
    let mut echo = wasm_runtime::ComponentInstance::instantiate(&engine, &loaded, spec)
        .await
        .expect("instantiate");
    assert_eq!(common::ask(&mut echo, "ok").await, "ok");
    let third = engine_with_cache(dir.path());
    third.loader().load_bytes("echo", &bytes).expect("load");
    assert_eq!(third.cache_stats().disk_hits, 1);
}

#[test]
fn a_truncated_cache_entry_is_ignored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = fixture("echo");
    engine_with_cache(dir.path())
        .loader()
        .load_bytes("echo", &bytes)
        .expect("load");
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read");
        std::fs::write(&path, &data[..data.len() / 3]).expect("truncate");
    }
    let engine = engine_with_cache(dir.path());
    engine.loader().load_bytes("echo", &bytes).expect("load");
    assert_eq!(engine.cache_stats().disk_rejected, 1);
    assert_eq!(engine.cache_stats().compiled, 1);
}

#[test]
fn entries_of_an_engine_with_other_settings_are_kept_while_used_and_removed_once_stale() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = engine_with_cache(dir.path());
    common::load(&first, "echo");
    let entries = |dir: &std::path::Path| std::fs::read_dir(dir).expect("cache dir").count();
    assert_eq!(entries(dir.path()), 1);
    assert_eq!(first.cache_stats().stale_removed, 0);
    // Fuel metering changes the compiled code, so the entry is not this engine's.
    std::fs::write(dir.path().join("notes.txt"), "not a cache entry").expect("write");
    let other = WasmEngine::new(EngineConfig {
        cache_dir: Some(dir.path().to_owned()),
        fuel: true,
        ..EngineConfig::default()
    })
    .expect("engine");
    // Recently used by the first engine: kept, and the other engine writes its own entry.
    assert_eq!(other.cache_stats().stale_removed, 0);
    common::load(&other, "echo");
    assert_eq!(other.cache_stats().compiled, 1);
    assert_eq!(entries(dir.path()), 3);
    // Both kinds are found on the next start of each.
    let again = engine_with_cache(dir.path());
    common::load(&again, "echo");
    assert_eq!(again.cache_stats().disk_hits, 1);
    // An entry of the fuel engine unused past the limit is removed by an engine without fuel,
    // which never removes its own kind of entry however old.
    let aged = std::time::SystemTime::now() - wasm_runtime::CACHE_STALE_AFTER * 2;
    for entry in std::fs::read_dir(dir.path()).expect("cache dir").flatten() {
        if entry.path().extension().is_some_and(|e| e == "cwasm") {
            std::fs::File::options()
                .write(true)
                .open(entry.path())
                .and_then(|f| f.set_modified(aged))
                .expect("age the entry");
        }
    }
    let same = engine_with_cache(dir.path());
    assert_eq!(same.cache_stats().stale_removed, 1);
    assert_eq!(
        entries(dir.path()),
        2,
        "its own entry and the unrelated file are left"
    );
    common::load(&same, "echo");
    assert_eq!(same.cache_stats().disk_hits, 1);
}
