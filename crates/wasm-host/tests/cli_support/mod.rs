//! Running the `airssys-wasm` binary as a process, on the example system built by
//! `cargo xtask examples` (or `cargo xtask test`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Exit codes of the command (see its `--help`).
pub const USAGE: i32 = 64;
pub const INVALID: i32 = 65;
pub const RUNTIME: i32 = 70;

/// A hang guard only: every command here ends in seconds.
const HANG_GUARD: Duration = Duration::from_secs(180);

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example manifest, after checking its components are built.
pub fn example_manifest() -> PathBuf {
    let index = root().join("examples/out/index.txt");
    assert!(
        index.is_file(),
        "the example components are not built: run `cargo xtask examples`"
    );
    root().join("examples/order-pipeline.toml")
}

/// A built example component.
pub fn example_component(name: &str) -> PathBuf {
    example_manifest();
    root().join("examples/out").join(format!("{name}.wasm"))
}

/// The example batch of orders.
pub fn example_batch() -> PathBuf {
    root().join("examples/orders.txt")
}

/// The command, with the environment the tests expect.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airssys-wasm"));
    cmd.env("RUST_LOG", "info").env_remove("RUST_LOG_STYLE");
    // The tests' compiled components go to a cache of their own, never the user's.
    cmd.env("AIRSSYS_CACHE_DIR", root().join("target/tmp/cli-cache"));
    cmd.current_dir(root());
    cmd
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> i32 {
        self.status.code().expect("exited with a code")
    }

    /// The value of a `key: value` line of the summary.
    pub fn summary(&self, key: &str) -> u64 {
        let prefix = format!("  {key}: ");
        let line = self
            .stdout
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no `{key}` in the summary:\n{}", self.stdout));
        line[prefix.len()..].trim().parse().unwrap()
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs the command with `args` to completion.
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let child = command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start airssys-wasm");
    finish(child)
}

/// Reads a child's output to the end and waits for it; the hang guard kills it.
pub fn finish(mut child: Child) -> Output {
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let status = wait(child);
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_string(&mut text).unwrap();
        }
        text
    })
}

/// Waits for the child to exit; after the hang guard it is killed and the test fails.
pub fn wait(mut child: Child) -> ExitStatus {
    let pid = child.id();
    let (done, exited) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    match exited.recv_timeout(HANG_GUARD) {
        Ok(status) => status.unwrap(),
        Err(_) => {
            signal(pid, "KILL");
            panic!("airssys-wasm did not finish within {HANG_GUARD:?}");
        }
    }
}

/// Sends a signal with the `kill` command.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Writes a manifest into `dir` whose component paths point at the built examples.
pub fn write_manifest(dir: &Path, text: &str) -> PathBuf {
    example_manifest();
    let path = dir.join("system.toml");
    let out = root().join("examples/out");
    let text = text.replace("{out}", &out.to_string_lossy());
    std::fs::write(&path, text).unwrap();
    path
}
