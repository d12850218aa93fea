//! Running commands from the workspace root, saying what runs and what failed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The workspace root (the parent of xtask's manifest directory).
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Runs `program args...` in `dir`, failing with the command line if it fails.
pub fn command(program: &str, args: &[&str], dir: &Path) -> Result<()> {
    let line = format!("{program} {}", args.join(" "));
    println!("xtask: running `{line}`");
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("cannot start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed with {status}");
    }
    Ok(())
}

/// Runs cargo with `args` in the workspace root.
pub fn cargo(args: &[&str]) -> Result<()> {
    command(&cargo_program(), args, &root())
}

/// The cargo that runs xtask.
pub fn cargo_program() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs a command and returns its standard output.
pub fn output(program: &str, args: &[&str]) -> Result<String> {
    let line = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .with_context(|| format!("cannot start `{line}`"))?;
    if !out.status.success() {
        bail!(
            "`{line}` failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).with_context(|| format!("`{line}` printed invalid UTF-8"))
}

/// How a command ended: whether it succeeded, and what it printed on standard error.
pub struct Outcome {
    /// The command exited with success.
    pub success: bool,
    /// Its standard error, lossily decoded.
    pub stderr: String,
}

/// Runs a command to its end without failing on a non-zero exit.
pub fn output_status(program: &str, args: &[&str]) -> Result<Outcome> {
    let line = format!("{program} {}", args.join(" "));
    println!("xtask: running `{line}`");
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .with_context(|| format!("cannot start `{line}`"))?;
    Ok(Outcome {
        success: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
