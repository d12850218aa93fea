//! The example system: its components (built like the fixtures, into `examples/out`) and the
//! demo that runs it with the `airssys-wasm` command.

use std::fs;

use anyhow::{Context, Result};

use crate::guests::{Kind, Workspace};
use crate::run;

/// The order-pipeline components.
const EXAMPLES: Workspace = Workspace {
    label: "example",
    dir: "examples/components",
    out: "examples/out",
    guests: &[
        ("ingest", Kind::Wasip2),
        ("validator", Kind::Wasip2),
        ("pricing", Kind::Wasip2),
        ("ledger", Kind::Wasip2),
        ("auditor", Kind::Wasip2),
        ("discount", Kind::Wasip2),
    ],
};

/// The demo's manifest and input batch, relative to the repository root.
const MANIFEST: &str = "examples/order-pipeline.toml";
const BATCH: &str = "examples/orders.txt";

/// Builds the example components into `examples/out`.
pub fn build() -> Result<()> {
    EXAMPLES.build().map(|_| ())
}

/// Runs the unit tests of the example components' shared library (`pipeline-common`: message
/// parsing) on the host.
pub fn test_common() -> Result<()> {
    let manifest = run::root().join(EXAMPLES.dir).join("Cargo.toml");
    let manifest = manifest.to_string_lossy().into_owned();
    let target_dir = run::root().join(EXAMPLES.dir).join("target");
    let target_dir = target_dir.to_string_lossy().into_owned();
    run::cargo(&[
        "test",
        "--manifest-path",
        &manifest,
        "--target-dir",
        &target_dir,
        "-p",
        "pipeline-common",
    ])
    .context("testing the example components' shared library")
}

/// Builds the examples, then runs the order pipeline on a fresh storage file until it is
/// idle: the command prints the system's log, then a summary with the ledger's totals.
pub fn demo() -> Result<()> {
    build()?;
    let storage = EXAMPLES.out_dir().join("demo.redb");
    if storage.exists() {
        fs::remove_file(&storage)
            .with_context(|| format!("removing the last demo's {}", storage.display()))?;
    }
    let storage = storage.to_string_lossy().into_owned();
    let send = format!("orders/ingest/1=@{BATCH}");
    // No `--package wasm-host`: selecting that package alone resolves features without the
    // rest of the workspace and rebuilds wasmtime, instead of sharing the tests' build.
    run::cargo(&[
        "run",
        "--quiet",
        "--bin",
        "airssys-wasm",
        "--",
        "run",
        MANIFEST,
        "--storage",
        &storage,
        "--send",
        &send,
        "--exit-when-idle",
        "--report",
        "orders/ledger/1=totals",
        "--report",
        "orders/auditor/1=report",
    ])
    .context("running the order-pipeline demo")?;
    println!(
        "xtask: what the pipeline does and why the plug-in fails, restarts and is denied: \
         examples/README.md"
    );
    Ok(())
}
