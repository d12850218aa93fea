//! `cargo xtask bench-count`: instructions per round trip under callgrind (repeatable where
//! wall-clock figures are noisy). The actor benchmark's `count` section runs the round trip's
//! floor and the actors, each in a small and a large batch inside a function of its own; each
//! batch is counted in a valgrind run of its own (`--toggle-collect` on that function), and the
//! difference between the batches, divided by the difference in round trips, is one round
//! trip's count with the fixed costs taken out.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{fixtures, run};

pub fn report() -> Result<()> {
    fixtures::build()?;
    let bench = actor_bench()?;
    let mut per_trip = Vec::new();
    for path in ["floor", "actors"] {
        let (small, n_small) = counted(&bench, path, "small")?;
        let (large, n_large) = counted(&bench, path, "large")?;
        if n_large <= n_small || large < small {
            bail!(
                "the {path} batches counted {small} ({n_small} round trips) and {large} ({n_large})"
            );
        }
        let each = (large - small) as f64 / (n_large - n_small) as f64;
        per_trip.push(each);
        println!("{path}: {each:.0} instructions per round trip");
    }
    let (floor, actors) = (per_trip[0], per_trip[1]);
    println!(
        "round trip (callgrind, current-thread runtime): the host's own share {:.0} instructions, \
         {:.3}x the floor",
        actors - floor,
        actors / floor
    );
    Ok(())
}

/// Builds the release benchmarks and returns the actor benchmark's executable.
fn actor_bench() -> Result<PathBuf> {
    let json = run::output(
        &run::cargo_program(),
        &["bench", "--workspace", "--no-run", "--message-format=json"],
    )?;
    json.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "actor")
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .context("cargo built no `actor` benchmark")
}

/// One batch's instruction count and its number of round trips.
fn counted(bench: &Path, path: &str, batch: &str) -> Result<(u64, u64)> {
    let out = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            // Wasmtime writes the code it runs: translations follow it.
            "--smc-check=all-non-file",
            "--callgrind-out-file=/dev/null",
            &format!("--toggle-collect=*count_{path}_{batch}*"),
        ])
        .arg(bench)
        .arg("--bench")
        .env("AIRSSYS_BENCH_ONLY", "count")
        .current_dir(run::root())
        .output()
        .context("cannot start valgrind (Debian: `apt install valgrind`)")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("the count run of {path} {batch} failed: {stderr}");
    }
    let collected = stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .with_context(|| format!("valgrind printed no count: {stderr}"))?;
    let trips = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("count: {batch} ")))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .with_context(|| format!("the benchmark did not say its {batch} batch: {stdout}"))?;
    Ok((collected, trips))
}
