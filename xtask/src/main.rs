//! Project automation: `cargo xtask <command>`.
//!
//! - `fixtures`: build the guest components into `fixtures/out` with their index;
//! - `examples`: build the example system's components into `examples/out`;
//! - `demo`: build the examples and run the order pipeline with the `airssys-wasm` command;
//! - `demo-cluster`: the same pipeline split over two `airssys-wasm` processes and a
//!   nats-server;
//! - `test`: fixtures and examples (and the unit tests of the examples' shared library and of
//!   the Rust guest SDK, `sdk/rust`), the layer
//!   rule, cargo-deny, a nats-server for the cluster tests, then every test of the workspace,
//!   then check every fixture is used;
//! - `deny`: the offline cargo-deny checks (bans, licences, sources) and a self-test of the
//!   wasmtime ban;
//! - `layers`: the dependency edges between our crates;
//! - `ci`: fmt, clippy, layers, deny, test;
//! - `bench`: the release benchmarks, printing medians and ratios.
//! - `bench-count`: instructions per round trip, the floor's and the actors', under callgrind.
//! - `soak --minutes N`: the load test's rounds, in release, for N minutes, printing
//!   throughput and resident memory after each.

mod count;
mod deny;
mod examples;
mod fixtures;
mod guests;
mod jswit;
mod layers;
mod run;
mod tools;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "airssys-wasm project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the guest fixtures into fixtures/out and write their index.
    Fixtures,
    /// Build the example components into examples/out.
    Examples,
    /// Build the examples and run the order-pipeline demo to completion, with a summary.
    Demo,
    /// Run the order-pipeline demo split over two host processes and a nats-server.
    DemoCluster,
    /// Build the fixtures and examples, check the layers and cargo-deny, run every test of the
    /// workspace, check every fixture is used.
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run cargo-deny's offline checks and the ban self-test (installing cargo-deny if needed).
    Deny,
    /// Check the dependency edges between the workspace's layer crates.
    Layers,
    /// Everything CI runs: fmt, clippy, then `test` (layers, deny, tests).
    Ci,
    /// Build the fixtures and run the release benchmarks.
    Bench,
    /// Count the instructions of one round trip, the floor's and the actors', under
    /// callgrind (needs valgrind).
    BenchCount,
    /// Run the load test's rounds (1,000,000 messages each, every one checked) in release
    /// for `--minutes`, printing throughput and resident memory after each round.
    Soak {
        /// How long to go on (fractions allowed).
        #[arg(long)]
        minutes: f64,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Fixtures => fixtures::build().map(|_| ()),
        Command::Examples => examples::build(),
        Command::Demo => examples::demo(),
        Command::DemoCluster => examples::demo_cluster(),
        Command::Test { args } => test(&args),
        Command::Deny => deny::check(),
        Command::Layers => layers::check_workspace(),
        Command::Ci => ci(),
        Command::Bench => bench(),
        Command::BenchCount => count::report(),
        Command::Soak { minutes } => soak(minutes),
    }
}

fn test(args: &[String]) -> Result<()> {
    let built = fixtures::build()?;
    // The CLI tests run the example system.
    examples::build()?;
    examples::test_common()?;
    test_sdk()?;
    layers::check_workspace()?;
    deny::check()?;
    // The cluster tests start their own servers from this binary.
    tools::ensure_nats_server()?;
    // The admin endpoint's test checks a scrape of /metrics with it.
    tools::ensure_promtool()?;
    let mut cmd = vec!["test", "--workspace"];
    cmd.extend(args.iter().map(String::as_str));
    run::cargo(&cmd)?;
    // The OTLP exporter is off by default; this keeps its feature compiling.
    run::cargo(&[
        "check",
        "--bin",
        "airssys-wasm",
        "--features",
        "wasm-host/otlp",
    ])?;
    fixtures::check_every_fixture_is_used(&built)
}

/// Runs the Rust guest SDK's unit tests on the host (its own workspace, `sdk/rust`).
fn test_sdk() -> Result<()> {
    let manifest = run::root().join("sdk/rust/Cargo.toml");
    let target_dir = run::root().join("sdk/rust/target");
    run::cargo(&[
        "test",
        "--manifest-path",
        &manifest.to_string_lossy(),
        "--target-dir",
        &target_dir.to_string_lossy(),
    ])
}

fn ci() -> Result<()> {
    run::cargo(&["fmt", "--all", "--check"])?;
    run::cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    test(&[])
}

fn bench() -> Result<()> {
    fixtures::build()?;
    run::cargo(&["bench", "--workspace"])
}

fn soak(minutes: f64) -> Result<()> {
    if minutes.is_nan() || minutes <= 0.0 {
        anyhow::bail!("--minutes must be more than 0, not {minutes}");
    }
    fixtures::build()?;
    let args = [
        "test",
        "--release",
        "-p",
        "wasm-host",
        "--test",
        "load",
        "--",
        "--ignored",
        "--exact",
        "soak",
        "--nocapture",
    ];
    println!(
        "xtask: running `cargo {}` with AIRSSYS_SOAK_MINUTES={minutes}",
        args.join(" ")
    );
    let status = std::process::Command::new(run::cargo_program())
        .args(args)
        .env("AIRSSYS_SOAK_MINUTES", minutes.to_string())
        .current_dir(run::root())
        .status()?;
    if !status.success() {
        anyhow::bail!("the soak failed with {status}");
    }
    Ok(())
}
