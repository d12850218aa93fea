//! HTTP ingress (issue 29), against baselines measured in the same run:
//!
//! - `ingress`: a hello handler (`http-hello`, a `wasi:http` proxy) through the host's
//!   ingress, against a bare server of the same component on the same engine: hyper's
//!   HTTP/1 connection and the runtime's `serve_http` (the `ProxyPre` instantiated per request,
//!   with the same store), no routing, caps, metrics or spans. Both driven by the same in-bench
//!   hyper client at concurrency 1 and 64 (keep-alive connections). Targets: at least 0.9x the
//!   bare requests per second, p99 at most 1.2x the bare p99.
//! - the same client against an actor route (`echo`) and against the admin endpoint's request
//!   route to the same actor (printed, no target).
//! - `teardown`: what one instance per request costs in its teardown: the bare server on the
//!   default engine (`PoolingConfig::keep_resident_bytes` 64 KiB reset with `memset`, slots
//!   decommitted in batches of 16) against one that returns every slot to the kernel with
//!   `madvise` at once (printed, no target: the measurement behind the defaults).
//!
//! Run with `cargo bench --bench ingress` (or `cargo xtask bench`; `AIRSSYS_BENCH_ONLY=ingress`).
//! Without `--bench` it makes one short smoke pass that prints no target.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use test_fixtures::fixture_path;
use wasm_host::{Host, Manifest};
use wasm_runtime::{
    EngineConfig, HostServices, InstanceSpec, LoadedHandler, PoolingConfig, WasmEngine,
};
use wasm_security::CapabilitySet;

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// What one load run measured.
struct Load {
    per_s: f64,
    p99: Duration,
}

/// `connections` keep-alive HTTP/1 connections, each sending `method path body` in a loop for
/// `how_long`.
async fn load(
    addr: SocketAddr,
    method: &'static str,
    path: &'static str,
    connections: usize,
    how_long: Duration,
) -> Load {
    let until = Instant::now() + how_long;
    let mut workers = Vec::new();
    for _ in 0..connections {
        workers.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let request = http::Request::builder()
                    .method(method)
                    .uri(path)
                    .header("host", "bench")
                    .body(Full::new(Bytes::from_static(b"ping")))
                    .unwrap();
                let started = Instant::now();
                let response = sender.send_request(request).await.unwrap();
                assert_eq!(response.status(), 200, "{path}");
                response.into_body().collect().await.unwrap();
                latencies.push(started.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    all.sort();
    let p99 = all[((all.len() as f64 - 1.0) * 0.99).round() as usize];
    Load {
        per_s: all.len() as f64 / how_long.as_secs_f64(),
        p99,
    }
}

/// The bare baseline: hyper's HTTP/1 connection straight into the runtime's `serve_http`.
async fn bare(engine: WasmEngine, handler: LoadedHandler) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let caps = Arc::new(CapabilitySet::deny_all("bench/hello/1".parse().unwrap()));
    let services = HostServices::standalone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (engine, handler, caps, services) = (
                engine.clone(),
                handler.clone(),
                caps.clone(),
                services.clone(),
            );
            tokio::spawn(async move {
                let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let (engine, handler, caps, services) = (
                        engine.clone(),
                        handler.clone(),
                        caps.clone(),
                        services.clone(),
                    );
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        let spec = InstanceSpec {
                            capabilities: caps,
                            services,
                            limits: wasm_host::ResourceLimits::default(),
                        };
                        let response = wasm_runtime::serve_http(
                            &engine,
                            &handler,
                            spec,
                            http::Request::from_parts(parts, Full::new(body)),
                            None,
                        )
                        .await
                        .unwrap();
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let only = std::env::var("AIRSSYS_BENCH_ONLY").unwrap_or_default();
    if !only.is_empty() && !only.split(',').any(|s| s == "ingress") {
        return;
    }
    let (runs, how_long) = if full {
        (5, Duration::from_secs(2))
    } else {
        (1, Duration::from_millis(200))
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bench.toml");
        std::fs::write(
            &file,
            format!(
                "[host]\nstorage = \":memory:\"\nadmin = \"127.0.0.1:0\"\n\n[[components]]\nid = \"bench/echo/1\"\npath = \"{}\"\n\n[[handlers]]\nid = \"bench/hello/1\"\npath = \"{}\"\n\n[[http]]\nroute = \"/hello\"\ncomponent = \"bench/hello/1\"\n\n[[http]]\nroute = \"/echo\"\ncomponent = \"bench/echo/1\"\n",
                fixture_path("echo").display(),
                fixture_path("http-hello").display()
            ),
        )
        .unwrap();
        let manifest = Manifest::from_file(&file).unwrap();
        let host = Host::builder()
            .manifest_defaults(&manifest)
            .build()
            .unwrap();
        host.load(&manifest).await.unwrap();
        let through_host = host
            .serve_manifest_http(&manifest, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let handler = host.load_handler_file(fixture_path("http-hello")).unwrap();
        let bare_addr = bare(host.engine().clone(), handler).await;
        let admin = host.admin_addr().unwrap();
        println!("\ningress: hello handler through the host vs a bare hyper + serve_http server, medians of {runs} runs of {} ms", how_long.as_millis());
        for connections in [1, 64] {
            let (mut rps, mut p99s, mut host_rps, mut bare_rps, mut host_p99, mut bare_p99) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..runs {
                let b = load(bare_addr, "GET", "/hello", connections, how_long).await;
                let h = load(through_host, "GET", "/hello", connections, how_long).await;
                rps.push(h.per_s / b.per_s);
                p99s.push(h.p99.as_secs_f64() / b.p99.as_secs_f64());
                host_rps.push(h.per_s);
                bare_rps.push(b.per_s);
                host_p99.push(h.p99.as_secs_f64() * 1e6);
                bare_p99.push(b.p99.as_secs_f64() * 1e6);
            }
            println!(
                "ingress: c={connections}: host {:.0} req/s p99 {:.0} us, bare {:.0} req/s p99 {:.0} us",
                median(host_rps),
                median(host_p99),
                median(bare_rps),
                median(bare_p99)
            );
            if full {
                let (ratio, p99_ratio) = (median(rps), median(p99s));
                println!(
                    "ingress: c={connections}: throughput host / bare = {ratio:.2}x (target >= 0.9x): {}",
                    verdict(ratio >= 0.9)
                );
                println!(
                    "ingress: c={connections}: p99 host / bare = {p99_ratio:.2}x (target <= 1.2x): {}",
                    verdict(p99_ratio <= 1.2)
                );
            }
        }
        let (mut actor, mut via_admin) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            actor.push(load(through_host, "POST", "/echo", 64, how_long).await.per_s);
            via_admin.push(
                load(admin, "POST", "/v1/components/bench/echo/1/request", 64, how_long)
                    .await
                    .per_s,
            );
        }
        let (actor, via_admin) = (median(actor), median(via_admin));
        println!(
            "ingress: actor route {actor:.0} req/s vs the admin request route {via_admin:.0} req/s at c=64: {:.2}x",
            actor / via_admin
        );
        host.shutdown().await.unwrap();
        teardown(runs, how_long).await;
    });
}

/// The bare server on two engines that differ only in how a slot is reset after an instance.
async fn teardown(runs: usize, how_long: Duration) {
    let engine = |pool| {
        let engine = WasmEngine::new(EngineConfig {
            pooling: Some(pool),
            ..EngineConfig::default()
        })
        .unwrap();
        let handler = engine
            .load_handler_file(&fixture_path("http-hello"))
            .unwrap();
        (engine, handler)
    };
    let (madvise, madvise_handler) = engine(PoolingConfig {
        keep_resident_bytes: 0,
        decommit_batch: 1,
        ..PoolingConfig::default()
    });
    let (resident, resident_handler) = engine(PoolingConfig::default());
    let madvise = bare(madvise, madvise_handler).await;
    let resident = bare(resident, resident_handler).await;
    for connections in [1, 64] {
        let (mut ratios, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let m = load(madvise, "GET", "/hello", connections, how_long).await;
            let r = load(resident, "GET", "/hello", connections, how_long).await;
            ratios.push(r.per_s / m.per_s);
            a.push(m.per_s);
            b.push(r.per_s);
        }
        println!(
            "ingress: teardown c={connections}: default pool {:.0} req/s vs madvise at once {:.0} req/s: {:.2}x",
            median(b),
            median(a),
            median(ratios)
        );
    }
}
