//! Messages, their metadata, correlation ids and the error-callback format.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::id::ComponentId;

/// An opaque message body. The host never looks inside it.
pub type MessagePayload = Vec<u8>;

/// The content type that marks an error callback (see [`ErrorCallback`]).
pub const ERROR_CONTENT_TYPE: &str = "application/vnd.airssys.error";

/// Identifies one request and the one callback that answers it. Unique within a host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrelationId(String);

impl CorrelationId {
    /// Wraps a correlation id text.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The text of the id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps the text of the id.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Wall-clock time since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Whole seconds since the epoch.
    pub seconds: u64,
    /// Nanoseconds within the second, below 1e9.
    pub nanoseconds: u32,
}

impl Timestamp {
    /// The current wall-clock time (the epoch itself if the system clock is set before it).
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(&self) -> u64 {
        self.seconds
            .saturating_mul(1000)
            .saturating_add(u64::from(self.nanoseconds / 1_000_000))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Self {
            seconds: since.as_secs(),
            nanoseconds: since.subsec_nanos(),
        }
    }
}

/// What the host knows about a message besides its payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageMetadata {
    /// Set on a request (as the target sees it) and on the callback that answers it.
    pub correlation_id: Option<CorrelationId>,
    /// The requester, on a request.
    pub reply_to: Option<ComponentId>,
    /// When the host accepted the message.
    pub timestamp: Timestamp,
    /// Chosen by the sender; [`ERROR_CONTENT_TYPE`] on an error callback.
    pub content_type: Option<String>,
    /// The trace the message belongs to, with the span that sent it, when it was caused
    /// by a traced request (not seen by the component).
    pub trace: Option<crate::TraceContext>,
}

/// A message as a component receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentMessage {
    /// Who sent it. For messages from the embedding host, the host's own id.
    pub sender: ComponentId,
    /// The body.
    pub payload: MessagePayload,
    /// Correlation, reply address, time and content type.
    pub metadata: MessageMetadata,
}

/// Why a request was answered with an error callback instead of a reply.
///
/// The callback's content type is [`ERROR_CONTENT_TYPE`] and its payload is the UTF-8 text of
/// [`ErrorCallback::to_payload`]: `<kind>` or `<kind>: <detail>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCallback {
    /// No reply came before the request's deadline.
    Timeout,
    /// The target's `handle-message` returned an error; the detail is that error.
    ErrorReply(String),
    /// The target trapped or hit a limit while handling the request.
    TargetFailed(String),
    /// The target stopped before it handled the request.
    TargetStopped,
    /// The target went away after the request was accepted.
    TargetNotFound(ComponentId),
}

impl ErrorCallback {
    /// The `<kind>` word of the payload.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::ErrorReply(_) => "error-reply",
            Self::TargetFailed(_) => "target-failed",
            Self::TargetStopped => "target-stopped",
            Self::TargetNotFound(_) => "target-not-found",
        }
    }

    /// The payload text of the error callback.
    pub fn to_payload(&self) -> MessagePayload {
        match self {
            Self::Timeout | Self::TargetStopped => self.kind().as_bytes().to_vec(),
            Self::ErrorReply(detail) | Self::TargetFailed(detail) => {
                format!("{}: {detail}", self.kind()).into_bytes()
            }
            Self::TargetNotFound(id) => format!("{}: {id}", self.kind()).into_bytes(),
        }
    }

    /// Reads an error callback back from its content type and payload; `None` if the message
    /// is not an error callback or its payload is not in the documented form.
    pub fn parse(content_type: Option<&str>, payload: &[u8]) -> Option<Self> {
        if content_type != Some(ERROR_CONTENT_TYPE) {
            return None;
        }
        let text = std::str::from_utf8(payload).ok()?;
        let (kind, detail) = match text.split_once(": ") {
            Some((kind, detail)) => (kind, Some(detail)),
            None => (text, None),
        };
        match (kind, detail) {
            ("timeout", None) => Some(Self::Timeout),
            ("target-stopped", None) => Some(Self::TargetStopped),
            ("error-reply", Some(d)) => Some(Self::ErrorReply(d.to_owned())),
            ("target-failed", Some(d)) => Some(Self::TargetFailed(d.to_owned())),
            ("target-not-found", Some(d)) => d.parse().ok().map(Self::TargetNotFound),
            _ => None,
        }
    }
}

impl fmt::Display for ErrorCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_payload()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_callbacks_round_trip_through_their_payload() -> crate::Result<()> {
        let cases = [
            ErrorCallback::Timeout,
            ErrorCallback::TargetStopped,
            ErrorCallback::ErrorReply("runtime-error(\"bad: input\")".into()),
            ErrorCallback::TargetFailed("trap: unreachable".into()),
            ErrorCallback::TargetNotFound("a/b/c".parse()?),
        ];
        for case in cases {
            let payload = case.to_payload();
            assert_eq!(
                ErrorCallback::parse(Some(ERROR_CONTENT_TYPE), &payload),
                Some(case.clone())
            );
            assert!(String::from_utf8_lossy(&payload).starts_with(case.kind()));
        }
        Ok(())
    }

    #[test]
    fn plain_replies_are_not_error_callbacks() {
        assert_eq!(ErrorCallback::parse(None, b"timeout"), None);
        assert_eq!(ErrorCallback::parse(Some("text/plain"), b"timeout"), None);
        assert_eq!(
            ErrorCallback::parse(Some(ERROR_CONTENT_TYPE), b"weird"),
            None
        );
        assert_eq!(
            ErrorCallback::parse(Some(ERROR_CONTENT_TYPE), &[0xff]),
            None
        );
    }

    #[test]
    fn timestamp_converts_to_millis() {
        let t = Timestamp {
            seconds: 3,
            nanoseconds: 250_000_000,
        };
        assert_eq!(t.as_millis(), 3250);
        let epoch = Timestamp::from(UNIX_EPOCH);
        assert_eq!(epoch, Timestamp::default());
        assert!(Timestamp::now() > epoch);
    }
}
