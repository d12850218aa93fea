//! cargo-deny's offline checks, and a self-test that its wasmtime ban really fires.
//!
//! Advisories need a network database this project's machines cannot fetch, so only bans,
//! licences and sources are checked. The self-test copies the workspace into a temporary
//! folder, plants a direct wasmtime dependency in `wasm-actor`, and expects cargo-deny to
//! refuse it: a `deny.toml` whose ban silently stopped matching fails the build.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::{run, tools};

/// The crate in which the self-test plants a forbidden wasmtime dependency.
const PLANT_IN: &str = "wasm-actor";

/// Runs the offline checks on the workspace, then the self-test.
pub fn check() -> Result<()> {
    tools::ensure_cargo_deny()?;
    println!(
        "xtask: advisories are not checked: they need a network database this machine cannot fetch"
    );
    // cargo-deny reads `cargo metadata` for every platform, so the crates of other
    // platforms (windows-sys, ...) must be in the local registry, which a build for this one
    // never downloads. On a fresh machine only `cargo fetch` brings them.
    run::cargo(&["fetch", "--locked"])?;
    run::cargo(&["deny", "--offline", "check", "bans", "licenses", "sources"])?;
    self_test()
}

/// Plants `wasmtime` in `wasm-actor` in a copy of the workspace; cargo-deny must refuse it.
fn self_test() -> Result<()> {
    let scratch = tempfile::tempdir().context("creating a folder for the cargo-deny self-test")?;
    let copy = scratch.path().join("workspace");
    copy_tree(&run::root(), &copy)?;
    let manifest = copy.join("crates").join(PLANT_IN).join("Cargo.toml");
    let text =
        fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let planted = text.replacen(
        "[dependencies]\n",
        "[dependencies]\nwasmtime.workspace = true\n",
        1,
    );
    if planted == text {
        bail!(
            "{} has no [dependencies] table to plant wasmtime in",
            manifest.display()
        );
    }
    fs::write(&manifest, planted).with_context(|| format!("writing {}", manifest.display()))?;
    let copy_manifest = copy.join("Cargo.toml");
    let copy_manifest = copy_manifest.to_string_lossy().into_owned();
    let outcome = run::output_status(
        &run::cargo_program(),
        &[
            "deny",
            "--offline",
            "--manifest-path",
            &copy_manifest,
            "check",
            "bans",
        ],
    )?;
    if outcome.success {
        bail!(
            "cargo-deny accepted a direct wasmtime dependency of {PLANT_IN}: the ban in deny.toml no longer fires"
        );
    }
    if !outcome.stderr.contains("wasmtime") {
        bail!(
            "cargo-deny refused the planted dependency, but not naming wasmtime:\n{}",
            outcome.stderr
        );
    }
    println!("xtask: cargo-deny refuses a direct wasmtime dependency of {PLANT_IN} (self-test)");
    Ok(())
}

/// Copies the workspace's sources, skipping build output and version control.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if matches!(name.to_str(), Some("target" | ".git" | "out")) {
            continue;
        }
        let (source, dest) = (entry.path(), to.join(&name));
        if entry.file_type()?.is_dir() {
            copy_tree(&source, &dest)?;
        } else {
            fs::copy(&source, &dest).with_context(|| format!("copying {}", source.display()))?;
        }
    }
    Ok(())
}
