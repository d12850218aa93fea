//! `airssys-wasm`: run a system of WebAssembly components described by a TOML manifest.
//!
//! - `run <manifest>`: start the system and run until Ctrl-C, SIGTERM or (with
//!   `--exit-when-idle`) until nothing is left to do; print a summary;
//! - `call <manifest> <component-id> <payload>`: start, make one request, print the reply;
//! - `validate <manifest>`: check the manifest and every component it names;
//! - `inspect <file.wasm>`: print a component's imports, exports and metadata;
//! - `new <dir> --lang rust|python|js`: write a component project and a manifest to run it;
//! - `ctl --admin <url> <verb>`: list, show, call, send, stop, start or upgrade the components
//!   of a host running with `run --admin`; `ctl --cluster <url> ls`: every component of a
//!   cluster, with its host;
//! - `host --cluster <url> --host <name>`: join a cluster with no manifest and run what the
//!   cluster places here;
//! - `deploy --cluster <url> app.toml`, `undeploy --cluster <url> <app>`: put an application
//!   into a cluster (or change it), or take it out.
//!
//! Compiled components are kept in a cache directory between runs (`--cache-dir`,
//! `AIRSSYS_CACHE_DIR`, by default the XDG cache dir; `--no-cache` turns it off), so a second
//! start skips compilation.
//!
//! Logs go to standard error (`tracing`, level from `RUST_LOG`, `info` by default); replies and
//! summaries go to standard output. Exit codes (from BSD's sysexits): 0 success, 64 usage
//! error, 65 invalid input (manifest, component file, unknown component id, payload file),
//! 70 runtime failure (start, request, shutdown).

mod args;
mod cache;
mod call;
mod cluster_ls;
mod ctl;
mod deploy;
mod exit;
mod host;
mod inspect;
mod logging;
mod new;
#[cfg(feature = "otlp")]
mod otlp;
mod payload;
mod run;
mod signals;
mod summary;
mod system;
mod validate;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::exit::Failure;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are successes; anything else is a usage error.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // Kept to the end: with OTLP it flushes the exporter when dropped.
    let _logging = match logging::init(cli.log_format) {
        Ok(logging) => logging,
        Err(e) => {
            eprintln!("airssys-wasm: cannot set up logging: {e:#}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("airssys-wasm: cannot start the tokio runtime: {e}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let cache = cache::dir(cli.cache_dir, cli.no_cache);
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(args, &cache).await,
            Command::Call(args) => call::call(args, &cache).await,
            Command::Validate(args) => validate::validate(args, &cache).await,
            Command::Inspect(args) => inspect::inspect(args, &cache).await,
            Command::New(args) => new::new(args).await,
            Command::Ctl(args) => ctl::ctl(args).await,
            Command::Host(args) => host::host(args, &cache).await,
            Command::Deploy(args) => deploy::deploy(args, &cache).await,
            Command::Undeploy(args) => deploy::undeploy(args).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report(&failure),
    }
}

fn report(failure: &Failure) -> ExitCode {
    eprintln!("airssys-wasm: error: {:#}", failure.error());
    ExitCode::from(failure.code())
}
