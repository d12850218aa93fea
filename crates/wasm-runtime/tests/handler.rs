//! HTTP handler components (`wasi:http/incoming-handler`) on a real engine: a proxy built
//! with the `wasi` crate answers, and a trap, a spin and a memory bomb each end their request
//! with a typed error while the next request is served.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use test_fixtures::fixture;
use wasm_core::ResourceLimits;
use wasm_runtime::{
    Error, HostServices, InstanceSpec, Limit, LoadedHandler, WasmEngine, serve_http,
};
use wasm_security::CapabilitySet;

fn spec(limits: ResourceLimits) -> InstanceSpec {
    InstanceSpec {
        capabilities: Arc::new(CapabilitySet::deny_all(common::id("web/hello/1"))),
        services: HostServices::standalone(),
        limits,
    }
}

fn request(path: &str, body: &'static str) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{path}"))
        .header("x-test", "yes")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

async fn call(
    engine: &WasmEngine,
    handler: &LoadedHandler,
    limits: ResourceLimits,
    path: &str,
    body: &'static str,
) -> Result<(u16, String), Error> {
    let response = serve_http(engine, handler, spec(limits), request(path, body), None).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Ok((status, String::from_utf8(bytes.to_vec()).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_component_answers_and_its_failures_end_only_their_request() {
    let engine = common::engine();
    let handler = engine
        .load_handler_bytes("http-hello", &fixture("http-hello"))
        .unwrap();
    let limits = common::limits();
    assert_eq!(
        call(&engine, &handler, limits, "/hello/there", "")
            .await
            .unwrap(),
        (200, "hello POST /hello/there".to_owned())
    );
    assert_eq!(
        call(&engine, &handler, limits, "/echo", "the body")
            .await
            .unwrap(),
        (200, "the body".to_owned())
    );
    assert_eq!(
        call(&engine, &handler, limits, "/header/x-test", "")
            .await
            .unwrap(),
        (200, "yes".to_owned())
    );
    assert_eq!(
        call(&engine, &handler, limits, "/nowhere", "")
            .await
            .unwrap()
            .0,
        404
    );
    let trapped = call(&engine, &handler, limits, "/trap", "")
        .await
        .unwrap_err();
    assert!(
        matches!(&trapped, Error::Trapped { message, .. } if message.contains("asked to trap")),
        "{trapped}"
    );
    let tight = ResourceLimits {
        max_execution_time_ms: 200,
        max_wall_time_ms: 1_000,
        ..limits
    };
    let spun = call(&engine, &handler, tight, "/spin", "")
        .await
        .unwrap_err();
    assert!(
        matches!(
            spun,
            Error::LimitExceeded {
                limit: Limit::CpuTime,
                ..
            }
        ),
        "{spun}"
    );
    let bomb = call(&engine, &handler, limits, "/bomb", "")
        .await
        .unwrap_err();
    assert!(
        matches!(
            bomb,
            Error::LimitExceeded {
                limit: Limit::Memory,
                ..
            }
        ) || matches!(bomb, Error::Trapped { .. }),
        "{bomb}"
    );
    let slow = ResourceLimits {
        max_wall_time_ms: 300,
        ..limits
    };
    let late = call(&engine, &handler, slow, "/slow/2000", "")
        .await
        .unwrap_err();
    assert!(matches!(late, Error::Timeout { .. }), "{late}");
    // And the next request is served as if nothing happened.
    assert_eq!(
        call(&engine, &handler, limits, "/hello", "")
            .await
            .unwrap()
            .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_calls_is_held_to_its_grants() {
    let engine = common::engine();
    let handler = engine
        .load_handler_bytes("http-caller", &fixture("http-caller"))
        .unwrap();
    // No grant: refused before anything is sent, naming the capability and both ids.
    let (status, text) = call(&engine, &handler, common::limits(), "/call/a/b/1", "x")
        .await
        .unwrap();
    assert_eq!(status, 502, "{text}");
    assert!(text.starts_with("delivery-failed: "), "{text}");
    assert!(text.contains("request") && text.contains("a/b/1"), "{text}");
    assert!(text.contains("web/hello/1"), "{text}");
    // Granted, on a host with no components: the target is not found.
    let grants = wasm_security::Grants {
        messaging: vec![wasm_security::MessagingGrant {
            actions: vec![wasm_security::MessagingAction::Request],
            targets: "a/**".into(),
        }],
        ..wasm_security::Grants::default()
    };
    let spec = InstanceSpec {
        capabilities: Arc::new(CapabilitySet::compile(common::id("web/hello/1"), &grants).unwrap()),
        services: HostServices::standalone(),
        limits: common::limits(),
    };
    let response = serve_http(&engine, &handler, spec, request("/call/a/b/1", "x"), None)
        .await
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&bytes[..], b"target-not-found: a/b/1");
}

#[test]
fn an_actor_component_is_not_a_handler_and_a_handler_is_not_an_actor() {
    let engine = common::engine();
    let refused = engine
        .load_handler_bytes("echo", &fixture("echo"))
        .unwrap_err();
    assert!(
        matches!(&refused, Error::MissingExport { expected, .. } if expected.contains("incoming-handler")),
        "{refused}"
    );
    let refused = engine
        .loader()
        .load_bytes("http-hello", &fixture("http-hello"))
        .unwrap_err();
    assert!(matches!(refused, Error::MissingExport { .. }), "{refused}");
}
