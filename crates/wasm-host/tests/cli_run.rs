//! `airssys-wasm run` on the example system, as a process: to idle with a summary, and
//! stopped by SIGTERM with the storage file left consistent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use cli_support::*;
use wasm_host::{ComponentId, RedbStorage, StorageBackend};

/// The batch in examples/orders.txt, worked out by hand: 8 orders booked for 35823 cents
/// (o-4 at full price because the discount plug-in loops, o-6 because it traps), 3 rejected
/// (o-5 and o-9 by the validator, o-7 unpriced).
const BOOKED: u64 = 8;
const TOTAL_CENTS: u64 = 35823;

fn batch_arg() -> String {
    format!("orders/ingest/1=@{}", example_batch().display())
}

#[test]
fn run_to_idle_contains_the_faulty_plugin_and_books_every_order() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("pipeline.redb");
    let out = run([
        "run".as_ref(),
        example_manifest().as_os_str(),
        "--storage".as_ref(),
        storage.as_os_str(),
        "--send".as_ref(),
        batch_arg().as_ref(),
        "--exit-when-idle".as_ref(),
        "--report".as_ref(),
        "orders/ledger/1=totals".as_ref(),
        "--report".as_ref(),
        "orders/auditor/1=report".as_ref(),
    ]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(out.stdout.contains("stopped by: idle"), "{out}");
    // The loop (CPU limit) and the trap: two failures, each restarted.
    assert_eq!(out.summary("failures"), 2, "{out}");
    assert_eq!(out.summary("restarts"), 2, "{out}");
    // The plug-in's kickback attempt on each of the three bulk orders.
    assert_eq!(out.summary("capability denials"), 3, "{out}");
    // The two messages the plug-in failed on.
    assert_eq!(out.summary("dead letters"), 2, "{out}");
    assert_eq!(out.summary("groups failed"), 0, "{out}");
    assert!(
        out.summary("messages handled") >= 11 + 11 + BOOKED * 2,
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!(
            "report orders/ledger/1 totals: orders={BOOKED} total-cents={TOTAL_CENTS}"
        )),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!(
            "report orders/auditor/1 report: booked={BOOKED} rejected=3 booked-cents={TOTAL_CENTS}"
        )),
        "{out}"
    );
    // The denial is in the log, naming the plug-in and what it tried to reach.
    assert!(out.stderr.contains("plugins/discount/1"), "{out}");
    assert!(out.stderr.contains("kickback refused"), "{out}");
    // Each dead letter is logged with the message that was lost: the ledger's discount
    // requests for o-4 (dave, the loop) and o-6 (zoe, the trap).
    let dead: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("dead letter"))
        .collect();
    assert_eq!(dead.len(), 2, "{out}");
    for customer in ["dave", "zoe"] {
        assert!(
            dead.iter().any(|l| l.contains("sender=orders/ledger/1")
                && l.contains(&format!("payload=discount customer={customer} "))),
            "{out}"
        );
    }
    // A log read through a pipe is plain text, and a guest log line without context carries
    // no empty `context=[]`.
    assert!(!out.stderr.contains('\u{1b}'), "{out}");
    assert!(!out.stderr.contains("context=[]"), "{out}");
    // The totals are in the storage file after the process ended.
    let ledger = ledger_keys(&storage);
    assert_eq!(ledger.total, TOTAL_CENTS);
    assert_eq!(ledger.orders, BOOKED);
}

#[test]
fn sigterm_stops_run_gracefully_and_leaves_the_storage_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("pipeline.redb");
    let mut child = command()
        .arg("run")
        .arg(example_manifest())
        .arg("--storage")
        .arg(&storage)
        .arg("--send")
        .arg(batch_arg())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Read the log as it comes; wait until an order is booked, then ask the process to stop.
    let (lines, log) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let stderr = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            all.push_str(&line);
            all.push('\n');
            let _ = lines.send(line);
        }
        all
    });
    let stdout = child.stdout.take().unwrap();
    let stdout = thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    loop {
        let line = log
            .recv_timeout(Duration::from_secs(120))
            .expect("the pipeline never booked an order");
        if line.contains("audit: booked") {
            break;
        }
    }
    signal(pid, "TERM");
    let status = wait(child);
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let out = Output {
        status,
        stdout,
        stderr,
    };
    assert_eq!(out.code(), 0, "{out}");
    assert!(out.stdout.contains("stopped by: sigterm"), "{out}");
    // The ledger's `shutdown` export ran (it logs, then stores `shutdown=clean`).
    assert!(out.stderr.contains("ledger shutdown:"), "{out}");
    assert!(out.stderr.contains("system stopped"), "{out}");
    // Reopened through the library: every booked order is in the totals, and nothing else.
    let ledger = ledger_keys(&storage);
    assert!(
        ledger.orders >= 1 && ledger.orders <= BOOKED,
        "{ledger:?}\n{out}"
    );
    assert_eq!(
        ledger.orders,
        ledger.per_order.len() as u64,
        "{ledger:?}\n{out}"
    );
    assert_eq!(
        ledger.total,
        ledger.per_order.iter().sum::<u64>(),
        "{ledger:?}\n{out}"
    );
    assert_eq!(
        ledger.shutdown.as_deref(),
        Some("clean"),
        "{ledger:?}\n{out}"
    );
}

#[derive(Debug)]
struct Ledger {
    orders: u64,
    total: u64,
    per_order: Vec<u64>,
    shutdown: Option<String>,
}

/// The ledger's keys, read from the storage file through the library.
fn ledger_keys(path: &std::path::Path) -> Ledger {
    let storage = RedbStorage::open(path).unwrap();
    let id: ComponentId = "orders/ledger/1".parse().unwrap();
    let text = |key: &str| {
        storage
            .get(&id, key)
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap())
    };
    let number = |key: &str| text(key).map_or(0, |v| v.parse::<u64>().unwrap());
    let per_order = storage
        .list_keys(&id, Some("order/"))
        .unwrap()
        .iter()
        .map(|key| number(key))
        .collect();
    Ledger {
        orders: number("orders"),
        total: number("total-cents"),
        per_order,
        shutdown: text("shutdown"),
    }
}
