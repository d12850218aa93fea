//! HTTP ingress (issue 29), end to end with a real HTTP client: a `wasi:http` proxy built
//! with the `wasi` crate served per request under its limits, actors reached over HTTP, the
//! caps on bodies and on requests in flight, and a shutdown with requests in flight.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http_client;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_client::{call, call_with, try_call};
use test_fixtures::fixture_path;
use wasm_host::ingress::{HandlerFile, HttpConfig, IngressRoute};
use wasm_host::{Error, Host, HostBuilder, Manifest, ManifestErrorKind};

fn manifest_text(extra_host: &str) -> String {
    format!(
        r#"
[host]
storage = ":memory:"
{extra_host}

[[components]]
id = "web/echo/1"
path = "{echo}"

[[components]]
id = "web/count/1"
path = "{counter}"
[components.capabilities.storage]
read = true
write = true

[[handlers]]
id = "web/hello/1"
path = "{hello}"
[handlers.limits]
max_execution_time_ms = 300
max_wall_time_ms = 1500
max_memory_bytes = 33554432

[[http]]
route = "/fn/..."
component = "web/hello/1"

[[http]]
route = "/hello"
component = "web/hello/1"

[[http]]
route = "/echo"
component = "web/echo/1"

[[http]]
route = "/count/:op"
component = "web/count/1"
"#,
        echo = fixture_path("echo").display(),
        counter = fixture_path("counter").display(),
        hello = fixture_path("http-hello").display(),
    )
}

async fn start(dir: &Path, extra_host: &str) -> (Host, SocketAddr) {
    let file = dir.join("web.toml");
    std::fs::write(&file, manifest_text(extra_host)).unwrap();
    let (host, manifest) = Host::from_manifest_file(&file).await.unwrap();
    let addr = host
        .serve_manifest_http(&manifest, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (host, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_and_actors_answer_and_each_failure_gets_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let (host, addr) = start(dir.path(), "http_max_body = 4096\nadmin = \"127.0.0.1:0\"").await;
    // The handler, routed by the longest prefix; the exact route beats the wildcard.
    let hello = call(addr, "GET", "/fn/hello/a?b=1", None, "").await;
    assert_eq!(
        (hello.status, hello.text()),
        (200, "hello GET /fn/hello/a?b=1".to_owned())
    );
    let exact = call(addr, "POST", "/hello", None, "").await;
    assert_eq!(
        (exact.status, exact.text()),
        (200, "hello POST /hello".to_owned())
    );
    let echoed = call(addr, "POST", "/fn/echo", None, "a body").await;
    assert_eq!((echoed.status, echoed.text()), (200, "a body".to_owned()));
    let header = call_with(
        addr,
        "GET",
        "/fn/header/x-sent",
        None,
        &[("x-sent", "by the test")],
        "",
    )
    .await;
    assert_eq!(header.text(), "by the test");
    // An actor over HTTP: the body is the payload, the reply is the response.
    let actor = call(addr, "POST", "/echo", None, "to the actor").await;
    assert_eq!(
        (actor.status, actor.text()),
        (200, "to the actor".to_owned())
    );
    assert_eq!(
        call(addr, "POST", "/count/inc", None, "inc").await.text(),
        "1"
    );
    // No route: 404 naming the path.
    let none = call(addr, "GET", "/nowhere", None, "").await;
    assert_eq!(none.status, 404);
    assert!(none.text().contains("/nowhere"), "{}", none.text());
    // A trap answers 500, a spin and a slow request 504, a memory bomb 500; each request
    // after them is served.
    for (path, status, kind) in [
        ("/fn/trap", 500, "trapped"),
        ("/fn/spin", 504, "timeout"),
        ("/fn/slow/5000", 504, "timeout"),
        ("/fn/bomb", 500, ""),
    ] {
        let failed = call(addr, "GET", path, None, "").await;
        assert_eq!(failed.status, status, "{path}: {}", failed.text());
        assert!(failed.text().contains(kind), "{path}: {}", failed.text());
        assert!(
            failed.text().contains("web/hello/1"),
            "{path}: {}",
            failed.text()
        );
        assert_eq!(call(addr, "GET", "/fn/hello", None, "").await.status, 200);
    }
    // A body over the cap: 413, whether its length is declared or not.
    let big = vec![b'x'; 5000];
    let refused = call(addr, "POST", "/fn/echo", None, big.clone()).await;
    assert_eq!(refused.status, 413, "{}", refused.text());
    assert_eq!(call(addr, "POST", "/echo", None, big).await.status, 413);
    // A stopped actor: 503 with the reason.
    host.stop_component(&"web/count/1".parse().unwrap())
        .await
        .unwrap();
    let stopped = call(addr, "POST", "/count/inc", None, "inc").await;
    assert_eq!(stopped.status, 503, "{}", stopped.text());
    assert!(stopped.text().contains("web/count/1"), "{}", stopped.text());
    // HTTP/2 (prior knowledge) on the same port.
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let request = http::Request::builder()
        .uri(format!("http://{addr}/fn/hello/h2"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"hello GET /fn/hello/h2");
    // Per-route metrics on the admin endpoint.
    let metrics = call(host.admin_addr().unwrap(), "GET", "/metrics", None, "")
        .await
        .text();
    for line in [
        "airssys_http_requests_total{route=\"/fn/...\",status=\"500\"} 2",
        "airssys_http_requests_total{route=\"/fn/...\",status=\"504\"} 2",
        "airssys_http_requests_total{route=\"/fn/...\",status=\"413\"} 1",
        "airssys_http_requests_total{route=\"/count/:op\",status=\"503\"} 1",
        "airssys_http_requests_in_flight{route=\"/echo\"} 0",
        "airssys_http_request_duration_seconds_count{route=\"/hello\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }
    // The inventory names each component's routes, and the handler.
    let inventory = call(
        host.admin_addr().unwrap(),
        "GET",
        "/v1/components",
        None,
        "",
    )
    .await
    .json();
    let entries = inventory.as_array().unwrap();
    let hello = entries.iter().find(|e| e["id"] == "web/hello/1").unwrap();
    assert_eq!(hello["state"], "handler");
    assert_eq!(
        hello["http_routes"],
        serde_json::json!(["/fn/...", "/hello"])
    );
    let echo = entries.iter().find(|e| e["id"] == "web/echo/1").unwrap();
    assert_eq!(echo["http_routes"], serde_json::json!(["/echo"]));
    // The routes are listed with what each leads to.
    let routes = host.http_routes();
    assert_eq!(routes.len(), 4);
    assert!(
        routes
            .iter()
            .any(|(r, t)| r == "/fn/..." && t == "handler web/hello/1")
    );
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_at_64_in_flight_are_each_answered_right() {
    let dir = tempfile::tempdir().unwrap();
    let (host, addr) = start(dir.path(), "").await;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..64 {
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut done = 0;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= 10_000 {
                    return done;
                }
                let (path, body) = if n.is_multiple_of(2) {
                    (format!("/fn/hello/{n}"), String::new())
                } else {
                    ("/echo".to_owned(), format!("n={n}"))
                };
                let answer = call(addr, "POST", &path, None, body.clone()).await;
                assert_eq!(answer.status, 200, "{path}: {}", answer.text());
                let want = if n.is_multiple_of(2) {
                    format!("hello POST {path}")
                } else {
                    body
                };
                assert_eq!(answer.text(), want);
                done += 1;
            }
        }));
    }
    let mut total = 0;
    for worker in workers {
        total += worker.await.unwrap();
    }
    assert_eq!(total, 10_000);
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_at_its_cap_answers_503_and_shutdown_finishes_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let (host, addr) = start(dir.path(), "http_concurrency = 2").await;
    // Two slow requests hold the route's two slots; a third is refused at once.
    let slow =
        |path: &'static str| tokio::spawn(async move { call(addr, "GET", path, None, "").await });
    let first = slow("/fn/slow/800");
    let second = slow("/fn/slow/800");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let busy = call(addr, "GET", "/fn/hello", None, "").await;
    assert_eq!(busy.status, 503, "{}", busy.text());
    assert!(busy.text().contains("/fn/..."), "{}", busy.text());
    // Another route has its own slots.
    assert_eq!(call(addr, "GET", "/hello", None, "").await.status, 200);
    // Shutdown while they run: both finish with their answer, then nothing is accepted.
    let shutdown = host.shutdown();
    let (a, b, done) = tokio::join!(first, second, shutdown);
    done.unwrap();
    assert_eq!(a.unwrap().text(), "slept");
    assert_eq!(b.unwrap().text(), "slept");
    assert!(try_call(addr, "GET", "/hello", None, "").await.is_err());
}

#[test]
fn a_duplicate_or_malformed_route_is_named_with_its_line() {
    let text = manifest_text("").replace("route = \"/echo\"", "route = \"/hello\"");
    let error = Manifest::parse(&text, "web.toml").unwrap_err();
    match &error {
        Error::Manifest {
            kind, key, line, ..
        } => {
            assert_eq!(*kind, ManifestErrorKind::Duplicate);
            assert_eq!(key, "http[2].route");
            assert!(*line > 30, "{error}");
        }
        other => panic!("{other}"),
    }
    assert!(error.to_string().contains("`/hello`"), "{error}");
    let text = manifest_text("").replace("route = \"/echo\"", "route = \"echo\"");
    let error = Manifest::parse(&text, "web.toml").unwrap_err();
    assert!(error.to_string().contains("must start with `/`"), "{error}");
    let text =
        manifest_text("").replace("component = \"web/echo/1\"", "component = \"web/none/1\"");
    let error = Manifest::parse(&text, "web.toml").unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Manifest {
                kind: ManifestErrorKind::UnknownComponent,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_the_manifests_routes_with_http() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.toml");
    std::fs::write(&file, manifest_text("")).unwrap();
    let port = test_fixtures::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_airssys-wasm"))
        .arg("run")
        .arg(&file)
        .args(["--http", &addr.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let answer = loop {
        if let Ok(answer) = try_call(addr, "GET", "/fn/hello", None, "").await {
            break answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run never served {addr}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (answer.status, answer.text()),
        (200, "hello GET /fn/hello".to_owned())
    );
    assert_eq!(call(addr, "POST", "/echo", None, "x").await.text(), "x");
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    assert!(child.wait().unwrap().success());
    // `--http` on a manifest without routes is refused, naming the file.
    std::fs::write(
        &file,
        "[[components]]\nid = \"a/b/1\"\npath = \"".to_owned()
            + &fixture_path("echo").display().to_string()
            + "\"\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_airssys-wasm"))
        .arg("run")
        .arg(&file)
        .args(["--http", "127.0.0.1:0", "--exit-when-idle"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no `[[http]]` routes"));
}

/// A manifest with actors and the `http-caller` handler, allowed to request `web/**` only.
fn caller_manifest() -> String {
    format!(
        r#"
[host]
storage = ":memory:"

[[components]]
id = "web/echo/1"
path = "{echo}"

[[components]]
id = "web/count/1"
path = "{counter}"
[components.capabilities.storage]
read = true
write = true

[[components]]
id = "web/panic/1"
path = "{panicker}"

[[components]]
id = "web/sleep/1"
path = "{sleeper}"

[[components]]
id = "web/flow/1"
path = "{flow}"

[[components]]
id = "secret/echo/1"
path = "{echo}"

[[handlers]]
id = "web/caller/1"
path = "{caller}"
[handlers.limits]
max_wall_time_ms = 5000
[handlers.capabilities.messaging]
request = ["web/**"]

[[http]]
route = "/..."
component = "web/caller/1"
"#,
        echo = fixture_path("echo").display(),
        counter = fixture_path("counter").display(),
        panicker = fixture_path("panicker").display(),
        sleeper = fixture_path("sleeper").display(),
        flow = fixture_path("flow").display(),
        caller = fixture_path("http-caller").display(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_calls_actors_and_waits_for_each_answer() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("caller.toml");
    std::fs::write(&file, caller_manifest()).unwrap();
    let (host, manifest) = Host::from_manifest_file(&file).await.unwrap();
    let addr = host
        .serve_manifest_http(&manifest, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // A reply becomes the response; two calls in one request each get their own answer.
    let echoed = call(addr, "POST", "/call/web/echo/1", None, "through a handler").await;
    assert_eq!(
        (echoed.status, echoed.text()),
        (200, "through a handler".to_owned())
    );
    let twice = call(addr, "POST", "/twice/web/count/1", None, "inc").await;
    assert_eq!(twice.text(), "1|2");
    // 64 requests at once, each incrementing once: every count from 3 to 66 is answered
    // exactly once (one answer per call, its own).
    let mut asked = Vec::new();
    for _ in 0..64 {
        asked.push(tokio::spawn(async move {
            call(addr, "POST", "/call/web/count/1", None, "inc").await
        }));
    }
    let mut counts = Vec::new();
    for answer in asked {
        let answer = answer.await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        counts.push(answer.text().parse::<u64>().unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (3..=66).collect::<Vec<_>>());
    // Each way a call can have no reply reaches the handler as its own error.
    for (path, body, want) in [
        ("/call/web/flow/1", "bogus", "error-reply: "),
        ("/call/web/panic/1", "panic", "target-failed: "),
        ("/call/web/sleep/1?timeout=200", "sleep 3000", "timeout"),
        ("/call/web/none/1", "x", "target-not-found: web/none/1"),
        ("/call/secret/echo/1", "x", "delivery-failed: "),
        ("/call/not-an-id", "x", "delivery-failed: "),
    ] {
        let failed = call(addr, "POST", path, None, body).await;
        assert_eq!(failed.status, 502, "{path}: {}", failed.text());
        assert!(failed.text().starts_with(want), "{path}: {}", failed.text());
    }
    // The grant is named in the denial, and the denial is audited.
    let denied = call(addr, "POST", "/call/secret/echo/1", None, "x").await;
    assert!(denied.text().contains("secret/echo/1"), "{}", denied.text());
    assert!(denied.text().contains("web/caller/1"), "{}", denied.text());
    // The restarted panicker and everything else still answer.
    assert_eq!(
        call(addr, "POST", "/call/web/panic/1", None, "x")
            .await
            .text(),
        "handled 1"
    );
    assert_eq!(
        call(addr, "POST", "/call/web/count/1", None, "inc")
            .await
            .text(),
        "67"
    );
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_componentize_js_fetch_handler_serves_from_a_builder_route() {
    let routes = vec![
        IngressRoute::handler(
            "/js/...",
            HandlerFile::new("web/js/1".parse().unwrap(), fixture_path("js-fetch")),
        ),
        IngressRoute::actor("/echo", "web/echo/1".parse().unwrap()),
    ];
    let host = HostBuilder::new()
        .http(HttpConfig::new("127.0.0.1:0".parse().unwrap()), routes)
        .build()
        .unwrap();
    let addr = host.http_addr().unwrap();
    let hello = call(addr, "GET", "/js/hello?x=1", None, "").await;
    assert_eq!(
        (hello.status, hello.text()),
        (200, "hello from js GET /js/hello?x=1".to_owned())
    );
    let echoed = call(addr, "POST", "/js/echo", None, "bytes from the client").await;
    assert_eq!(echoed.text(), "bytes from the client");
    let header = call_with(
        addr,
        "GET",
        "/js/header/x-sent",
        None,
        &[("x-sent", "yes")],
        "",
    )
    .await;
    assert_eq!(header.text(), "yes");
    assert_eq!(call(addr, "GET", "/js/nothing", None, "").await.status, 404);
    // A handler that throws answers 500, and the next request is served.
    let thrown = call(addr, "GET", "/js/throw", None, "").await;
    assert_eq!(thrown.status, 500, "{}", thrown.text());
    assert_eq!(call(addr, "GET", "/js/hello", None, "").await.status, 200);
    // An actor route given before the actor runs answers 503 until it does.
    assert_eq!(call(addr, "POST", "/echo", None, "x").await.status, 503);
    let echo = host.load_component_file(fixture_path("echo")).unwrap();
    host.start_component(wasm_host::ComponentSpec::new(
        "web/echo/1".parse().unwrap(),
        echo,
    ))
    .await
    .unwrap();
    assert_eq!(call(addr, "POST", "/echo", None, "x").await.text(), "x");
    host.shutdown().await.unwrap();
}
