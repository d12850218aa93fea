//! Deploying to a cluster (issue 28), end to end: a three-server NATS cluster with
//! JetStream (buckets and streams of three replicas), hosts that are real `airssys-wasm host`
//! processes with no manifest, and `airssys-wasm deploy`, `undeploy` and `ctl --cluster ls`
//! run as a user runs them. Placement, failover with state, a joining host, a live upgrade by
//! redeploy and bad input are checked on real components.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use test_fixtures::{NatsServer, Proxy, fixture_path, free_port, workspace_root};
use wasm_host::deploy::{ClusterClient, ClusterView};
use wasm_host::{ClusterConfig, ComponentId, Host};

const CLUSTER: &str = "shop";
const LEASE_MS: u64 = 2000;

fn id(text: &str) -> ComponentId {
    text.parse().unwrap()
}

fn cache_dir() -> PathBuf {
    workspace_root().join("target/tmp/deploy-test-cache")
}

/// A host process: `airssys-wasm host`, its log in a file.
struct HostProc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl HostProc {
    fn start(dir: &Path, urls: &str, name: &str, labels: &[&str]) -> Self {
        Self::start_with(dir, urls, name, labels, &[])
    }

    fn start_with(dir: &Path, urls: &str, name: &str, labels: &[&str], extra: &[&str]) -> Self {
        // Buckets of three replicas on a three-server cluster, one on one server.
        let replicas = if urls.contains(',') { "3" } else { "1" };
        let log = dir.join(format!("{name}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_airssys-wasm"));
        cmd.args(["host", "--cluster", urls, "--name", CLUSTER, "--host", name])
            .args(["--lease-ms", &LEASE_MS.to_string(), "--replicas", replicas])
            .arg("--cache-dir")
            .arg(cache_dir());
        for label in labels {
            cmd.args(["--label", label]);
        }
        cmd.args(extra);
        let child = cmd
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for HostProc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log_text();
            eprintln!("--- host {}: warnings, upgrades, starts ---", self.name);
            for line in log.lines().filter(|l| {
                l.contains("WARN")
                    || l.contains("ERROR")
                    || l.contains("upgrade")
                    || l.contains("started here")
            }) {
                eprintln!("{}", line.chars().take(300).collect::<String>());
            }
        }
    }
}

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airssys-wasm"))
        .args(args)
        .arg("--cache-dir")
        .arg(cache_dir())
        .output()
        .unwrap()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn deploy(urls: &str, manifest: &Path, wait: u64) -> (String, String) {
    let output = cli(&[
        "deploy",
        "--cluster",
        urls,
        "--name",
        CLUSTER,
        "--wait",
        &wait.to_string(),
        manifest.to_str().unwrap(),
    ]);
    let (out, err) = text(&output);
    assert!(output.status.success(), "deploy failed: {out}\n{err}");
    (out, err)
}

struct Spec<'a> {
    id: String,
    fixture: &'a str,
    labels: &'a [&'a str],
    neighbour: Option<&'a str>,
    storage: bool,
}

fn write_manifest(path: &Path, components: &[Spec<'_>], groups: &[(&str, &[&str])]) {
    let mut text = String::new();
    for c in components {
        text.push_str(&format!(
            "[[components]]\nid = \"{}\"\npath = \"{}\"\n",
            c.id,
            fixture_path(c.fixture).display()
        ));
        if !c.labels.is_empty() {
            let labels: Vec<String> = c.labels.iter().map(|l| format!("\"{l}\"")).collect();
            text.push_str(&format!("hosts = [{}]\n", labels.join(", ")));
        }
        if let Some(n) = c.neighbour {
            text.push_str(&format!("neighbour = \"{n}\"\n"));
        }
        if c.storage {
            text.push_str("[components.capabilities.storage]\nread = true\nwrite = true\n");
        }
        text.push('\n');
    }
    for (name, members) in groups {
        let members: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
        text.push_str(&format!(
            "[[groups]]\nname = \"{name}\"\nstrategy = \"one-for-all\"\nmembers = [{}]\n\n",
            members.join(", ")
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// The shop: 22 echo components (five only on `zone=a` hosts, one next to the pair group),
/// five counters keeping their count in cluster storage, a group of three: 30 in all.
fn shop(counter: &str) -> Vec<Spec<'_>> {
    let mut specs = Vec::new();
    for i in 0..22 {
        specs.push(Spec {
            id: format!("shop/echo/{i}"),
            fixture: "echo",
            labels: if i < 5 { &["zone=a"] } else { &[] },
            neighbour: (i == 21).then_some("shop/pair/0"),
            storage: false,
        });
    }
    for i in 0..5 {
        specs.push(Spec {
            id: format!("shop/count/{i}"),
            fixture: counter,
            labels: &[],
            neighbour: None,
            storage: true,
        });
    }
    for i in 0..3 {
        specs.push(Spec {
            id: format!("shop/pair/{i}"),
            fixture: "echo",
            labels: &[],
            neighbour: None,
            storage: false,
        });
    }
    specs
}

const PAIR: &[&str] = &["shop/pair/0", "shop/pair/1", "shop/pair/2"];

async fn client(urls: &str) -> ClusterClient {
    let mut config = ClusterConfig::new(urls.split(',').next().unwrap(), "test-reader", CLUSTER);
    config.urls = urls.split(',').map(str::to_owned).collect();
    config.replicas = 3;
    ClusterClient::connect(config).await.unwrap()
}

/// Waits until `ids` all run on live hosts; returns the view.
async fn placed(reader: &ClusterClient, ids: &[String]) -> ClusterView {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let view = reader.view().await.unwrap();
        if ids.iter().all(|i| view.owners.contains_key(&id(i))) {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "not all placed: {:?}",
            ids.iter()
                .filter(|i| !view.owners.contains_key(&id(i)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asks until answered (the component may be moving).
async fn ask(tester: &Host, to: &str, payload: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(reply) = tester
            .request_with_timeout(&id(to), payload, Duration::from_secs(5))
            .await
        {
            return String::from_utf8(reply).unwrap();
        }
        assert!(Instant::now() < deadline, "{to} never answered `{payload}`");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn hosts_of(view: &ClusterView, ids: &[&str]) -> BTreeSet<String> {
    ids.iter()
        .map(|i| view.owners[&id(i)].host.clone())
        .collect()
}

fn check_placement(view: &ClusterView, all: &[String]) {
    // Labels hold: the zone=a components run on zone=a hosts.
    for i in 0..5 {
        let host = &view.owners[&id(&format!("shop/echo/{i}"))].host;
        assert_eq!(
            view.host(host)
                .unwrap()
                .labels
                .get("zone")
                .map(String::as_str),
            Some("a"),
            "shop/echo/{i} runs on {host}"
        );
    }
    // The group stays together, and its neighbour with it.
    let pair = hosts_of(view, PAIR);
    assert_eq!(pair.len(), 1, "the group is split: {pair:?}");
    assert_eq!(
        view.owners[&id("shop/echo/21")].host,
        *pair.iter().next().unwrap()
    );
    // No host is left empty while another runs more than an even share and a group.
    let mut counts: BTreeMap<&str, usize> = view
        .hosts
        .iter()
        .filter(|h| h.places)
        .map(|h| (h.name.as_str(), 0))
        .collect();
    for i in all {
        *counts.get_mut(view.owners[&id(i)].host.as_str()).unwrap() += 1;
    }
    let (min, max) = (
        *counts.values().min().unwrap(),
        *counts.values().max().unwrap(),
    );
    assert!(max - min <= 4, "uneven placement: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_is_placed_fails_over_with_its_state_and_upgrades_live() {
    let servers = NatsServer::cluster(3);
    let urls = NatsServer::urls(&servers).join(",");
    let dir = tempfile::tempdir().unwrap();
    let mut hosts = vec![
        HostProc::start(dir.path(), &urls, "h1", &["zone=a"]),
        HostProc::start(dir.path(), &urls, "h2", &["zone=a"]),
        HostProc::start(dir.path(), &urls, "h3", &["zone=b"]),
    ];
    let reader = client(&urls).await;
    // A host of the cluster that runs a manifest (here none): nothing is placed on it.
    let mut tester_config = ClusterConfig::new(servers[0].url(), "tester", CLUSTER);
    tester_config.urls = NatsServer::urls(&servers);
    tester_config.replicas = 3;
    let tester = Host::builder()
        .cluster(tester_config)
        .connect()
        .await
        .unwrap();

    // Deploy 30 components.
    let manifest = dir.path().join("shop.toml");
    write_manifest(&manifest, &shop("counter"), &[("pair", PAIR)]);
    let (out, _) = deploy(&urls, &manifest, 90);
    assert!(out.contains("added (30)"), "{out}");
    assert!(!out.contains("pending"), "{out}");
    let all: Vec<String> = shop("counter").iter().map(|s| s.id.clone()).collect();
    let view = placed(&reader, &all).await;
    assert!(view.owners.values().all(|o| o.host != "tester"));
    check_placement(&view, &all);
    for i in &all {
        if i.contains("/count/") {
            assert_eq!(ask(&tester, i, "get").await, "0");
        } else {
            assert_eq!(ask(&tester, i, &format!("hi {i}")).await, format!("hi {i}"));
        }
    }
    // `ctl --cluster ls` shows each component's host, state and epoch.
    let output = cli(&["ctl", "--cluster", &urls, "--name", CLUSTER, "ls"]);
    let (listing, err) = text(&output);
    assert!(output.status.success(), "{err}");
    for i in &all {
        let line = listing
            .lines()
            .find(|l| l.starts_with(&format!("{i} ")))
            .unwrap_or_else(|| panic!("{i} not listed:\n{listing}"));
        assert!(
            line.contains(&view.owners[&id(i)].host) && line.contains("running"),
            "{line}"
        );
    }

    // Counts acknowledged before the kill.
    let mut acked = BTreeMap::new();
    for c in 0..5 {
        let at = format!("shop/count/{c}");
        for n in 1..=(10 + c) {
            assert_eq!(ask(&tester, &at, "inc").await, n.to_string());
        }
        acked.insert(at, 10 + c);
    }

    // SIGKILL the host running shop/count/0: everything it ran comes back on the others,
    // labels still holding, every acknowledged count kept.
    let victim = view.owners[&id("shop/count/0")].host.clone();
    let moved: Vec<String> = all
        .iter()
        .filter(|i| view.owners[&id(i)].host == victim)
        .cloned()
        .collect();
    assert!(!moved.is_empty());
    let index = hosts.iter().position(|h| h.name == victim).unwrap();
    hosts[index].kill();
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let view = reader.view().await.unwrap();
        if all
            .iter()
            .all(|i| view.owners.get(&id(i)).is_some_and(|o| o.host != victim))
        {
            break view;
        }
        assert!(Instant::now() < deadline, "not all moved off {victim}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    check_placement(&after, &all);
    for i in &moved {
        assert!(
            after.owners[&id(i)].epoch > view.owners[&id(i)].epoch,
            "{i}: a new claim has a newer epoch"
        );
    }
    for (at, count) in &acked {
        assert_eq!(ask(&tester, at, "get").await, count.to_string(), "{at}");
        assert_eq!(
            ask(&tester, at, "inc").await,
            (count + 1).to_string(),
            "{at}"
        );
    }
    for (at, count) in acked.iter_mut() {
        *count += 1;
        let _ = at;
    }

    // A host joins; the next deployment uses it (it runs the fewest components).
    hosts.push(HostProc::start(dir.path(), &urls, "h4", &["zone=b"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    while reader.view().await.unwrap().host("h4").is_none() {
        assert!(Instant::now() < deadline, "h4 never joined");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let extra = dir.path().join("extra.toml");
    let extra_specs: Vec<Spec<'_>> = (0..4)
        .map(|i| Spec {
            id: format!("extra/echo/{i}"),
            fixture: "echo",
            labels: &[],
            neighbour: None,
            storage: false,
        })
        .collect();
    write_manifest(&extra, &extra_specs, &[]);
    let (out, _) = deploy(&urls, &extra, 60);
    assert!(out.contains("added (4)"), "{out}");
    let extra_ids: Vec<String> = extra_specs.iter().map(|s| s.id.clone()).collect();
    let view = placed(&reader, &extra_ids).await;
    for i in &extra_ids {
        assert_eq!(view.owners[&id(i)].host, "h4", "{i}");
        assert_eq!(ask(&tester, i, "x").await, "x");
    }

    // Redeploy the shop with new counter code while a counter is being incremented: each
    // counter is upgraded where it runs, and no increment is lost.
    // Increments go on until the counter runs the new version, and 20 more after.
    let pumping = {
        let tester_ref = &tester;
        let reader_ref = &reader;
        async move {
            let mut replies = Vec::new();
            let mut after = 0;
            let deadline = Instant::now() + Duration::from_secs(60);
            while after < 20 && Instant::now() < deadline {
                let reply = tester_ref
                    .request_with_timeout(&id("shop/count/1"), "inc", Duration::from_secs(10))
                    .await
                    .map(|r| String::from_utf8(r).unwrap());
                replies.push(reply.map_err(|e| e.to_string()));
                if reader_ref
                    .view()
                    .await
                    .unwrap()
                    .owners
                    .get(&id("shop/count/1"))
                    .is_some_and(|o| o.version == "2.0.0")
                {
                    after += 1;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            replies
        }
    };
    write_manifest(&manifest, &shop("counter-v2"), &[("pair", PAIR)]);
    let redeploy = {
        let urls = urls.clone();
        let manifest = manifest.clone();
        tokio::task::spawn_blocking(move || deploy(&urls, &manifest, 0))
    };
    let replies = pumping.await;
    let (out, _) = redeploy.await.unwrap();
    assert!(out.contains("upgraded (5)"), "{out}");
    assert!(out.contains("unchanged: 25"), "{out}");
    let ok: Vec<u64> = replies
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.parse().unwrap())
        .collect();
    assert_eq!(ok.len(), replies.len(), "an increment failed: {replies:?}");
    let start = acked["shop/count/1"];
    let sent = u64::try_from(ok.len()).unwrap();
    assert!(sent > 20, "the upgrade did not happen within a minute");
    assert_eq!(ok, ((start + 1)..=(start + sent)).collect::<Vec<_>>());
    let deadline = Instant::now() + Duration::from_secs(60);
    for c in 0..5 {
        let at = id(&format!("shop/count/{c}"));
        loop {
            let view = reader.view().await.unwrap();
            if view.owners.get(&at).is_some_and(|o| o.version == "2.0.0") {
                break;
            }
            assert!(Instant::now() < deadline, "{at} was not upgraded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(
        ask(&tester, "shop/count/1", "get").await,
        (start + sent).to_string()
    );

    // Bad input: a label no host has stays pending, and `ctl ls` says why.
    let lonely = dir.path().join("lonely.toml");
    write_manifest(
        &lonely,
        &[Spec {
            id: "lonely/echo/1".into(),
            fixture: "echo",
            labels: &["zone=mars"],
            neighbour: None,
            storage: false,
        }],
        &[],
    );
    let (out, _) = deploy(&urls, &lonely, 2);
    assert!(
        out.contains(
            "lonely/echo/1 is pending: none of the 3 live host(s) has the label(s) zone=mars"
        ),
        "{out}"
    );
    let (listing, _) = text(&cli(&["ctl", "--cluster", &urls, "--name", CLUSTER, "ls"]));
    let line = listing
        .lines()
        .find(|l| l.starts_with("lonely/echo/1 "))
        .unwrap();
    assert!(
        line.contains("pending") && line.contains("zone=mars"),
        "{line}"
    );

    // A manifest whose file does not match its pinned digest is refused, naming both.
    let pinned = dir.path().join("pinned.toml");
    std::fs::write(
        &pinned,
        format!(
            "[[components]]\nid = \"pinned/echo/1\"\npath = \"{}\"\nsha256 = \"sha256:{}\"\n",
            fixture_path("echo").display(),
            "0".repeat(64)
        ),
    )
    .unwrap();
    let output = cli(&[
        "deploy",
        "--cluster",
        &urls,
        "--name",
        CLUSTER,
        pinned.to_str().unwrap(),
    ]);
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(65), "{err}");
    assert!(
        err.contains("pinned/echo/1") && err.contains("has digest sha256:"),
        "{err}"
    );

    // Code in the store that does not match the digest it is named by is refused by every
    // host; the component never starts.
    let store = reader.code().await.unwrap();
    let fake = format!("sha256:{}", "ab".repeat(32));
    store
        .put_unchecked(&fake, &test_fixtures::fixture("echo"))
        .await
        .unwrap();
    let record = wasm_host::deploy::AppRecord {
        name: "forged".into(),
        manifest: "[[components]]\nid = \"forged/echo/1\"\npath = \"echo.wasm\"\n".into(),
        code: [("forged/echo/1".to_owned(), fake.clone())]
            .into_iter()
            .collect(),
    };
    reader
        .apps()
        .await
        .unwrap()
        .put("forged", record.encode())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !hosts
        .iter()
        .filter(|h| h.child.is_some())
        .all(|h| h.log_text().contains(&fake))
    {
        assert!(Instant::now() < deadline, "no host refused the forged code");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(hosts[3].log_text().contains("have digest sha256:"));
    assert!(
        !reader
            .view()
            .await
            .unwrap()
            .owners
            .contains_key(&id("forged/echo/1"))
    );

    // Undeploy: an unknown application is named with the deployed ones; a known one stops.
    let output = cli(&["undeploy", "--cluster", &urls, "--name", CLUSTER, "nope"]);
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(65), "{err}");
    assert!(
        err.contains("no application `nope`") && err.contains("extra, forged, lonely, shop"),
        "{err}"
    );
    let output = cli(&["undeploy", "--cluster", &urls, "--name", CLUSTER, "extra"]);
    assert!(output.status.success(), "{:?}", text(&output));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let view = reader.view().await.unwrap();
        if extra_ids.iter().all(|i| !view.owners.contains_key(&id(i))) {
            break;
        }
        assert!(Instant::now() < deadline, "extra's components did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tester.shutdown().await.unwrap();
}

/// What a host's admin endpoint lists: each component id with the messages it handled.
fn admin_list(admin: &str) -> BTreeMap<String, u64> {
    let output = cli(&["ctl", "--admin", admin, "--json", "ls"]);
    let (out, err) = text(&output);
    assert!(output.status.success(), "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == "running")
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["messages_handled"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_hosts_components_move_and_it_serves_them_neither_meanwhile_nor_after() {
    let server = NatsServer::start(&[]);
    let proxy = Proxy::start(server.addr());
    let dir = tempfile::tempdir().unwrap();
    let admin_addr = format!("127.0.0.1:{}", free_port());
    let admin = format!("http://{admin_addr}");
    // p reaches the server only through the proxy; q and r directly.
    let _p = HostProc::start_with(
        dir.path(),
        &proxy.url(),
        "p",
        &[],
        &["--admin", &admin_addr],
    );
    let _q = HostProc::start(dir.path(), &server.url(), "q", &[]);
    let _r = HostProc::start(dir.path(), &server.url(), "r", &[]);
    let reader = {
        let config = ClusterConfig::new(server.url(), "test-reader", CLUSTER);
        ClusterClient::connect(config).await.unwrap()
    };
    let tester = Host::builder()
        .cluster(ClusterConfig::new(server.url(), "tester", CLUSTER))
        .connect()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while reader
        .view()
        .await
        .unwrap()
        .hosts
        .iter()
        .filter(|h| h.places)
        .count()
        < 3
    {
        assert!(Instant::now() < deadline, "the hosts never joined");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let manifest = dir.path().join("tally.toml");
    let specs: Vec<Spec<'_>> = (0..12)
        .map(|i| Spec {
            id: format!("tally/count/{i}"),
            fixture: "counter",
            labels: &[],
            neighbour: None,
            storage: true,
        })
        .collect();
    write_manifest(&manifest, &specs, &[]);
    deploy(&server.url(), &manifest, 60);
    let all: Vec<String> = specs.iter().map(|s| s.id.clone()).collect();
    let view = placed(&reader, &all).await;
    let on_p: Vec<String> = all
        .iter()
        .filter(|i| view.owners[&id(i)].host == "p")
        .cloned()
        .collect();
    assert!(!on_p.is_empty(), "placement gave p nothing");
    // Every count the tester was told, per counter, in order.
    let mut told: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for i in &all {
        for _ in 0..5 {
            let n: u64 = ask(&tester, i, "inc").await.parse().unwrap();
            told.entry(i.clone()).or_default().push(n);
        }
    }
    let before = admin_list(&admin);
    for i in &on_p {
        assert_eq!(before.get(i), Some(&5), "{i} on p: {before:?}");
    }

    // Cut p off. Increments go on (some fail while the ids move); p's ids move to q and r.
    proxy.partition();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for i in &on_p {
            if let Ok(reply) = tester
                .request_with_timeout(&id(i), "inc", Duration::from_secs(2))
                .await
            {
                told.get_mut(i)
                    .unwrap()
                    .push(String::from_utf8(reply).unwrap().parse().unwrap());
            }
        }
        let view = reader.view().await.unwrap();
        if on_p
            .iter()
            .all(|i| view.owners.get(&id(i)).is_some_and(|o| o.host != "p"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "p's components did not move");
    }
    for _ in 0..5 {
        for i in &on_p {
            let n: u64 = ask(&tester, i, "inc").await.parse().unwrap();
            told.get_mut(i).unwrap().push(n);
        }
    }
    // Meanwhile p, still cut off, has handled nothing more: what it still lists (fenced) has
    // the count it had before the partition.
    let during = admin_list(&admin);
    for i in &on_p {
        if let Some(handled) = during.get(i) {
            assert_eq!(*handled, 5, "{i} was served on p while cut off");
        }
    }
    // Heal: p comes back as a new incarnation and serves none of what moved.
    proxy.heal();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view = reader.view().await.unwrap();
        let listed = admin_list(&admin);
        if view.host("p").is_some() && on_p.iter().all(|i| !listed.contains_key(i)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "p came back still running {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for _ in 0..5 {
        for i in &all {
            let n: u64 = ask(&tester, i, "inc").await.parse().unwrap();
            told.get_mut(i).unwrap().push(n);
        }
    }
    // One server per id at every moment: each counter's counts, as told, only grow (a
    // second server, or a stale copy of the state, would tell a count twice), and its count
    // now is the last one told (no acknowledged increment lost). A gap is an increment
    // whose answer came after its timeout.
    for (i, counts) in &told {
        assert!(counts.windows(2).all(|w| w[0] < w[1]), "{i}: {counts:?}");
        assert_eq!(counts[..5], [1, 2, 3, 4, 5], "{i}");
        assert_eq!(
            ask(&tester, i, "get").await,
            counts.last().unwrap().to_string(),
            "{i}"
        );
    }
    let view = reader.view().await.unwrap();
    for i in &on_p {
        assert_ne!(view.owners[&id(i)].host, "p", "{i}");
    }
    tester.shutdown().await.unwrap();
}
