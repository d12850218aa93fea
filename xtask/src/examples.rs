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
        ("auditor", Kind::Python),
        ("discount", Kind::Wasip2),
    ],
};

/// The demo's manifest and input batch, relative to the repository root.
const MANIFEST: &str = "examples/order-pipeline.toml";
const BATCH: &str = "examples/orders.txt";

/// How a demo runs the batch: until idle, then the ledger's totals and the auditor's report.
const UNTIL_IDLE_WITH_REPORTS: [&str; 5] = [
    "--exit-when-idle",
    "--report",
    "orders/ledger/1=totals",
    "--report",
    "orders/auditor/1=report",
];

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
    // rest of the workspace and rebuilds wasmtime, instead of sharing the tests' build. Not
    // `--quiet`: the first build compiles wasmtime for minutes, and cargo's progress says so.
    println!(
        "xtask: building and running airssys-wasm (the first build compiles wasmtime, a few \
         minutes; `cargo xtask test` reuses it)"
    );
    let mut args = vec![
        "run",
        "--bin",
        "airssys-wasm",
        "--",
        "run",
        MANIFEST,
        "--storage",
        &storage,
        "--send",
        &send,
    ];
    args.extend(UNTIL_IDLE_WITH_REPORTS);
    run::cargo(&args).context("running the order-pipeline demo")?;
    println!(
        "xtask: what the pipeline does and why the plug-in fails, restarts and is denied: \
         examples/README.md"
    );
    Ok(())
}

/// The split demo's manifests: the pipeline on edge-1, pricing and the plug-in on edge-2.
const EDGE_1: &str = "examples/cluster/edge-1.toml";
const EDGE_2: &str = "examples/cluster/edge-2.toml";

/// Runs the order pipeline split over two `airssys-wasm` processes and a nats-server of its
/// own (on a free loopback port): edge-2 serves pricing and the discount plug-in, edge-1 runs
/// the batch until idle and prints the same summary and totals as `demo`.
pub fn demo_cluster() -> Result<()> {
    build()?;
    crate::tools::ensure_nats_server()?;
    run::cargo(&["build", "--bin", "airssys-wasm"]).context("building airssys-wasm")?;
    let binary = run::root().join("target/debug/airssys-wasm");
    for name in ["edge-1.redb", "edge-2.redb"] {
        let file = EXAMPLES.out_dir().join(name);
        if file.exists() {
            fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        }
    }
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .context("finding a free loopback port for nats-server")?
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let store = tempfile_dir()?;
    let nats = Child::spawn(
        &run::root().join("target/tools/nats/bin/nats-server"),
        &[
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--store_dir",
            &store,
        ],
    )?;
    wait_for_port(port)?;
    println!("xtask: nats-server on {url}; starting edge-2 (pricing, the discount plug-in)");
    let edge2 = Child::spawn(&binary, &["run", EDGE_2, "--cluster-url", &url])?;
    let send = format!("orders/ingest/1=@{BATCH}");
    // edge-1 starts once edge-2's components answer: its ledger's first request needs them.
    let ready = (0..200).any(|_| {
        let ok = std::process::Command::new(&binary)
            .args([
                "call",
                "--cluster",
                &url,
                "--name",
                "orders",
                "orders/pricing/1",
                "price sku=widget qty=1",
            ])
            .current_dir(run::root())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        ok
    });
    if !ready {
        anyhow::bail!("edge-2 did not start: orders/pricing/1 never answered on {url}");
    }
    println!("xtask: edge-2 is up; running the batch on edge-1 until idle");
    let mut args = vec!["run", EDGE_1, "--cluster-url", &url, "--send", &send];
    args.extend(UNTIL_IDLE_WITH_REPORTS);
    let edge1 = run::command(&binary.to_string_lossy(), &args, &run::root());
    println!("xtask: stopping edge-2 (its summary shows the plug-in's restarts)");
    edge2.terminate()?;
    drop(nats);
    edge1.context("running edge-1 of the split demo")
}

/// A process stopped (SIGKILL) when dropped, unless it was terminated first.
struct Child(Option<std::process::Child>);

impl Child {
    fn spawn(program: &std::path::Path, args: &[&str]) -> Result<Self> {
        let child = std::process::Command::new(program)
            .args(args)
            .current_dir(run::root())
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        Ok(Self(Some(child)))
    }

    /// Asks the process to stop (SIGTERM, through `kill`) and waits for it.
    fn terminate(mut self) -> Result<()> {
        if let Some(mut child) = self.0.take() {
            let pid = child.id().to_string();
            run::command("kill", &["-TERM", &pid], &run::root())?;
            child.wait().context("waiting for edge-2 to stop")?;
        }
        Ok(())
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_for_port(port: u16) -> Result<()> {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    anyhow::bail!("nats-server did not listen on 127.0.0.1:{port}")
}

/// The demo server's JetStream store, emptied first: each demo starts a cluster afresh.
fn tempfile_dir() -> Result<String> {
    let dir = run::root().join("target/tools/nats/demo-store");
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.to_string_lossy().into_owned())
}
