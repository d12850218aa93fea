//! `run --admin` and `ctl` end to end: the real binary serving its admin endpoint, driven by
//! the real binary's `ctl`, and `run --watch` upgrading a component whose file is rebuilt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cli_support::{command, finish, run, signal};
use test_fixtures::{fixture_path, free_port};

/// A manifest in `dir` running echo and a counter whose file is a copy in `dir`.
fn system(dir: &Path) -> std::path::PathBuf {
    let counter = dir.join("counter.wasm");
    std::fs::copy(fixture_path("counter"), &counter).unwrap();
    let manifest = dir.join("system.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
[[components]]
id = "demo/echo/1"
path = "{echo}"

[[components]]
id = "demo/counter/1"
path = "counter.wasm"

[components.capabilities.storage]
read = true
write = true
"#,
            echo = fixture_path("echo").display()
        ),
    )
    .unwrap();
    manifest
}

fn ctl(url: &str, args: &[&str]) -> cli_support::Output {
    let mut all = vec!["ctl", "--admin", url];
    all.extend_from_slice(args);
    run(all)
}

/// The running host process: killed if the test fails before it is stopped.
struct Running(Option<std::process::Child>);

impl Running {
    fn start(args: &[&str]) -> Self {
        let child = command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Self(Some(child))
    }

    /// Stops it with SIGTERM and returns what it printed.
    fn stop(mut self) -> cli_support::Output {
        let child = self.0.take().unwrap();
        signal(child.id(), "TERM");
        finish(child)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `run <manifest> --admin <free port> --watch`, and the admin endpoint's URL.
fn watched(manifest: &Path) -> (Running, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let host = Running::start(&[
        "run",
        manifest.to_str().unwrap(),
        "--admin",
        &addr,
        "--watch",
    ]);
    (host, format!("http://{addr}"))
}

/// Polls `check` (a `ctl` call) until it holds; gives up after a generous bound.
fn until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(120), "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ctl_drives_a_running_host_and_watch_upgrades_a_rebuilt_component() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = system(dir.path());
    let (host, url) = watched(&manifest);
    // The endpoint answers from the start; the components are listed once they are loaded.
    until("both components run", || {
        let out = ctl(&url, &["ls"]);
        out.status.success() && out.stdout.matches("running").count() == 2
    });

    let listing = ctl(&url, &["ls"]);
    let lines: Vec<&str> = listing.stdout.lines().collect();
    assert!(lines[0].starts_with("ID "), "{listing}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("demo/counter/1") && l.contains("running")),
        "{listing}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ctl(&url, &["--json", "ls"]).stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);

    let reply = ctl(&url, &["call", "demo/echo/1", "hello there"]);
    assert_eq!(
        (reply.code(), reply.stdout.as_str()),
        (0, "hello there\n"),
        "{reply}"
    );
    let inc = ctl(&url, &["call", "demo/counter/1", "inc"]);
    assert_eq!(inc.stdout, "1\n", "{inc}");
    let bad = ctl(&url, &["call", "demo/echo", "x"]);
    assert_eq!(bad.code(), 65, "{bad}");
    let missing = ctl(&url, &["call", "demo/nobody/1", "x"]);
    assert_eq!(missing.code(), 70, "{missing}");
    assert!(missing.stderr.contains("target-not-found"), "{missing}");
    assert_eq!(ctl(&url, &["send", "demo/echo/1", "fire"]).code(), 0);

    // The file is rebuilt as version 2.0.0: --watch upgrades the running component.
    let next = dir.path().join("next.wasm");
    std::fs::copy(fixture_path("counter-v2"), &next).unwrap();
    std::fs::rename(&next, dir.path().join("counter.wasm")).unwrap();
    until("the counter runs version 2.0.0", || {
        let shown = ctl(&url, &["--json", "show", "demo/counter/1"]);
        serde_json::from_str::<serde_json::Value>(&shown.stdout)
            .is_ok_and(|v| v["version"] == "2.0.0")
    });
    // Its storage came along: the count goes on.
    assert_eq!(ctl(&url, &["call", "demo/counter/1", "inc"]).stdout, "2\n");

    let broken = ctl(
        &url,
        &[
            "upgrade",
            "demo/counter/1",
            fixture_path("counter-broken").to_str().unwrap(),
        ],
    );
    assert_eq!(broken.code(), 70, "{broken}");
    assert!(broken.stderr.contains("initialize"), "{broken}");
    assert_eq!(ctl(&url, &["call", "demo/counter/1", "inc"]).stdout, "3\n");

    let stopped = ctl(&url, &["stop", "demo/echo/1"]);
    assert_eq!(stopped.stdout, "demo/echo/1: stopped\n", "{stopped}");
    assert_eq!(ctl(&url, &["call", "demo/echo/1", "x"]).code(), 70);
    let started = ctl(&url, &["start", "demo/echo/1"]);
    assert_eq!(started.stdout, "demo/echo/1: running\n", "{started}");
    assert_eq!(ctl(&url, &["call", "demo/echo/1", "back"]).stdout, "back\n");

    let out = host.stop();
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.summary("upgrades"), 1, "{out}");
}

#[test]
fn a_public_admin_address_without_a_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = system(dir.path());
    let addr = format!("0.0.0.0:{}", free_port());
    let out = run([
        "run",
        manifest.to_str().unwrap(),
        "--admin",
        &addr,
        "--exit-when-idle",
    ]);
    assert_eq!(out.code(), 65, "{out}");
    assert!(
        out.stderr.contains(&addr) && out.stderr.contains("token"),
        "{out}"
    );
}

#[test]
fn ctl_says_when_nothing_listens() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = ctl(&url, &["ls"]);
    assert_eq!(out.code(), 70, "{out}");
    assert!(
        out.stderr.contains("cannot reach the admin endpoint"),
        "{out}"
    );
    let out = ctl("127.0.0.1:9", &["ls"]);
    assert_eq!(out.code(), 65, "{out}");
}

#[test]
fn watch_applies_a_changed_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = system(dir.path());
    let (host, url) = watched(&manifest);
    let running = |url: &str| -> Vec<String> {
        let out = ctl(url, &["--json", "ls"]);
        serde_json::from_str::<serde_json::Value>(&out.stdout)
            .map(|v| {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .filter(|e| e["state"] == "running")
                    .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    until("both components run", || running(&url).len() == 2);
    assert_eq!(ctl(&url, &["call", "demo/counter/1", "inc"]).stdout, "1\n");
    // Echo goes, a second echo comes, and the counter may now delete too.
    let text = std::fs::read_to_string(&manifest).unwrap();
    let echo = fixture_path("echo").display().to_string();
    let changed = text
        .replace("demo/echo/1", "demo/echo/2")
        .replace("write = true", "write = true\ndelete = true");
    assert!(changed.contains(&echo));
    std::fs::write(&manifest, changed).unwrap();
    until("the manifest is applied", || {
        running(&url) == ["demo/counter/1", "demo/echo/2"]
    });
    let shown = ctl(&url, &["--json", "show", "demo/counter/1"]);
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["grants"]["storage"]["delete"], true, "{shown}");
    // Upgraded, not restarted: the count and the storage are there.
    assert_eq!(shown["restarts"], 0);
    assert_eq!(ctl(&url, &["call", "demo/counter/1", "inc"]).stdout, "2\n");
    assert_eq!(ctl(&url, &["call", "demo/echo/2", "hi"]).stdout, "hi\n");
    let out = host.stop();
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.summary("upgrades"), 1, "{out}");
}
