//! One span per handled message, and a W3C traceparent carried through every hop: a real
//! subscriber records the spans of a request that causes a request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use test_fixtures::fixture_path;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use wasm_host::{ComponentId, Grants, Host, MessagingAction, TraceContext};

fn id(text: &str) -> ComponentId {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// The fields of one `handle` span.
type Fields = HashMap<String, String>;

#[derive(Clone, Default)]
struct Spans(Arc<Mutex<HashMap<u64, Fields>>>);

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() != "handle" {
            return;
        }
        let mut fields = Fields::new();
        attrs.record(&mut Collect(&mut fields));
        self.0.lock().unwrap().insert(id.into_u64(), fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(fields) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Collect(fields));
        }
    }
}

/// `demo/echo/1`, and `demo/req/1` (a requester allowed to ask it).
async fn start_echo_and_requester(host: &Host) {
    let echo = host.load_component_file(fixture_path("echo")).unwrap();
    host.start_component(host.spec(id("demo/echo/1"), echo))
        .await
        .unwrap();
    let requester = host.load_component_file(fixture_path("requester")).unwrap();
    let grants = Grants::none().with_messaging(&[MessagingAction::Request], "demo/echo/*");
    host.start_component(host.spec(id("demo/req/1"), requester).with_grants(grants))
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_traceparent_follows_a_request_through_every_hop_and_back() {
    let spans = Spans::default();
    // The host's shard threads record to the subscriber that is the default where it is built.
    let _guard = tracing_subscriber::registry()
        .with(spans.clone())
        .set_default();
    let host = Host::builder().build().unwrap();
    start_echo_and_requester(&host).await;
    let caller: TraceContext = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        .parse()
        .unwrap();
    host.request_traced(
        &id("demo/req/1"),
        "request demo/echo/1 2000 hi",
        Duration::from_secs(5),
        caller,
    )
    .await
    .unwrap();
    host.wait_idle().await;
    // An untraced request has a span too, without trace fields.
    host.request(&id("demo/echo/1"), "plain").await.unwrap();
    let spans: Vec<Fields> = spans.0.lock().unwrap().values().cloned().collect();
    let find = |component: &str, kind: &str| -> Vec<&Fields> {
        spans
            .iter()
            .filter(|f| f["component"] == component && f["kind"] == kind)
            .collect()
    };
    let [request] = find("demo/req/1", "request")[..] else {
        panic!("one request span at the requester: {spans:?}")
    };
    let echoes = find("demo/echo/1", "request");
    let traced: Vec<&&Fields> = echoes
        .iter()
        .filter(|f| f.contains_key("trace_id"))
        .collect();
    let [echo] = traced[..] else {
        panic!("one traced request span at echo: {spans:?}")
    };
    let [callback] = find("demo/req/1", "callback")[..] else {
        panic!("one callback span at the requester: {spans:?}")
    };
    let trace = caller.trace_id_hex();
    for span in [request, *echo, callback] {
        assert_eq!(span["trace_id"], trace, "{span:?}");
    }
    // The requester's span is the caller's child; echo's is the requester's; the callback
    // hangs off the requesting span too, under the same correlation id as echo's request.
    assert_eq!(request["parent_span_id"], caller.span_id_hex());
    assert_eq!(echo["parent_span_id"], request["span_id"]);
    assert_eq!(callback["parent_span_id"], request["span_id"]);
    assert_eq!(callback["correlation_id"], echo["correlation_id"]);
    assert_eq!(echo["sender"], "demo/req/1");
    let plain: Vec<&&Fields> = echoes
        .iter()
        .filter(|f| !f.contains_key("trace_id"))
        .collect();
    assert_eq!(plain.len(), 1, "{spans:?}");
    host.shutdown().await.unwrap();
}

fn cluster_manifest(
    dir: &std::path::Path,
    url: &str,
    host: &str,
    body: &str,
) -> std::path::PathBuf {
    let text = format!(
        "[cluster]\nurl = \"{url}\"\nhost = \"{host}\"\nname = \"traces\"\nlease_ms = 1000\n\n{body}"
    );
    let path = dir.join(format!("{host}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "current_thread")]
async fn the_trace_crosses_hosts_with_the_request() {
    let spans = Spans::default();
    let _guard = tracing_subscriber::registry()
        .with(spans.clone())
        .set_default();
    let server = test_fixtures::NatsServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let echo = format!(
        "[[components]]\nid = \"traces/echo/1\"\npath = \"{}\"\n",
        fixture_path("echo").display()
    );
    let requester = format!(
        "[[components]]\nid = \"traces/req/1\"\npath = \"{}\"\n\n[components.capabilities.messaging]\nrequest = [\"traces/echo/*\"]\n",
        fixture_path("requester").display()
    );
    let (b, _) =
        Host::from_manifest_file(cluster_manifest(dir.path(), &server.url(), "edge-2", &echo))
            .await
            .unwrap();
    let (a, _) = Host::from_manifest_file(cluster_manifest(
        dir.path(),
        &server.url(),
        "edge-1",
        &requester,
    ))
    .await
    .unwrap();
    let caller = TraceContext::new_root();
    a.request_traced(
        &id("traces/req/1"),
        "request traces/echo/1 5000 across",
        Duration::from_secs(10),
        caller,
    )
    .await
    .unwrap();
    // The callback comes back from edge-2; wait until the requester has it.
    for _ in 0..500 {
        let got = a.request(&id("traces/req/1"), "count").await.unwrap();
        if got == b"1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let spans: Vec<Fields> = spans.0.lock().unwrap().values().cloned().collect();
    let traced = |component: &str, kind: &str| -> Vec<&Fields> {
        spans
            .iter()
            .filter(|f| {
                f["component"] == component
                    && f["kind"] == kind
                    && f.get("trace_id") == Some(&caller.trace_id_hex())
            })
            .collect()
    };
    let [request] = traced("traces/req/1", "request")[..] else {
        panic!("the requester's traced span: {spans:?}")
    };
    let [echo] = traced("traces/echo/1", "request")[..] else {
        panic!("echo's traced span on edge-2: {spans:?}")
    };
    let [callback] = traced("traces/req/1", "callback")[..] else {
        panic!("the callback's traced span: {spans:?}")
    };
    assert_eq!(request["parent_span_id"], caller.span_id_hex());
    assert_eq!(echo["parent_span_id"], request["span_id"]);
    assert_eq!(callback["parent_span_id"], request["span_id"]);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A link that gives every span the same id in its "other system", and counts its calls.
#[derive(Debug, Default)]
struct FixedLink(Mutex<Vec<String>>);

const LINKED: u64 = 0x0abc_def0_1234_5678;

impl wasm_host::SpanLink for FixedLink {
    fn link(&self, _span: &tracing::Span, parent: &TraceContext) -> Option<u64> {
        self.0.lock().unwrap().push(parent.span_id_hex());
        Some(LINKED)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_span_link_gives_the_span_its_id_and_the_messages_carry_it() {
    let spans = Spans::default();
    let _guard = tracing_subscriber::registry()
        .with(spans.clone())
        .set_default();
    let link = Arc::new(FixedLink::default());
    let host = Host::builder().span_link(link.clone()).build().unwrap();
    start_echo_and_requester(&host).await;
    let caller = TraceContext::new_root();
    host.request_traced(
        &id("demo/req/1"),
        "request demo/echo/1 2000 hi",
        Duration::from_secs(5),
        caller,
    )
    .await
    .unwrap();
    host.wait_idle().await;
    let linked = format!("{LINKED:016x}");
    let spans: Vec<Fields> = spans.0.lock().unwrap().values().cloned().collect();
    let requester_span = spans
        .iter()
        .find(|f| f["component"] == "demo/req/1" && f["kind"] == "request")
        .unwrap();
    assert_eq!(requester_span["span_id"], linked);
    let echo_span = spans
        .iter()
        .find(|f| f["component"] == "demo/echo/1" && f.contains_key("trace_id"))
        .unwrap();
    assert_eq!(
        echo_span["parent_span_id"], linked,
        "echo's parent is the linked id"
    );
    // Linked once per traced span: the request, echo's request, the callback.
    let parents = link.0.lock().unwrap().clone();
    assert_eq!(parents.len(), 3, "{parents:?}");
    assert_eq!(parents[0], caller.span_id_hex());
    host.shutdown().await.unwrap();
}
