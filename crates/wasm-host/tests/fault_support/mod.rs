//! What the cluster's fault tests share: `airssys-wasm run` processes (to pause, kill and
//! restart) with their JSON logs, in-process hosts that watch their own events, the `flow`
//! fixture's reports read back, and the check that every number sent with `ok` was handled
//! once or reported as a dead letter.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use test_fixtures::fixture_path;
use wasm_host::{ClusterConfig, ComponentId, Grants, Host, MessagingAction, SystemEvent};

pub const CLUSTER: &str = "faults";

pub fn id(text: &str) -> ComponentId {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Everything a flow component needs: send to and request from anyone.
pub fn talk_to_all() -> Grants {
    Grants::none().with_messaging(&[MessagingAction::Send, MessagingAction::Request], "**")
}

/// A dead letter, from an event or a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub target: String,
    pub payload: String,
    pub reason: String,
}

/// An `airssys-wasm run` process of the cluster, logging JSON lines to a file.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    manifest: PathBuf,
    log: PathBuf,
}

/// One component of a process host's manifest: id, fixture, and extra TOML lines.
pub struct Entry<'a> {
    pub id: &'a str,
    pub fixture: &'a str,
    pub extra: &'a str,
}

impl Proc {
    /// Writes the manifest of host `name` and starts it.
    pub fn start(
        dir: &Path,
        name: &str,
        url: &str,
        cluster: &str,
        components: &[Entry<'_>],
    ) -> Self {
        Self::start_on(dir, name, &[url.to_owned()], cluster, "", components)
    }

    /// As [`Proc::start`], with a list of server URLs and more lines for `[host]`.
    pub fn start_on(
        dir: &Path,
        name: &str,
        urls: &[String],
        cluster: &str,
        host: &str,
        components: &[Entry<'_>],
    ) -> Self {
        let urls: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
        let mut text = format!(
            "[cluster]\nurl = [{}]\nhost = \"{name}\"\nname = \"faults\"\n{cluster}\n\n[host]\nrequest_timeout_ms = 30000\n{host}\n",
            urls.join(", ")
        );
        for entry in components {
            text.push_str(&format!(
                "\n[[components]]\nid = \"{}\"\npath = \"{}\"\n{}\n[components.capabilities.messaging]\nsend = [\"**\"]\nrequest = [\"**\"]\nbroadcast = [\"**\"]\n",
                entry.id,
                fixture_path(entry.fixture).display(),
                entry.extra
            ));
        }
        let manifest = dir.join(format!("{name}.toml"));
        std::fs::write(&manifest, text).unwrap();
        let mut proc = Self {
            name: name.to_owned(),
            child: None,
            manifest,
            log: dir.join(format!("{name}.log")),
        };
        proc.spawn();
        proc
    }

    /// Starts the process (again), appending to its log.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_airssys-wasm"))
            .args(["--log-format", "json", "run"])
            .arg(&self.manifest)
            .env(
                "RUST_LOG",
                "info,ractor=warn,airssys::message=warn,async_nats=warn",
            )
            .env(
                "AIRSSYS_CACHE_DIR",
                test_fixtures::workspace_root().join("target/tmp/fault-cache"),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} {}", self.name);
    }

    /// SIGSTOP: the process stops, its connection stays open and unread.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// SIGCONT.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// SIGKILL, and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (a clean stop: it leaves the cluster), and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }

    /// Whether it exited by itself, with its status.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The dead letters it logged.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        let file = std::fs::File::open(&self.log).unwrap();
        std::io::BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
            .filter(|v| v["fields"]["message"] == "dead letter: a message was not handled")
            .map(|v| DeadLetter {
                target: v["fields"]["component"].as_str().unwrap_or("").to_owned(),
                payload: v["fields"]["payload"].as_str().unwrap_or("").to_owned(),
                reason: v["fields"]["reason"].as_str().unwrap_or("").to_owned(),
            })
            .collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A paused process cannot die of SIGKILL until it runs again.
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(child.id().to_string())
                .status();
        }
        self.kill();
    }
}

/// An in-process host of the cluster that keeps every dead letter it reports.
pub struct Near {
    pub host: Host,
    dead: Arc<Mutex<Vec<DeadLetter>>>,
    downs: Arc<Mutex<Vec<(String, String)>>>,
}

impl Near {
    pub async fn connect(config: ClusterConfig) -> Self {
        let host = Host::builder()
            .cluster(config)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let dead = Arc::new(Mutex::new(Vec::new()));
        let downs = Arc::new(Mutex::new(Vec::new()));
        let mut events = host.events();
        let (d, h) = (dead.clone(), downs.clone());
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(SystemEvent::DeadLetter {
                        target,
                        payload,
                        reason,
                        ..
                    }) => d.lock().unwrap().push(DeadLetter {
                        target: target.to_string(),
                        payload: String::from_utf8_lossy(&payload).into_owned(),
                        reason,
                    }),
                    Ok(SystemEvent::HostDown { host, reason }) => {
                        h.lock().unwrap().push((host, reason));
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        panic!("the test's event reader lost {n} events")
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Self { host, dead, downs }
    }

    pub async fn start_flow(&self, at: &str) {
        let code = self.host.load_component_file(fixture_path("flow")).unwrap();
        self.host
            .start_component(self.host.spec(id(at), code).with_grants(talk_to_all()))
            .await
            .unwrap_or_else(|e| panic!("{at}: {e}"));
    }

    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead.lock().unwrap().clone()
    }

    /// The hosts it was told went down.
    pub fn downs(&self) -> Vec<String> {
        self.downs
            .lock()
            .unwrap()
            .iter()
            .map(|(h, _)| h.clone())
            .collect()
    }

    /// The hosts it was told went down, with why.
    pub fn down_reasons(&self) -> Vec<(String, String)> {
        self.downs.lock().unwrap().clone()
    }

    /// Starts a flow component with storage that keeps every number it handles there.
    pub async fn start_flow_with_storage(&self, at: &str) {
        let code = self.host.load_component_file(fixture_path("flow")).unwrap();
        let grants = talk_to_all().with_storage(wasm_host::StorageGrant {
            read: true,
            write: true,
            delete: true,
            quota: wasm_host::StorageQuota {
                max_bytes: 16 * 1024 * 1024,
                max_keys: 100_000,
            },
        });
        self.host
            .start_component(
                self.host
                    .spec(id(at), code)
                    .with_grants(grants)
                    .with_config("keep"),
            )
            .await
            .unwrap_or_else(|e| panic!("{at}: {e}"));
    }

    /// Asks `to` (here or anywhere in the cluster).
    pub async fn ask(&self, to: &str, command: &str) -> String {
        let reply = self
            .host
            .request_with_timeout(&id(to), command, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{to} `{command}`: {e}"));
        String::from_utf8(reply).unwrap()
    }

    /// Asks until it is answered (the target may be starting, or its host away).
    pub async fn ask_until(&self, to: &str, command: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(reply) = self
                .host
                .request_with_timeout(&id(to), command, Duration::from_secs(10))
                .await
            {
                let reply = String::from_utf8(reply).unwrap();
                if done(&reply) {
                    return reply;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{to} never answered `{command}` as expected"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A producer's `report <tag>`, parsed.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub fields: HashMap<String, String>,
}

impl Report {
    pub fn parse(text: &str) -> Self {
        let mut fields = HashMap::new();
        for word in text.split(' ') {
            if let Some((key, value)) = word.split_once('=') {
                fields.insert(key.to_owned(), value.to_owned());
            }
        }
        Self { fields }
    }

    pub fn num(&self, key: &str) -> u64 {
        self.fields
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no `{key}` in {:?}", self.fields))
    }

    pub fn list(&self, key: &str) -> BTreeSet<u64> {
        self.fields
            .get(key)
            .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_default()
    }

    pub fn done(&self) -> bool {
        self.fields.get("done").is_some_and(|v| v == "true")
    }
}

/// A run of `count` numbers, every `every`-th a request, from `producer` to `sink` under
/// `tag`: its producer's report and its sink's record, with the checks every fault test
/// makes of it.
pub struct RunCheck<'a> {
    pub tag: &'a str,
    pub producer: &'a str,
    pub sink: &'a str,
    pub count: u64,
    pub every: u64,
}

impl RunCheck<'_> {
    /// Waits for the producer to finish (every number sent with `ok`, every request
    /// answered), then checks, for this run:
    /// - every request got exactly one callback, with its own answer or an error;
    /// - the sink handled no number twice, and each sender's numbers in order;
    /// - every number sent with `ok` (not a request) was handled, or a dead letter names it
    ///   (`dead`, from every host): exactly one of the two. With `killed`, the sink's host was
    ///   killed, so a message it handled just before may be reported as well: then only
    ///   "at least one" is checked, and the overlap is returned.
    pub async fn check(&self, near: &Near, dead: &[DeadLetter], killed: bool) -> usize {
        let report = Report::parse(
            &near
                .ask_until(self.producer, &format!("report {}", self.tag), |r| {
                    Report::parse(r).done()
                })
                .await,
        );
        assert_eq!(report.num("sent"), self.count, "{report:?}");
        assert_eq!(
            report.num("unknown"),
            0,
            "callbacks for no request: {report:?}"
        );
        assert_eq!(
            report.num("mismatched"),
            0,
            "another request's answer: {report:?}"
        );
        assert_eq!(report.num("pending"), 0, "{report:?}");
        assert_eq!(
            report.num("answered"),
            report.num("requests"),
            "one callback per request: {report:?}"
        );
        let sink = Report::parse(
            &near
                .ask_until(
                    self.sink,
                    &format!("sink {} {}", self.producer, self.tag),
                    |_| true,
                )
                .await,
        );
        assert_eq!(sink.num("duplicates"), 0, "handled twice: {sink:?}");
        assert_eq!(sink.num("reordered"), 0, "out of order: {sink:?}");
        let handled: BTreeSet<u64> = {
            let numbers = near
                .ask_until(
                    self.sink,
                    &format!("numbers {} {}", self.producer, self.tag),
                    |_| true,
                )
                .await;
            numbers.split(',').filter_map(|n| n.parse().ok()).collect()
        };
        let reported: BTreeSet<u64> = dead
            .iter()
            .filter(|d| d.target == self.sink)
            .filter_map(|d| d.payload.strip_prefix(&format!("{}:", self.tag)))
            .filter_map(|n| n.parse().ok())
            .collect();
        let sends: BTreeSet<u64> = (1..=self.count)
            .filter(|n| self.every == 0 || n % self.every != 0)
            .collect();
        let requests: BTreeSet<u64> = (1..=self.count)
            .filter(|n| self.every != 0 && n % self.every == 0)
            .collect();
        // Requests: handled at most once (checked above); one answered `ok` was handled.
        let errored = report.list("errored");
        for n in requests.difference(&errored) {
            assert!(
                handled.contains(n),
                "request {n} was answered but not handled"
            );
        }
        let lost: Vec<u64> = sends
            .iter()
            .filter(|n| !handled.contains(n) && !reported.contains(n))
            .copied()
            .collect();
        assert!(
            lost.is_empty(),
            "{}: sent with ok, neither handled nor reported: {lost:?}",
            self.tag
        );
        let both: Vec<u64> = sends
            .iter()
            .filter(|n| handled.contains(n) && reported.contains(n))
            .copied()
            .collect();
        eprintln!(
            "{}: {report:?} handled={} reported={} both={}",
            self.tag,
            handled.len(),
            reported.len(),
            both.len()
        );
        if !killed {
            assert!(
                both.is_empty(),
                "{}: handled and also reported as dead letters: {both:?}",
                self.tag
            );
        }
        both.len()
    }
}

/// Starts the run `tag` on `producer` (anywhere in the cluster).
pub async fn start_run(near: &Near, run: &RunCheck<'_>, timeout_ms: u64) {
    let command = format!(
        "start {} {} {} {timeout_ms} {}",
        run.tag, run.count, run.every, run.sink
    );
    assert_eq!(
        near.ask_until(run.producer, &command, |_| true).await,
        "started"
    );
}

/// How many numbers of `tag` from `producer` the sink has handled so far.
pub async fn handled(near: &Near, sink: &str, producer: &str, tag: &str) -> u64 {
    Report::parse(
        &near
            .ask_until(sink, &format!("sink {producer} {tag}"), |_| true)
            .await,
    )
    .num("count")
}

/// A cluster config for an in-process host.
pub fn config(url: &str, host: &str, lease_ms: u64, give_up_ms: u64) -> ClusterConfig {
    let mut config = ClusterConfig::new(url, host, CLUSTER);
    config.lease = Duration::from_millis(lease_ms);
    config.give_up = Duration::from_millis(give_up_ms);
    config
}
