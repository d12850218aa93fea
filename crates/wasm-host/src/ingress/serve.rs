//! Serving ingress requests: accept, route, cap, then run the handler or ask the actor.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Instrument;
use wasm_actor::ActorSystem;
use wasm_core::{ErrorCallback, MessagingError, TraceContext};
use wasm_runtime::{InstanceSpec, Limit};

use super::{Ready, RouteTable, Served};
use crate::error::Error;

/// Every response body: the handler's stream, or bytes of the host's own.
pub(crate) type Body = UnsyncBoxBody<Bytes, wasm_runtime::BoxError>;

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) system: Weak<ActorSystem>,
    /// An actor route's request timeout (the host's).
    pub(crate) request_timeout: Duration,
    pub(crate) table: RouteTable<Served>,
    pub(crate) max_body: usize,
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let body = Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

/// `{"error": {"kind": ..., "message": ...}}`, as the admin endpoint writes errors.
fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response<Body> {
    let body = json!({ "error": { "kind": kind, "message": message.into() } });
    full(status, "application/json", body.to_string())
}

pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
    grace: Duration,
) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Small responses go out at once, not after the peer's delayed ACK.
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(target: "airssys::http", error = %e, "TCP_NODELAY not set");
                    }
                    let shared = shared.clone();
                    let service = service_fn(move |request| {
                        let shared = shared.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(&shared, request).await) }
                    });
                    let connection = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    let watched = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(e) = watched.await {
                            tracing::debug!(target: "airssys::http", error = %e, "HTTP connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(target: "airssys::http", error = %e, "HTTP ingress cannot accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    // Requests in flight finish; idle connections close; what outlasts the grace is cut.
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(target: "airssys::http", grace_ms = grace.as_millis() as u64, "HTTP requests still in flight at the end of the shutdown grace were cut");
    }
}

/// Serves one request. Never fails: every problem is a response.
async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let path = request.uri().path().to_owned();
    let Some(matched) = shared.table.lookup(&path) else {
        return error(
            StatusCode::NOT_FOUND,
            "no-route",
            format!("no route matches `{path}`"),
        );
    };
    let route = matched.route;
    let served = matched.target;
    let _in_flight = served.stats.enter();
    // One span per request; the actors it reaches carry the client's `traceparent`.
    let span = tracing::info_span!(
        target: "airssys::http",
        "http_request",
        route,
        method = %request.method(),
        path = %path,
        status = tracing::field::Empty,
    );
    let response = route_request(shared, served, route, request)
        .instrument(span.clone())
        .await;
    span.record("status", response.status().as_u16());
    served
        .stats
        .answered(response.status().as_u16(), started.elapsed());
    tracing::debug!(
        target: "airssys::http",
        route,
        path = %path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request served"
    );
    response
}

/// Serves a request on its route: the cap, the body, then the handler or the actor.
async fn route_request(
    shared: &Shared,
    served: &Served,
    route: &str,
    request: Request<Incoming>,
) -> Response<Body> {
    let Ok(_permit) = served.permits.try_acquire() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!(
                "route `{route}` has {} requests in flight, its cap",
                served.cap
            ),
        );
    };
    let Some(system) = shared.system.upgrade() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the host is shutting down",
        );
    };
    // A client's `traceparent` is carried into the actors the request reaches.
    let trace = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(|text| TraceContext::parse(text).ok());
    let (parts, body) = request.into_parts();
    let bytes = match read_body(
        body,
        shared.max_body,
        parts.headers.get(http::header::CONTENT_LENGTH),
    )
    .await
    {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    match &served.target {
        Ready::Actor(id) => {
            let asked = system
                .request_traced(id, bytes.to_vec(), shared.request_timeout, trace)
                .await
                .map_err(Error::from);
            match asked {
                Ok(reply) => full(StatusCode::OK, "application/octet-stream", reply),
                Err(e) => actor_failure(&e),
            }
        }
        Ready::Handler { spec, caps } => {
            let instance = InstanceSpec {
                capabilities: caps.clone(),
                services: system.host_services(),
                limits: spec.limits,
            };
            let request = Request::from_parts(parts, Full::new(bytes));
            let served =
                wasm_runtime::serve_http(system.engine(), &spec.handler, instance, request, trace);
            match served.await {
                Ok(response) => response.map(|body| {
                    body.map_err(|e| Box::new(e) as wasm_runtime::BoxError)
                        .boxed_unsync()
                }),
                Err(e) => handler_failure(&e),
            }
        }
    }
}

async fn read_body(
    body: Incoming,
    max: usize,
    length: Option<&http::HeaderValue>,
) -> Result<Bytes, Response<Body>> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the request body is over the {max}-byte limit"),
        )
    };
    let declared = length
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "body",
            format!("the request body could not be read: {e}"),
        )),
    }
}

/// A handler that did not answer: `504` for time, `500` for the rest, `503` when no
/// instance could be made.
fn handler_failure(e: &wasm_runtime::Error) -> Response<Body> {
    let message = wasm_core::with_causes(e);
    let (status, kind) = match e {
        wasm_runtime::Error::Timeout { .. }
        | wasm_runtime::Error::LimitExceeded {
            limit: Limit::CpuTime,
            ..
        } => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        wasm_runtime::Error::LimitExceeded { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "limit-exceeded")
        }
        wasm_runtime::Error::Capacity { .. } => (StatusCode::SERVICE_UNAVAILABLE, "capacity"),
        wasm_runtime::Error::Trapped { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "trapped"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "handler-failed"),
    };
    tracing::warn!(target: "airssys::http", error = %message, "a handler failed its request");
    error(status, kind, message)
}

/// An actor's request that failed, with the contract's error kind: `503` when the actor
/// does not run (stopped, not found, full mailbox), `504` on timeout, `502` when it failed.
fn actor_failure(e: &Error) -> Response<Body> {
    let message = wasm_core::with_causes(e);
    if let Some(callback) = e.error_callback() {
        let status = match callback {
            ErrorCallback::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCallback::TargetNotFound(_) | ErrorCallback::TargetStopped => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCallback::ErrorReply(_) | ErrorCallback::TargetFailed(_) => {
                StatusCode::BAD_GATEWAY
            }
        };
        return error(status, callback.kind(), message);
    }
    let (status, kind) = match e.messaging() {
        Some(MessagingError::QueueFull) => (StatusCode::SERVICE_UNAVAILABLE, "queue-full"),
        Some(MessagingError::TargetNotFound(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, "target-not-found")
        }
        Some(MessagingError::InvalidMessage(_)) => (StatusCode::BAD_REQUEST, "invalid-message"),
        Some(MessagingError::CorrelationTimeout(_)) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        Some(MessagingError::DeliveryFailed(_)) => (StatusCode::BAD_GATEWAY, "delivery-failed"),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    error(status, kind, message)
}
