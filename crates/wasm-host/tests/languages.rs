//! Components written in Python (componentize-py) and JavaScript (componentize-js), built by
//! `cargo xtask fixtures` from `fixtures/py-kit` and `fixtures/js-kit`, on the real host:
//! request and reply, storage, a callback for a request they made, an error reply, and a
//! trap that is contained and restarted while the rest keeps answering. The JavaScript one
//! also fetches over `wasi:http` from a real HTTP server on loopback, allowed and denied.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use test_fixtures::fixture_path;
use wasm_host::{Capability, ComponentId, ErrorCallback, Host, Manifest, SystemEvent};

fn id(text: &str) -> ComponentId {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// A host running `kit` (as `demo/kit/1`) next to echo, with storage in a file and the
/// origins `http` allowed.
async fn host_with(dir: &Path, kit: &str, http: &[String]) -> Host {
    host_limited(dir, kit, http, 60_000).await
}

/// As [`host_with`], with a wall-clock cap per call of `wall_ms`.
async fn host_limited(dir: &Path, kit: &str, http: &[String], wall_ms: u64) -> Host {
    let outbound = http
        .iter()
        .map(|o| format!("\"{o}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        r#"
[host]
storage = "{storage}"
request_timeout_ms = 60000

[[components]]
id = "demo/echo/1"
path = "{echo}"

[[components]]
id = "demo/kit/1"
path = "{kit}"

[components.limits]
max_execution_time_ms = 20000
max_wall_time_ms = {wall_ms}

[components.capabilities.messaging]
request = ["demo/echo/1"]

[components.capabilities.storage]
read = true
write = true

[components.capabilities.http]
outbound = [{outbound}]
"#,
        storage = dir.join("kit.redb").display(),
        echo = fixture_path("echo").display(),
        kit = fixture_path(kit).display(),
    );
    let path = dir.join("kit.toml");
    std::fs::write(&path, text).unwrap();
    let manifest = Manifest::from_file(&path).unwrap_or_else(|e| panic!("{kit}: {e:?}"));
    // Compiled once for all the tests of this file (the Python one is 18 MB of wasm).
    let cache = test_fixtures::workspace_root().join("target/tmp/languages-cache");
    let host = Host::builder()
        .manifest_defaults(&manifest)
        .cache_dir(cache)
        .build()
        .unwrap_or_else(|e| panic!("{kit}: {e:?}"));
    host.load(&manifest)
        .await
        .unwrap_or_else(|e| panic!("{kit}: {e:?}"));
    host
}

async fn ask(host: &Host, payload: &str) -> String {
    let reply = host
        .request(&id("demo/kit/1"), payload)
        .await
        .unwrap_or_else(|e| panic!("{payload:?}: {e:?}"));
    String::from_utf8_lossy(&reply).into_owned()
}

/// What both kits must do, whatever their language.
async fn behaves_like_a_component(kit: &str, prefix: &str) {
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), kit, &[]).await;
    let mut events = host.events();
    let info = host.info(&id("demo/kit/1")).expect("running");
    assert_eq!(info.name, kit, "metadata from the guest");

    assert_eq!(ask(&host, "echo hello").await, format!("{prefix}:hello"));
    assert_eq!(ask(&host, "inc").await, "1");
    assert_eq!(ask(&host, "inc").await, "2");
    assert_eq!(ask(&host, "get").await, "2");

    // A request it makes comes back to it as a callback.
    assert_eq!(ask(&host, "ask demo/echo/1 ping").await, "asked");
    host.wait_idle().await;
    assert_eq!(ask(&host, "last").await, "reply ping");

    // An error it returns is an error reply, not a failure.
    let refused = host
        .request(&id("demo/kit/1"), "frobnicate")
        .await
        .expect_err("an unknown command is an error reply");
    assert!(
        matches!(refused.error_callback(), Some(ErrorCallback::ErrorReply(e)) if e.contains("unknown command")),
        "{refused:?}"
    );

    // A trap is contained: the request fails, the component restarts with fresh memory and
    // its storage, and echo never stopped answering.
    assert!(ask(&host, "handled").await.parse::<u32>().unwrap() > 1);
    let trapped = host
        .request(&id("demo/kit/1"), "trap")
        .await
        .expect_err("the guest traps");
    assert!(
        matches!(trapped.error_callback(), Some(ErrorCallback::TargetFailed(why)) if why.contains("told to trap")),
        "{trapped:?}"
    );
    let echoed = host
        .request(&id("demo/echo/1"), "still here")
        .await
        .unwrap();
    assert_eq!(echoed, b"still here");
    loop {
        match events.recv().await {
            Ok(SystemEvent::Restarted { id: who, .. }) if who == id("demo/kit/1") => break,
            Ok(_) => {}
            Err(e) => panic!("no restart event: {e}"),
        }
    }
    assert_eq!(ask(&host, "handled").await, "1");
    assert_eq!(ask(&host, "get").await, "2");
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_component_replies_stores_requests_and_is_restarted() {
    behaves_like_a_component("py-kit", "py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_component_replies_stores_requests_and_is_restarted() {
    behaves_like_a_component("js-kit", "js").await;
}

/// A one-thread HTTP/1.1 server on a free loopback port that answers every request with
/// `200` and `body`, counting the requests it served.
fn serve(body: &'static str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, served)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_reaches_granted_origins_only_and_denials_are_audited() {
    let (port, served) = serve("hello from loopback");
    let dir = tempfile::tempdir().unwrap();
    // 127.0.0.1 on any port is granted; `localhost` (the same server) is not.
    let host = host_with(dir.path(), "js-kit", &["http://127.0.0.1:*".to_owned()]).await;
    let allowed = ask(&host, &format!("fetch http://127.0.0.1:{port}/greeting")).await;
    assert_eq!(allowed, "status 200 hello from loopback");
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);

    let denied = ask(&host, &format!("fetch http://localhost:{port}/greeting")).await;
    assert!(denied.starts_with("failed "), "{denied}");
    assert_eq!(
        served.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "a denied request never reaches the server"
    );
    let denials = host.audit().denials_of(&id("demo/kit/1"));
    let denial = denials
        .iter()
        .find(|d| d.capability == Capability::HttpOutbound)
        .unwrap_or_else(|| panic!("the denial is audited: {denials:?}"));
    assert!(
        denial.resource.contains(&format!("localhost:{port}")),
        "{denial:?}"
    );
    host.shutdown().await.unwrap();

    // With no origin granted, even 127.0.0.1 is refused.
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), "js-kit", &[]).await;
    let denied = ask(&host, &format!("fetch http://127.0.0.1:{port}/greeting")).await;
    assert!(denied.starts_with("failed "), "{denied}");
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_never_answers_is_cut_by_the_wall_clock_cap() {
    // Accepts connections and never answers them.
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let host = host_limited(
        dir.path(),
        "js-kit",
        &["http://127.0.0.1:*".to_owned()],
        1_500,
    )
    .await;
    let cut = host
        .request(
            &id("demo/kit/1"),
            format!("fetch http://127.0.0.1:{port}/never"),
        )
        .await
        .expect_err("the call outlives its wall-clock cap");
    assert!(
        matches!(cut.error_callback(), Some(ErrorCallback::TargetFailed(why)) if why.contains("did not finish within")),
        "{cut:?}"
    );
    // The component is restarted and answers again.
    let mut answered = None;
    for _ in 0..100 {
        match host.request(&id("demo/kit/1"), "echo back").await {
            Ok(reply) => {
                answered = Some(reply);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    assert_eq!(answered.as_deref(), Some(&b"js:back"[..]));
    host.shutdown().await.unwrap();
}
