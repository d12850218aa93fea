//! Building a workspace of guest components (the fixtures, the examples) into an `out`
//! directory with an index: wasm32-wasip2 crates are components already; a
//! wasm32-unknown-unknown crate is a core module turned into a component with `wit-component`;
//! a Python guest (`<name>/app.py`) is built with componentize-py and a JavaScript guest
//! (`<name>/app.js`) with componentize-js, both against `wit/`, and only when a source or the
//! WIT changed since the last build.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::{run, tools};

/// How a guest is built.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Built for wasm32-wasip2: the linker emits a component that imports WASI 0.2.
    Wasip2,
    /// Built for wasm32-unknown-unknown and componentized here: no WASI at all.
    CoreModule,
    /// `<name>/app.py`, built with componentize-py.
    Python,
    /// `<name>/app.js`, built with componentize-js.
    JavaScript,
    /// `<name>/app.js`, a `fetch` handler built with componentize-js for the engine's own
    /// `wasi:http` world (see [`crate::jswit`]), not against `wit/`.
    JavaScriptFetch,
}

impl Kind {
    /// The rust target of a cargo-built guest.
    fn target(self) -> Option<&'static str> {
        match self {
            Kind::Wasip2 => Some("wasm32-wasip2"),
            Kind::CoreModule => Some("wasm32-unknown-unknown"),
            Kind::Python | Kind::JavaScript | Kind::JavaScriptFetch => None,
        }
    }
}

/// A cargo workspace of guests and where its components go.
pub struct Workspace {
    /// What one guest is called in messages (`fixture`, `example`).
    pub label: &'static str,
    /// The workspace directory, relative to the repository root.
    pub dir: &'static str,
    /// The directory the components are written to, relative to the repository root.
    pub out: &'static str,
    /// Every guest crate to build: (package name, how).
    pub guests: &'static [(&'static str, Kind)],
}

impl Workspace {
    fn path(&self) -> PathBuf {
        run::root().join(self.dir)
    }

    /// The output directory.
    pub fn out_dir(&self) -> PathBuf {
        run::root().join(self.out)
    }

    /// Builds every guest into `<out>/<name>.wasm` and writes `<out>/index.txt`
    /// (`<name>\t<file>` per line). Returns the names.
    pub fn build(&self) -> Result<Vec<&'static str>> {
        // The rust targets of the cargo-built guests, each once.
        let mut targets: Vec<&str> = Vec::new();
        for target in self.guests.iter().filter_map(|(_, k)| k.target()) {
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        tools::ensure_targets(&targets)?;
        let manifest = self
            .path()
            .join("Cargo.toml")
            .to_string_lossy()
            .into_owned();
        // Always the workspace's own target dir, whatever CARGO_TARGET_DIR says: the built
        // files are read from there below.
        let target_dir = self.path().join("target");
        let target_dir = target_dir.to_string_lossy().into_owned();
        for &target in &targets {
            let mut args = vec![
                "build",
                "--release",
                "--manifest-path",
                manifest.as_str(),
                "--target-dir",
                target_dir.as_str(),
                "--target",
                target,
            ];
            for (name, _) in self
                .guests
                .iter()
                .filter(|(_, k)| k.target() == Some(target))
            {
                args.extend(["-p", name]);
            }
            run::cargo(&args).with_context(|| format!("building the {target} {}s", self.label))?;
        }
        let out = self.out_dir();
        fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let mut index = String::new();
        for (name, kind) in self.guests {
            let label = self.label;
            let file = format!("{name}.wasm");
            // A guest with no rust target is a script (Python, JavaScript).
            let component = match kind.target() {
                None => self.build_script(*kind, name, &out.join(&file))?,
                Some(target) => {
                    let built = Path::new(&target_dir)
                        .join(target)
                        .join("release")
                        .join(format!("{}.wasm", name.replace('-', "_")));
                    let bytes = fs::read(&built)
                        .with_context(|| format!("{label} {name}: reading {}", built.display()))?;
                    match kind {
                        Kind::CoreModule => componentize(label, name, &bytes)?,
                        _ => bytes,
                    }
                }
            };
            check_component(label, name, &component)?;
            fs::write(out.join(&file), &component)
                .with_context(|| format!("{label} {name}: writing {file}"))?;
            index.push_str(&format!("{name}\t{file}\n"));
        }
        fs::write(out.join("index.txt"), index)
            .with_context(|| format!("writing {}/index.txt", self.out))?;
        println!(
            "xtask: {} {}s in {}",
            self.guests.len(),
            self.label,
            out.display()
        );
        Ok(self.guests.iter().map(|(name, _)| *name).collect())
    }
}

impl Workspace {
    /// Builds a Python or JavaScript guest from `<dir>/<name>/` into `out` unless `out` is
    /// newer than every source file and `wit/`; returns the component's bytes.
    fn build_script(&self, kind: Kind, name: &str, out: &Path) -> Result<Vec<u8>> {
        let label = self.label;
        let source = self.path().join(name);
        let wit = run::root().join("wit");
        let newest_input = newest(&[&source, &wit])?;
        let built_at = fs::metadata(out).and_then(|m| m.modified()).ok();
        if built_at.is_some_and(|b| b >= newest_input) {
            return fs::read(out)
                .with_context(|| format!("{label} {name}: reading {}", out.display()));
        }
        let wit_text = wit.to_string_lossy().into_owned();
        let out_text = out.to_string_lossy().into_owned();
        match kind {
            Kind::Python => {
                let tool = tools::componentize_py()?;
                let source_text = source.to_string_lossy().into_owned();
                run::command(
                    &tool.to_string_lossy(),
                    &[
                        "-d",
                        &wit_text,
                        "-w",
                        "runtime-host",
                        "componentize",
                        "-p",
                        &source_text,
                        "app",
                        "-o",
                        &out_text,
                    ],
                    &source,
                )
            }
            Kind::JavaScriptFetch => {
                let tool = tools::componentize_js()?;
                let wit = crate::jswit::fetch_world(&tools::js_dir())?;
                let wit = wit.to_string_lossy().into_owned();
                let app = source.join("app.js").to_string_lossy().into_owned();
                run::command(
                    &tool.to_string_lossy(),
                    &[&app, "-w", &wit, "-n", crate::jswit::WORLD, "-o", &out_text],
                    &source,
                )
            }
            _ => {
                let tool = tools::componentize_js()?;
                let app = source.join("app.js").to_string_lossy().into_owned();
                run::command(
                    &tool.to_string_lossy(),
                    &[&app, "-w", &wit_text, "-n", "runtime-host", "-o", &out_text],
                    &source,
                )
            }
        }
        .with_context(|| format!("building the {label} {name}"))?;
        fs::read(out).with_context(|| format!("{label} {name}: reading {}", out.display()))
    }
}

/// The latest modification time of any file under `dirs`.
fn newest(dirs: &[&Path]) -> Result<std::time::SystemTime> {
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    let mut stack: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == "__pycache__") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                newest = newest.max(modified);
            }
        }
    }
    Ok(newest)
}

/// Wraps a core module (carrying wit-bindgen's component-type section) into a component.
fn componentize(label: &str, name: &str, module: &[u8]) -> Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .with_context(|| format!("{label} {name}: reading the core module"))?
        .encode()
        .with_context(|| format!("{label} {name}: encoding the component"))
}

/// A component starts with the wasm magic and the component-model layer version.
fn check_component(label: &str, name: &str, bytes: &[u8]) -> Result<()> {
    const HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    if bytes.get(..8) != Some(&HEADER[..]) {
        bail!("{label} {name}: the build did not produce a component");
    }
    Ok(())
}
