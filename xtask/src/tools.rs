//! Installing what the tasks need when it is missing: rust targets and cargo-deny.

use anyhow::{Context, Result};

use crate::run;

/// Makes sure the rust targets are installed (`rustup target add` when missing).
pub fn ensure_targets(targets: &[&str]) -> Result<()> {
    let installed = run::output("rustup", &["target", "list", "--installed"])
        .context("cannot list the installed rust targets (is rustup on PATH?)")?;
    for target in targets {
        if installed.lines().any(|line| line.trim() == *target) {
            continue;
        }
        println!("xtask: the rust target {target} is missing; installing it");
        run::command("rustup", &["target", "add", target], &run::root())
            .with_context(|| format!("cannot install the rust target {target}"))?;
    }
    Ok(())
}

/// Makes sure `cargo deny` works (`cargo install --locked cargo-deny` when missing).
pub fn ensure_cargo_deny() -> Result<()> {
    let cargo = run::cargo_program();
    if run::output(&cargo, &["deny", "--version"]).is_ok() {
        return Ok(());
    }
    println!("xtask: cargo-deny is missing; installing it (takes a few minutes)");
    run::command(&cargo, &["install", "--locked", "cargo-deny"], &run::root())
        .context("cannot install cargo-deny")
}
