//! A host process killed with SIGKILL, then its storage file reopened: every write whose reply
//! was delivered is there, and no message's writes are there in part.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;
mod http_client;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use cli_support::{command, example_batch, example_manifest};
use test_fixtures::{fixture_path, free_port};
use wasm_host::{ComponentId, RedbStorage, StorageBackend};

fn id(text: &str) -> ComponentId {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// A small pseudo-random sequence (xorshift), seeded from the clock and printed, so a failing
/// kill moment can be replayed with `AIRSSYS_CRASH_SEED`.
struct Random(u64);

impl Random {
    fn seeded() -> Self {
        let seed = std::env::var("AIRSSYS_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        println!("seed {seed}");
        Self(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// SIGKILL, and reap.
fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

const WRITERS: usize = 16;

fn writers_manifest(dir: &Path) -> std::path::PathBuf {
    let mut text = String::from("[host]\nrequest_timeout_ms = 60000\n");
    for n in 0..WRITERS {
        text.push_str(&format!(
            "\n[[components]]\nid = \"w/c{n}/1\"\npath = \"{}\"\n\n\
             [components.capabilities.storage]\nread = true\nwrite = true\nquota_keys = 100000\n\
             quota_bytes = 10000000\n",
            fixture_path("counter").display()
        ));
    }
    let path = dir.join("writers.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Polls `/readyz` until every component runs.
async fn until_ready(addr: SocketAddr) {
    let start = Instant::now();
    loop {
        if let Ok(answer) = http_client::try_call(addr, "GET", "/readyz", None, "").await
            && answer.status == 200
        {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_during_heavy_writes_keeps_every_answered_write_and_no_half_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("writes.redb");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = command()
        .arg("run")
        .arg(writers_manifest(dir.path()))
        .arg("--storage")
        .arg(&file)
        .arg("--admin")
        .arg(addr.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    until_ready(addr).await;
    // Each writer sends `pair k` for k = 1, 2, ... and records the last k answered.
    let answered: Arc<Vec<AtomicU64>> = Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let mut writers = Vec::new();
    for n in 0..WRITERS {
        let answered = answered.clone();
        writers.push(tokio::spawn(async move {
            for k in 1.. {
                let path = format!("/v1/components/w/c{n}/1/request");
                let body = format!("pair {k}");
                match http_client::try_call(addr, "POST", &path, None, body).await {
                    Ok(answer) if answer.status == 200 => {
                        assert_eq!(answer.text(), k.to_string());
                        answered[n].store(k, Ordering::SeqCst);
                    }
                    _ => return,
                }
            }
        }));
    }
    let mut random = Random::seeded();
    let target = 400 + random.below(800);
    let total = || {
        answered
            .iter()
            .map(|a| a.load(Ordering::SeqCst))
            .sum::<u64>()
    };
    let start = Instant::now();
    while total() < target {
        // A writer stops at its first refused or failed request: if they all stopped, or it
        // takes far too long, the host is not doing its job.
        assert!(
            !writers.iter().all(|w| w.is_finished()),
            "every writer stopped after {} answered pairs",
            total()
        );
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "never reached {target}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kill(child);
    for writer in writers {
        writer.await.unwrap();
    }
    let store = RedbStorage::open(&file).unwrap();
    let mut partly = 0;
    for n in 0..WRITERS {
        let ns = id(&format!("w/c{n}/1"));
        let last = answered[n].load(Ordering::SeqCst);
        // Every answered pair is there, both halves.
        for k in 1..=last {
            for half in ["a", "b"] {
                let value = store.get(&ns, &format!("{k}/{half}")).unwrap();
                assert_eq!(
                    value.as_deref(),
                    Some(k.to_string().as_bytes()),
                    "w/c{n}/1: answered pair {k}/{half} is missing"
                );
            }
        }
        // Whatever else is there (a pair committed whose reply was lost) is whole.
        let mut halves: BTreeMap<String, usize> = BTreeMap::new();
        for key in store.list_keys(&ns, None).unwrap() {
            let (pair, _) = key.split_once('/').unwrap();
            *halves.entry(pair.to_owned()).or_default() += 1;
        }
        for (pair, count) in &halves {
            if *count != 2 {
                partly += 1;
                eprintln!("w/c{n}/1: pair {pair} has {count} of its 2 writes");
            }
        }
    }
    store.close().unwrap();
    println!("killed after {} answered pairs", total());
    assert_eq!(partly, 0, "messages with writes kept in part");
}

/// The demo's ledger, from the booking it keeps in storage.
#[derive(Debug)]
struct Ledger {
    orders: u64,
    total: u64,
    per_order: Vec<u64>,
    customers: u64,
}

fn ledger(path: &Path) -> Ledger {
    let storage = RedbStorage::open(path).unwrap();
    let id = id("orders/ledger/1");
    let number = |key: &str| {
        storage
            .get(&id, key)
            .unwrap()
            .map_or(0, |v| String::from_utf8(v).unwrap().parse::<u64>().unwrap())
    };
    let sum_of = |prefix: &str| -> Vec<u64> {
        storage
            .list_keys(&id, Some(prefix))
            .unwrap()
            .iter()
            .map(|key| number(key))
            .collect()
    };
    let ledger = Ledger {
        orders: number("orders"),
        total: number("total-cents"),
        per_order: sum_of("order/"),
        customers: sum_of("customer/").iter().sum(),
    };
    storage.close().unwrap();
    ledger
}

#[test]
fn the_demo_ledger_agrees_with_its_orders_after_a_sigkill_at_any_moment() {
    let mut random = Random::seeded();
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for run in 0..12 {
        let file = dir.path().join(format!("ledger-{run}.redb"));
        let mut child = command()
            .arg("run")
            .arg(example_manifest())
            .arg("--storage")
            .arg(&file)
            .arg("--send")
            .arg(format!("orders/ingest/1=@{}", example_batch().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The batch is booked within about 150 ms of the start: kill somewhere in it.
        let mut log = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while !line.contains("system started") {
            line.clear();
            assert!(log.read_line(&mut line).unwrap() > 0, "the host exited");
        }
        let reader = std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
        std::thread::sleep(Duration::from_millis(random.below(200)));
        kill(child);
        let _ = reader.join();
        let ledger = ledger(&file);
        assert_eq!(
            ledger.orders,
            ledger.per_order.len() as u64,
            "run {run}: {ledger:?}"
        );
        assert_eq!(
            ledger.total,
            ledger.per_order.iter().sum::<u64>(),
            "run {run}: {ledger:?}"
        );
        assert_eq!(ledger.customers, ledger.total, "run {run}: {ledger:?}");
        seen.push(ledger.orders);
    }
    println!("orders booked when killed: {seen:?}");
}
