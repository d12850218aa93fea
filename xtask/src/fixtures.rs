//! Building the guest fixtures: wasm32-wasip2 crates are components already; the
//! wasm32-unknown-unknown one is a core module turned into a component with `wit-component`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::{run, tools};

/// How a fixture is built.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Built for wasm32-wasip2: the linker emits a component that imports WASI 0.2.
    Wasip2,
    /// Built for wasm32-unknown-unknown and componentized here: no WASI at all.
    CoreModule,
}

impl Kind {
    fn target(self) -> &'static str {
        match self {
            Kind::Wasip2 => "wasm32-wasip2",
            Kind::CoreModule => "wasm32-unknown-unknown",
        }
    }
}

/// The one table of fixtures: (name, how it is built).
const FIXTURES: &[(&str, Kind)] = &[
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
];

fn fixtures_dir() -> PathBuf {
    run::root().join("fixtures")
}

/// Builds every fixture into `fixtures/out/<name>.wasm` and writes `fixtures/out/index.txt`
/// (`<name>\t<file>` per line). Returns the fixture names.
pub fn build() -> Result<Vec<&'static str>> {
    tools::ensure_targets(&[Kind::Wasip2.target(), Kind::CoreModule.target()])?;
    let manifest = fixtures_dir().join("Cargo.toml");
    let manifest = manifest.to_string_lossy().into_owned();
    // Explicit, so a CARGO_TARGET_DIR meant for the host workspace does not move the output.
    let target_dir = fixtures_dir().join("target");
    let target_dir = target_dir.to_string_lossy().into_owned();
    for kind in [Kind::Wasip2, Kind::CoreModule] {
        let mut args = vec![
            "build",
            "--release",
            "--manifest-path",
            manifest.as_str(),
            "--target-dir",
            target_dir.as_str(),
            "--target",
            kind.target(),
        ];
        for (name, _) in FIXTURES.iter().filter(|(_, k)| *k == kind) {
            args.extend(["-p", name]);
        }
        run::cargo(&args).with_context(|| format!("building the {} fixtures", kind.target()))?;
    }
    let out = fixtures_dir().join("out");
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut index = String::new();
    for (name, kind) in FIXTURES {
        let built = fixtures_dir()
            .join("target")
            .join(kind.target())
            .join("release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let bytes = fs::read(&built)
            .with_context(|| format!("fixture {name}: reading {}", built.display()))?;
        let component = match kind {
            Kind::Wasip2 => bytes,
            Kind::CoreModule => componentize(name, &bytes)?,
        };
        check_component(name, &component)?;
        let file = format!("{name}.wasm");
        fs::write(out.join(&file), &component)
            .with_context(|| format!("fixture {name}: writing {file}"))?;
        index.push_str(&format!("{name}\t{file}\n"));
    }
    fs::write(out.join("index.txt"), index).context("writing fixtures/out/index.txt")?;
    println!("xtask: {} fixtures in {}", FIXTURES.len(), out.display());
    Ok(FIXTURES.iter().map(|(name, _)| *name).collect())
}

/// Wraps a core module (carrying wit-bindgen's component-type section) into a component.
fn componentize(name: &str, module: &[u8]) -> Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .with_context(|| format!("fixture {name}: reading the core module"))?
        .encode()
        .with_context(|| format!("fixture {name}: encoding the component"))
}

/// A component starts with the wasm magic and the component-model layer version.
fn check_component(name: &str, bytes: &[u8]) -> Result<()> {
    const HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    if bytes.get(..8) != Some(&HEADER[..]) {
        bail!("fixture {name}: the build did not produce a component");
    }
    Ok(())
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
