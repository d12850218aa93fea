//! What travels between hosts: a message is one NATS message, its payload the component's
//! bytes and its metadata in headers; an acknowledgement and an answer are NATS messages with
//! a header saying what they are.

use std::time::Duration;

use async_nats::HeaderMap;
use wasm_core::{
    ComponentId, ComponentMessage, CorrelationId, ERROR_CONTENT_TYPE, ErrorCallback,
    MessageMetadata, MessagingError, Timestamp, TraceContext,
};

/// `send`, `request`, `credited` (a send on the sender's credit, not acknowledged), `reserve`
/// (hold a slot, send nothing), `reserved` (a send into a held slot), `release` (give a held
/// slot back) or `probe` (is this id running anywhere?).
pub(crate) const KIND: &str = "Airssys-Kind";
/// The sender's id, set by the sending host.
pub(crate) const FROM: &str = "Airssys-From";
/// The sending host's name.
pub(crate) const HOST: &str = "Airssys-Host";
/// The requester's correlation id, on a request and on its answer.
pub(crate) const CORRELATION: &str = "Airssys-Correlation";
/// How long the target's host keeps a request, in milliseconds.
pub(crate) const TIMEOUT_MS: &str = "Airssys-Timeout-Ms";
/// The message's content type, when the sender set one.
pub(crate) const CONTENT_TYPE: &str = "Content-Type";
/// The W3C trace context of a traced message (the sending span).
pub(crate) const TRACEPARENT: &str = "traceparent";
/// On an acknowledgement: `ok`, `queue-full`, `not-found`, `invalid: ...`, or [`RUNNING`].
pub(crate) const RESULT: &str = "Airssys-Result";
/// The acknowledgement of a probe: this host serves the id.
pub(crate) const RUNNING: &str = "running";
/// On the acknowledgement of a send: how many messages the sender may now send to the target
/// without waiting (slots the target's host holds for them).
pub(crate) const CREDIT: &str = "Airssys-Credit";
/// On an acknowledged send: how many messages the sender sent on its last credit.
pub(crate) const SPENT: &str = "Airssys-Spent";

/// What an inbound message on a component's subject asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Send,
    Request,
    Credited,
    Reserve,
    Reserved,
    Release,
    Probe,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::Request => "request",
            Self::Credited => "credited",
            Self::Reserve => "reserve",
            Self::Reserved => "reserved",
            Self::Release => "release",
            Self::Probe => "probe",
        }
    }
}

/// The headers of an outbound message or request from `host`.
pub(crate) fn message_headers(
    kind: Kind,
    host: &str,
    message: &ComponentMessage,
    timeout: Option<Duration>,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(KIND, kind.as_str());
    headers.insert(HOST, host);
    headers.insert(FROM, message.sender.to_string().as_str());
    if let Some(id) = &message.metadata.correlation_id {
        headers.insert(CORRELATION, id.as_str());
    }
    if let Some(timeout) = timeout {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        headers.insert(TIMEOUT_MS, ms.to_string().as_str());
    }
    if let Some(content_type) = &message.metadata.content_type {
        headers.insert(CONTENT_TYPE, content_type.as_str());
    }
    if let Some(trace) = &message.metadata.trace {
        headers.insert(TRACEPARENT, trace.to_string().as_str());
    }
    headers
}

/// A message read back from its headers and payload.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) kind: Kind,
    pub(crate) host: String,
    pub(crate) message: ComponentMessage,
    pub(crate) correlation: Option<CorrelationId>,
    pub(crate) timeout: Duration,
    /// On an acknowledged send: how many messages went out on the sender's last credit.
    pub(crate) spent: Option<u64>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.as_str())
}

/// Reads an inbound message; the error says which header is missing or malformed.
pub(crate) fn read_inbound(headers: Option<&HeaderMap>, payload: &[u8]) -> Result<Inbound, String> {
    let headers = headers.ok_or("a message without headers")?;
    let kind = match header(headers, KIND) {
        Some("send") => Kind::Send,
        Some("request") => Kind::Request,
        Some("probe") => Kind::Probe,
        Some("credited") => Kind::Credited,
        Some("reserve") => Kind::Reserve,
        Some("reserved") => Kind::Reserved,
        Some("release") => Kind::Release,
        other => return Err(format!("header {KIND} is {other:?}")),
    };
    let host = header(headers, HOST)
        .ok_or_else(|| format!("no {HOST} header"))?
        .to_owned();
    let sender: ComponentId = header(headers, FROM)
        .ok_or_else(|| format!("no {FROM} header"))?
        .parse()
        .map_err(|e| format!("header {FROM}: {e}"))?;
    let correlation = header(headers, CORRELATION).map(CorrelationId::new);
    if kind == Kind::Request && correlation.is_none() {
        return Err(format!("a request without {CORRELATION}"));
    }
    let timeout = match header(headers, TIMEOUT_MS) {
        Some(ms) => Duration::from_millis(
            ms.parse()
                .map_err(|_| format!("header {TIMEOUT_MS} is not a number: {ms}"))?,
        ),
        None => Duration::from_secs(30),
    };
    let message = ComponentMessage {
        sender,
        payload: payload.to_vec(),
        metadata: MessageMetadata {
            correlation_id: None,
            reply_to: None,
            timestamp: Timestamp::now(),
            content_type: header(headers, CONTENT_TYPE).map(str::to_owned),
            trace: match header(headers, TRACEPARENT) {
                Some(text) => Some(TraceContext::parse(text)?),
                None => None,
            },
        },
    };
    let spent = match header(headers, SPENT) {
        Some(n) => Some(
            n.parse()
                .map_err(|_| format!("header {SPENT} is not a number: {n}"))?,
        ),
        None => None,
    };
    Ok(Inbound {
        kind,
        host,
        message,
        correlation,
        timeout,
        spent,
    })
}

/// The acknowledgement of a delivery attempt, as a header value.
pub(crate) fn ack_value(result: &Result<(), MessagingError>) -> String {
    match result {
        Ok(()) => "ok".into(),
        Err(MessagingError::QueueFull) => "queue-full".into(),
        Err(MessagingError::TargetNotFound(_)) => "not-found".into(),
        Err(other) => format!("invalid: {other}"),
    }
}

/// An acknowledgement read back.
pub(crate) fn read_ack(
    headers: Option<&HeaderMap>,
    to: &ComponentId,
) -> Result<(), MessagingError> {
    let value = headers.and_then(|h| header(h, RESULT)).unwrap_or("");
    match value {
        "ok" => Ok(()),
        "queue-full" => Err(MessagingError::QueueFull),
        "not-found" => Err(MessagingError::TargetNotFound(to.clone())),
        other => Err(MessagingError::DeliveryFailed(format!(
            "the host of {to} refused the message: {other}"
        ))),
    }
}

/// The headers of an answer to request `correlation`.
pub(crate) fn answer_headers(correlation: &CorrelationId, error: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CORRELATION, correlation.as_str());
    if error {
        headers.insert(CONTENT_TYPE, ERROR_CONTENT_TYPE);
    }
    headers
}

/// An answer read back: the correlation id and the outcome.
pub(crate) fn read_answer(
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<(CorrelationId, Result<Vec<u8>, ErrorCallback>), String> {
    let headers = headers.ok_or("an answer without headers")?;
    let correlation = header(headers, CORRELATION)
        .map(CorrelationId::new)
        .ok_or_else(|| format!("an answer without {CORRELATION}"))?;
    let outcome = match header(headers, CONTENT_TYPE) {
        Some(ERROR_CONTENT_TYPE) => Err(ErrorCallback::parse(Some(ERROR_CONTENT_TYPE), payload)
            .ok_or_else(|| {
                format!(
                    "an error answer that is not an error callback: {}",
                    String::from_utf8_lossy(payload)
                )
            })?),
        _ => Ok(payload.to_vec()),
    };
    Ok((correlation, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> ComponentId {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_request_round_trips_through_headers() {
        let message = ComponentMessage {
            sender: id("a/b/1"),
            payload: b"hi".to_vec(),
            metadata: MessageMetadata {
                correlation_id: Some(CorrelationId::new("req-7")),
                content_type: Some("text/plain".into()),
                trace: Some(TraceContext::new_root()),
                ..MessageMetadata::default()
            },
        };
        let headers = message_headers(
            Kind::Request,
            "edge-1",
            &message,
            Some(Duration::from_millis(250)),
        );
        let inbound = read_inbound(Some(&headers), b"hi").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(inbound.kind, Kind::Request);
        assert_eq!(inbound.message.metadata.trace, message.metadata.trace);
        assert_eq!(inbound.host, "edge-1");
        assert_eq!(inbound.message.sender, id("a/b/1"));
        assert_eq!(inbound.correlation, Some(CorrelationId::new("req-7")));
        assert_eq!(inbound.timeout, Duration::from_millis(250));
        assert_eq!(
            inbound.message.metadata.content_type.as_deref(),
            Some("text/plain")
        );
    }

    #[test]
    fn malformed_messages_are_named() {
        let mut headers = HeaderMap::new();
        headers.insert(KIND, "request");
        headers.insert(HOST, "h");
        headers.insert(FROM, "not an id");
        let error = read_inbound(Some(&headers), b"").err().unwrap_or_default();
        assert!(error.contains(FROM), "{error}");
        headers.insert(FROM, "a/b/1");
        let error = read_inbound(Some(&headers), b"").err().unwrap_or_default();
        assert!(error.contains(CORRELATION), "{error}");
        assert!(read_inbound(None, b"").is_err());
    }

    #[test]
    fn acks_and_answers_round_trip() {
        let to = id("x/y/1");
        for result in [
            Ok(()),
            Err(MessagingError::QueueFull),
            Err(MessagingError::TargetNotFound(to.clone())),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(RESULT, ack_value(&result).as_str());
            assert_eq!(read_ack(Some(&headers), &to), result);
        }
        let error = ErrorCallback::TargetFailed("trap".into());
        let headers = answer_headers(&CorrelationId::new("req-1"), true);
        let (corr, outcome) =
            read_answer(Some(&headers), &error.to_payload()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(corr.as_str(), "req-1");
        assert_eq!(outcome, Err(error));
        let headers = answer_headers(&CorrelationId::new("req-2"), false);
        let (_, outcome) = read_answer(Some(&headers), b"pong").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcome, Ok(b"pong".to_vec()));
    }
}
