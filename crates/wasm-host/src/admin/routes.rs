//! The admin endpoint's routes: one function per route, errors as JSON naming what is wrong.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};
use wasm_core::{ComponentId, ErrorCallback, MessagingError};

use super::{Shared, inventory, metrics};
use crate::error::Error;
use crate::state::Core;
use crate::{ActorError, TraceContext};

type Reply = Response<Full<Bytes>>;

/// The verbs of `POST /v1/components/{id}/{verb}`.
const VERBS: [&str; 5] = ["request", "send", "stop", "start", "upgrade"];

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

fn json_reply(status: StatusCode, value: &Value) -> Reply {
    reply(status, "application/json", value.to_string())
}

/// `{"error": {"kind": ..., "message": ...}}`.
fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Reply {
    json_reply(
        status,
        &json!({ "error": { "kind": kind, "message": message.into() } }),
    )
}

/// Serves one request. Never fails: every problem is a response.
pub(super) async fn handle(shared: &Shared, request: Request<Incoming>) -> Reply {
    let Some(core) = shared.core.upgrade() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shut-down",
            "the host is shut down",
        );
    };
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = request.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["metrics"]) => match metrics::render(&core) {
            Ok(text) => reply(StatusCode::OK, metrics::CONTENT_TYPE, text),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "metrics", e),
        },
        (&Method::GET, ["healthz"]) => reply(StatusCode::OK, "text/plain", "ok\n"),
        (&Method::GET, ["readyz"]) => ready(&core),
        (&Method::GET, ["v1", "components"]) => json_reply(StatusCode::OK, &inventory::list(&core)),
        (&Method::GET, ["v1", "components", rest @ ..]) => match component_id(rest) {
            Ok(id) => match inventory::show(&core, &id) {
                Some(entry) => json_reply(StatusCode::OK, &entry),
                None => not_found(&id),
            },
            Err(reply) => reply,
        },
        (&Method::POST, ["v1", "components", rest @ .., verb]) if VERBS.contains(verb) => {
            if let Err(refused) = authorize(shared, &request) {
                return refused;
            }
            let id = match component_id(rest) {
                Ok(id) => id,
                Err(reply) => return reply,
            };
            let timeout = query_timeout(request.uri().query(), core.request_timeout);
            let trace = request
                .headers()
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .map(TraceContext::parse);
            let trace = match trace.transpose() {
                Ok(trace) => trace,
                Err(e) => return error(StatusCode::BAD_REQUEST, "invalid-traceparent", e),
            };
            let body = match read_body(shared, request).await {
                Ok(body) => body,
                Err(reply) => return reply,
            };
            operate(&core, &id, verb, body, timeout, trace).await
        }
        (_, ["metrics" | "healthz" | "readyz"] | ["v1", "components", ..]) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            format!(
                "{method} {path} is not a route: reads are GET, operations POST /v1/components/<id>/<request|send|stop|start|upgrade>"
            ),
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            "no-route",
            format!("no route {method} {path}: see /metrics, /healthz, /readyz, /v1/components"),
        ),
    }
}

fn ready(core: &Core) -> Reply {
    if core.is_ready() {
        return reply(StatusCode::OK, "text/plain", "ready\n");
    }
    let waiting: Vec<Value> = core
        .system
        .registry()
        .ids()
        .iter()
        .filter_map(|id| core.system.status(id))
        .filter(|s| s.state != wasm_actor::ComponentState::Running)
        .map(|s| json!({ "id": s.info.id.as_str(), "state": s.state.as_str() }))
        .collect();
    json_reply(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({ "ready": false, "waiting": waiting }),
    )
}

fn not_found(id: &ComponentId) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        "target-not-found",
        format!("no component {id} on this host"),
    )
}

/// The id from the path: `ns/name/instance` as three segments, or one with `%2F` for `/`.
fn component_id(segments: &[&str]) -> Result<ComponentId, Reply> {
    let text = segments.join("/").replace("%2F", "/").replace("%2f", "/");
    text.parse().map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid-id",
            format!("`{text}` is not a component id: {e}"),
        )
    })
}

/// `?timeout_ms=N` overrides the host's request timeout.
fn query_timeout(query: Option<&str>, default: Duration) -> Duration {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("timeout_ms="))
        .and_then(|ms| ms.parse().ok())
        .map_or(default, Duration::from_millis)
}

/// Mutating routes need the bearer token when one is set.
fn authorize(shared: &Shared, request: &Request<Incoming>) -> Result<(), Reply> {
    let Some(token) = &shared.token else {
        return Ok(());
    };
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|given| same(given.as_bytes(), token.as_bytes())) {
        return Ok(());
    }
    let mut refused = error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        match given {
            Some(_) => "the bearer token is wrong",
            None => "this route needs `Authorization: Bearer <token>`",
        },
    );
    refused
        .headers_mut()
        .insert(WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
    Err(refused)
}

/// Compares without stopping at the first difference (no timing hint of a prefix).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn read_body(shared: &Shared, request: Request<Incoming>) -> Result<Bytes, Reply> {
    match Limited::new(request.into_body(), shared.max_body)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!(
                "the request body is larger than the admin endpoint's limit of {} bytes",
                shared.max_body
            ),
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "unreadable-body",
            format!("the request body could not be read: {e}"),
        )),
    }
}

async fn operate(
    core: &Arc<Core>,
    id: &ComponentId,
    verb: &str,
    body: Bytes,
    timeout: Duration,
    trace: Option<TraceContext>,
) -> Reply {
    let done = |value: Value| json_reply(StatusCode::OK, &value);
    match verb {
        "request" => match core
            .system
            .request_traced(id, body.to_vec(), timeout, trace)
            .await
        {
            Ok(reply_bytes) => reply(StatusCode::OK, "application/octet-stream", reply_bytes),
            Err(e) => failure(&e.into()),
        },
        "send" => match core.system.send(id, body.to_vec()) {
            Ok(()) => json_reply(StatusCode::ACCEPTED, &json!({ "queued": true })),
            Err(e) => failure(&e.into()),
        },
        "stop" => match core.stop(id).await {
            Ok(()) => done(json!({ "id": id.as_str(), "state": "stopped" })),
            Err(e) => failure(&e),
        },
        "start" => match core.start_stopped(id).await {
            Ok(()) => done(json!({ "id": id.as_str(), "state": "running" })),
            Err(e) => failure(&e),
        },
        _ => match core.upgrade(id, &body).await {
            Ok(up) => done(json!({
                "id": id.as_str(),
                "from": up.from,
                "to": up.to,
                "state_handed_over": up.state_handed_over,
            })),
            Err(e) => failure(&e),
        },
    }
}

/// An operation's error as JSON: the contract's error kind where there is one.
fn failure(e: &Error) -> Reply {
    let message = wasm_core::with_causes(e);
    if let Some(callback) = e.error_callback() {
        let status = match callback {
            ErrorCallback::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCallback::TargetNotFound(_) | ErrorCallback::TargetStopped => {
                StatusCode::NOT_FOUND
            }
            ErrorCallback::ErrorReply(_) | ErrorCallback::TargetFailed(_) => {
                StatusCode::BAD_GATEWAY
            }
        };
        return error(status, callback.kind(), message);
    }
    if let Some(messaging) = e.messaging() {
        let (status, kind) = match messaging {
            MessagingError::QueueFull => (StatusCode::SERVICE_UNAVAILABLE, "queue-full"),
            MessagingError::TargetNotFound(_) => (StatusCode::NOT_FOUND, "target-not-found"),
            MessagingError::InvalidMessage(_) => (StatusCode::BAD_REQUEST, "invalid-message"),
            MessagingError::CorrelationTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            MessagingError::DeliveryFailed(_) => (StatusCode::BAD_GATEWAY, "delivery-failed"),
        };
        return error(status, kind, message);
    }
    let (status, kind) = match e {
        Error::Actor(ActorError::NotRunning(_)) => (StatusCode::NOT_FOUND, "not-running"),
        Error::Actor(ActorError::AlreadyRunning(_)) => (StatusCode::CONFLICT, "already-running"),
        Error::Actor(ActorError::UpgradeFailed { .. }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "upgrade-failed")
        }
        Error::Runtime(_) => (StatusCode::BAD_REQUEST, "invalid-component"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    let mut body = json!({ "error": { "kind": kind, "message": message } });
    if let Error::Actor(ActorError::UpgradeFailed { step, .. }) = e {
        body["error"]["step"] = json!(step);
    }
    json_reply(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_three_segments_or_one_encoded() {
        let id = component_id(&["demo", "echo", "1"]).map_err(|_| "three");
        assert_eq!(id.map(|i| i.to_string()), Ok("demo/echo/1".to_owned()));
        let id = component_id(&["demo%2Fecho%2F1"]).map_err(|_| "one");
        assert_eq!(id.map(|i| i.to_string()), Ok("demo/echo/1".to_owned()));
        assert!(component_id(&["demo", "echo"]).is_err());
        assert!(component_id(&["demo", "ec ho", "1"]).is_err());
    }

    #[test]
    fn the_timeout_comes_from_the_query() {
        let default = Duration::from_secs(5);
        assert_eq!(query_timeout(None, default), default);
        assert_eq!(
            query_timeout(Some("a=1&timeout_ms=250"), default),
            Duration::from_millis(250)
        );
        assert_eq!(query_timeout(Some("timeout_ms=x"), default), default);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
        assert!(!same(b"", b"x"));
    }
}
