//! `run <manifest>`: start the system, deliver the start-up messages, run until a signal or
//! until idle, stop gracefully, print the summary.

use anyhow::anyhow;
use wasm_host::{ComponentId, Manifest};

use crate::args::RunArgs;
use crate::cache::Cache;
use crate::exit::{Failure, Outcome, invalid, runtime};
use crate::payload::{self, Message};
use crate::signals::Signals;
use crate::summary;
use crate::system::{self, Admin, System};
use crate::watch::Watcher;

/// A command-line message, checked and read before anything starts.
struct Resolved {
    target: ComponentId,
    payload: Vec<u8>,
    label: String,
}

fn resolve(manifest: &Manifest, messages: &[Message]) -> Result<Vec<Resolved>, Failure> {
    messages
        .iter()
        .map(|m| {
            let target = payload::target(manifest, &m.target).map_err(invalid)?;
            let bytes = payload::bytes(&m.payload).map_err(invalid)?;
            Ok(Resolved {
                target,
                payload: bytes,
                label: m.payload.clone(),
            })
        })
        .collect()
}

pub async fn run(args: RunArgs, cache: &Cache) -> Outcome {
    let manifest = system::manifest(&args.system)?;
    let sends = resolve(&manifest, &args.send)?;
    let requests = resolve(&manifest, &args.request)?;
    let reports = resolve(&manifest, &args.report)?;
    // Installed before anything starts: a signal from now on stops the system cleanly.
    let mut signals = Signals::install().map_err(runtime)?;
    let admin = Admin {
        addr: args.admin.addr,
        token: args.admin.token.clone(),
        http: args.http,
    };
    let system = System::start(&args.system, manifest, cache, Some(&admin)).await?;
    let driven = drive(&system, &mut signals, &args, &sends, &requests, &reports).await;
    let (tally, stats) = system.stop().await?;
    let (stopped_by, report_lines) = driven?;
    print!("{}", summary::render(&stopped_by, &tally, &stats));
    for line in report_lines {
        println!("{line}");
    }
    Ok(())
}

/// Everything between start and stop. Returns why it stopped and the report lines.
async fn drive(
    system: &System,
    signals: &mut Signals,
    args: &RunArgs,
    sends: &[Resolved],
    requests: &[Resolved],
    reports: &[Resolved],
) -> Result<(String, Vec<String>), Failure> {
    let host = &system.host;
    let watcher = if args.watch {
        // Read again: the system took the first copy.
        Some(Watcher::new(system::manifest(&args.system)?))
    } else {
        None
    };
    if args.exit_when_idle {
        tracing::info!(target: "airssys::cli", "running until idle; stop sooner with Ctrl-C or SIGTERM");
    } else {
        tracing::info!(target: "airssys::cli", "running; stop with Ctrl-C or SIGTERM");
    }
    for send in sends {
        host.send_anywhere(&send.target, send.payload.clone())
            .await
            .map_err(runtime)?;
    }
    for request in requests {
        let reply = host
            .request(&request.target, request.payload.clone())
            .await
            .map_err(runtime)?;
        println!(
            "reply from {}: {}",
            request.target,
            String::from_utf8_lossy(&reply)
        );
    }
    let watching = async {
        match watcher {
            Some(watcher) => watcher.run(host).await,
            None => std::future::pending().await,
        }
    };
    let stopped_by = tokio::select! {
        signal = signals.next() => signal.map_err(runtime)?,
        () = host.wait_idle(), if args.exit_when_idle => "idle".to_owned(),
        () = watching => "the watcher".to_owned(),
    };
    tracing::info!(target: "airssys::cli", stopped_by, "stopping");
    let mut lines = Vec::new();
    for report in reports {
        let reply = host
            .request(&report.target, report.payload.clone())
            .await
            .map_err(|e| runtime(anyhow!(e).context(format!("report from {}", report.target))))?;
        lines.push(format!(
            "report {} {}: {}",
            report.target,
            report.label,
            String::from_utf8_lossy(&reply)
        ));
    }
    Ok((stopped_by, lines))
}
