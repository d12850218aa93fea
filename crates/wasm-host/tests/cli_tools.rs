//! `airssys-wasm validate`, `inspect` and `call` on the example system, as a process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use cli_support::*;

#[test]
fn validate_checks_every_component_of_the_example() {
    let manifest = example_manifest();
    let out = run(["validate".as_ref(), manifest.as_os_str()]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(out.stdout.contains("ok (6 components, 2 groups)"), "{out}");
    for id in [
        "orders/ingest/1",
        "orders/validator/1",
        "orders/pricing/1",
        "orders/ledger/1",
        "orders/auditor/1",
        "plugins/discount/1",
    ] {
        assert!(
            out.stdout.contains(&format!("{id}: ")),
            "{id} missing:\n{out}"
        );
    }
    assert!(
        out.stdout
            .contains("exports: airssys:core/component-lifecycle@1.0.0"),
        "{out}"
    );
    assert!(
        out.stdout.contains(
            "grants: request orders/pricing/1; request plugins/discount/1; \
             broadcast orders/auditor/1; broadcast orders/ingest/1; \
             storage read,write (65536 bytes, 256 keys)"
        ),
        "{out}"
    );
    // The plug-in imports messaging but was granted none: validate says so.
    let discount = out
        .stdout
        .split("plugins/discount/1: ")
        .nth(1)
        .unwrap_or_default();
    assert!(
        discount.contains("note: imports host-messaging but is granted no messaging"),
        "{out}"
    );
}

#[test]
fn inspect_prints_imports_exports_and_metadata() {
    let ledger = example_component("ledger");
    let out = run(["inspect".as_ref(), ledger.as_os_str()]);
    assert_eq!(out.code(), 0, "{out}");
    let exports = section(&out.stdout, "exports:");
    assert_eq!(
        exports,
        vec!["airssys:core/component-lifecycle@1.0.0"],
        "{out}"
    );
    let imports = section(&out.stdout, "imports:");
    for import in [
        "airssys:core/host-messaging@1.0.0",
        "airssys:core/storage@1.0.0",
        "airssys:core/host-services@1.0.0",
    ] {
        assert!(imports.contains(&import), "{import} missing:\n{out}");
    }
    let metadata = section(&out.stdout, "metadata:");
    assert!(metadata.contains(&"name: ledger"), "{out}");
    assert!(metadata.contains(&"operations: order, totals"), "{out}");
    assert!(metadata.contains(&"stateful: true"), "{out}");
}

#[test]
fn inspect_refuses_a_file_that_is_not_a_component() {
    let manifest = example_manifest();
    let out = run(["inspect".as_ref(), manifest.as_os_str()]);
    assert_eq!(out.code(), INVALID, "{out}");
    assert!(out.stderr.contains("order-pipeline.toml"), "{out}");
}

#[test]
fn call_prints_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s.redb");
    let out = run([
        "call".as_ref(),
        example_manifest().as_os_str(),
        "--storage".as_ref(),
        storage.as_os_str(),
        "orders/pricing/1".as_ref(),
        "price sku=gadget qty=3".as_ref(),
    ]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "cents=3600\n", "{out}");
}

#[test]
fn call_fails_with_the_error_reply_and_exit_70() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("s.redb");
    let out = run([
        "call".as_ref(),
        example_manifest().as_os_str(),
        "--storage".as_ref(),
        storage.as_os_str(),
        "orders/pricing/1".as_ref(),
        "price sku=sprocket qty=1".as_ref(),
    ]);
    assert_eq!(out.code(), RUNTIME, "{out}");
    assert!(
        out.stderr.contains("request to orders/pricing/1 failed"),
        "{out}"
    );
    assert!(out.stderr.contains("unknown sku `sprocket`"), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
}

/// The indented lines under a heading line.
fn section<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect()
}

/// The compiled-component entries in a cache directory (and nothing half written).
fn cache_entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn echo_manifest(dir: &std::path::Path) -> std::path::PathBuf {
    write_manifest(
        dir,
        &format!(
            "[[components]]\nid = \"demo/echo/1\"\npath = \"{}\"\n",
            test_fixtures::fixture_path("echo").display()
        ),
    )
}

#[test]
fn compiled_components_are_kept_between_runs_unless_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = echo_manifest(dir.path());
    let cache = dir.path().join("cache");
    let call = |extra: &[&str]| {
        let mut cmd = command();
        cmd.env("RUST_LOG", "wasm_runtime::cache=debug")
            .args(extra)
            .arg("call")
            .arg(&manifest)
            .args(["demo/echo/1", "hello"]);
        finish(
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        )
    };
    let cache_arg = cache.to_string_lossy().into_owned();
    let first = call(&["--cache-dir", &cache_arg]);
    assert_eq!(first.code(), 0, "{first}");
    assert_eq!(first.stdout.trim(), "hello");
    assert!(
        !first.stderr.contains("loaded from the disk cache"),
        "{first}"
    );
    let entries = cache_entries(&cache);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].ends_with(".cwasm"), "{entries:?}");
    let second = call(&["--cache-dir", &cache_arg]);
    assert_eq!(second.stdout.trim(), "hello", "{second}");
    assert!(
        second.stderr.contains("loaded from the disk cache"),
        "{second}"
    );
    // --no-cache wins over the directory: nothing is read or written.
    let fresh = dir.path().join("unused");
    let fresh_arg = fresh.to_string_lossy().into_owned();
    let off = call(&["--no-cache", "--cache-dir", &fresh_arg]);
    assert_eq!(off.stdout.trim(), "hello", "{off}");
    assert!(!off.stderr.contains("loaded from the disk cache"), "{off}");
    assert!(cache_entries(&fresh).is_empty());
}

#[test]
fn two_processes_filling_an_empty_cache_at_once_both_start() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = echo_manifest(dir.path());
    let cache = dir.path().join("cache");
    let children: Vec<_> = (0..2)
        .map(|_| {
            command()
                .env("AIRSSYS_CACHE_DIR", &cache)
                .arg("call")
                .arg(&manifest)
                .args(["demo/echo/1", "both"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = finish(child);
        assert_eq!(out.code(), 0, "{out}");
        assert_eq!(out.stdout.trim(), "both", "{out}");
    }
    // One whole entry: no temporary file left, and it loads.
    let entries = cache_entries(&cache);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let again = command()
        .env("AIRSSYS_CACHE_DIR", &cache)
        .env("RUST_LOG", "wasm_runtime::cache=debug")
        .arg("call")
        .arg(&manifest)
        .args(["demo/echo/1", "again"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(again);
    assert!(out.stderr.contains("loaded from the disk cache"), "{out}");
}
