//! The guest fixtures the tests run: their table, their build, and the check that every one
//! of them is used by a test.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::guests::{Kind, Workspace};
use crate::run;

/// The fixtures workspace and its one table of fixtures: (name, how it is built).
const FIXTURES: Workspace = Workspace {
    label: "fixture",
    dir: "fixtures",
    out: "fixtures/out",
    guests: &[
        ("echo", Kind::CoreModule),
        ("counter", Kind::Wasip2),
        ("requester", Kind::Wasip2),
        ("forwarder", Kind::Wasip2),
        ("broadcaster", Kind::Wasip2),
        ("panicker", Kind::Wasip2),
        ("spinner", Kind::Wasip2),
        ("hog", Kind::Wasip2),
        ("deep-recursion", Kind::Wasip2),
        ("sleeper", Kind::Wasip2),
        ("intruder", Kind::Wasip2),
        ("logger", Kind::Wasip2),
        ("wrong-export", Kind::Wasip2),
        ("unknown-import", Kind::Wasip2),
        ("netclient", Kind::Wasip2),
        ("pinger", Kind::CoreModule),
        ("relay", Kind::CoreModule),
        ("flow", Kind::CoreModule),
        ("sequencer", Kind::Wasip2),
        ("sequencer-v2", Kind::Wasip2),
        ("counter-v2", Kind::Wasip2),
        ("counter-broken", Kind::Wasip2),
        ("http-hello", Kind::Wasip2),
        ("http-caller", Kind::Wasip2),
        ("py-kit", Kind::Python),
        ("js-kit", Kind::JavaScript),
        ("js-fetch", Kind::JavaScriptFetch),
    ],
};

/// Builds every fixture into `fixtures/out/<name>.wasm` and writes `fixtures/out/index.txt`.
/// Returns the fixture names.
pub fn build() -> Result<Vec<&'static str>> {
    FIXTURES.build()
}

/// Fails naming any fixture that no test or benchmark uses (mentions as `"<name>"`).
pub fn check_every_fixture_is_used(names: &[&str]) -> Result<()> {
    let mut sources = String::new();
    let crates = run::root().join("crates");
    for entry in fs::read_dir(&crates).with_context(|| format!("listing {}", crates.display()))? {
        let dir = entry?.path();
        for sub in ["tests", "benches"] {
            collect_rust(&dir.join(sub), &mut sources)?;
        }
    }
    let unused: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| !sources.contains(&format!("\"{name}\"")))
        .collect();
    if !unused.is_empty() {
        bail!("fixtures without a test: {}", unused.join(", "));
    }
    Ok(())
}

fn collect_rust(dir: &Path, into: &mut String) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rust(&path, into)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push_str(
                &fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
            );
        }
    }
    Ok(())
}
