//! Start-up benchmark of the `airssys-wasm` command (issue 13), against a baseline measured
//! in the same run:
//!
//! - `cli-cache`: `airssys-wasm call` on the Python fixture (`py-kit`, 18 MB of wasm) with
//!   an empty cache directory (the first start: it compiles the component and keeps it)
//!   against the same call again (the second start: it loads the compiled code).
//!   Target: the second start takes at most 10% of the first.
//!
//! Run with `cargo bench -p wasm-host` (or `cargo xtask bench`; `AIRSSYS_BENCH_ONLY=cli-cache`).
//! It runs the command built for the bench profile. Without `--bench` it makes one smoke pass
//! that prints no target.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use test_fixtures::fixture_path;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// One `call` of py-kit with `cache` as the cache directory; seconds it took.
fn call(manifest: &Path, cache: &Path) -> f64 {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_airssys-wasm"))
        .env("RUST_LOG", "warn")
        .arg("--cache-dir")
        .arg(cache)
        .arg("call")
        .arg(manifest)
        .args(["bench/py-kit/1", "echo started"])
        .output()
        .expect("run airssys-wasm");
    let took = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "airssys-wasm call failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "py:started");
    took
}

fn cli_cache(runs: usize, full: bool) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("py-kit.toml");
    std::fs::write(
        &manifest,
        format!(
            "[[components]]\nid = \"bench/py-kit/1\"\npath = \"{}\"\n",
            fixture_path("py-kit").display()
        ),
    )
    .unwrap();
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let cache = dir.path().join(format!("cache-{run}"));
        first.push(call(&manifest, &cache));
        second.push(call(&manifest, &cache));
    }
    let (first, second) = (median(first), median(second));
    println!(
        "cli-cache: first start {first:.3} s (compiles py-kit), second start {second:.3} s \
         (cached), medians of {runs}"
    );
    if full {
        let ratio = second / first;
        println!(
            "cli-cache: second start / first start = {ratio:.3} (target <= 0.10): {}",
            verdict(ratio <= 0.10)
        );
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let only = std::env::var("AIRSSYS_BENCH_ONLY").unwrap_or_default();
    let wanted = |section: &str| only.is_empty() || only.split(',').any(|s| s == section);
    if wanted("cli-cache") {
        cli_cache(if full { 5 } else { 1 }, full);
    }
}
