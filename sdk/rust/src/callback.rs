//! What a callback says: the reply to a request, or why there is none.

use crate::{ComponentMessage, text};

/// The content type of an error callback (see `wit/component-lifecycle.wit`).
pub const ERROR_CONTENT_TYPE: &str = "application/vnd.airssys.error";

/// Why a request got no reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// No reply came before the request's deadline.
    Timeout,
    /// The target answered with an error; the detail is that error.
    ErrorReply,
    /// The target trapped or hit a limit while handling the request.
    TargetFailed,
    /// The target stopped before it handled the request.
    TargetStopped,
    /// The target went away after the request was accepted.
    TargetNotFound,
    /// A kind this SDK does not know (a newer host); the word as sent.
    Other(String),
}

impl ErrorKind {
    fn from_word(word: &str) -> Self {
        match word {
            "timeout" => Self::Timeout,
            "error-reply" => Self::ErrorReply,
            "target-failed" => Self::TargetFailed,
            "target-stopped" => Self::TargetStopped,
            "target-not-found" => Self::TargetNotFound,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// A callback, read: the reply to a request this component made, or an error callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// The target's reply.
    Reply {
        /// The id `request` returned.
        correlation_id: String,
        /// The reply's payload.
        payload: Vec<u8>,
    },
    /// No reply: why.
    Error {
        /// The id `request` returned.
        correlation_id: String,
        /// What happened.
        kind: ErrorKind,
        /// The detail after the kind (`""` if none).
        detail: String,
    },
}

impl Callback {
    /// Reads a callback message (its content type tells an error callback from a reply).
    pub fn of(message: &ComponentMessage) -> Self {
        let correlation_id = message.metadata.correlation_id.clone().unwrap_or_default();
        if message.metadata.content_type.as_deref() != Some(ERROR_CONTENT_TYPE) {
            return Self::Reply {
                correlation_id,
                payload: message.payload.clone(),
            };
        }
        let body = text(message);
        let (word, detail) = body.split_once(": ").unwrap_or((body.as_str(), ""));
        Self::Error {
            correlation_id,
            kind: ErrorKind::from_word(word.trim()),
            detail: detail.to_owned(),
        }
    }

    /// The correlation id it answers.
    pub fn correlation_id(&self) -> &str {
        match self {
            Self::Reply { correlation_id, .. } | Self::Error { correlation_id, .. } => {
                correlation_id
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::airssys::core::types::Timestamp;
    use crate::{ComponentId, MessageMetadata};

    fn message(payload: &str, content_type: Option<&str>) -> ComponentMessage {
        ComponentMessage {
            sender: ComponentId {
                namespace: "a".into(),
                name: "b".into(),
                instance: "1".into(),
            },
            payload: payload.as_bytes().to_vec(),
            metadata: MessageMetadata {
                correlation_id: Some("c-7".into()),
                reply_to: None,
                timestamp: Timestamp {
                    seconds: 0,
                    nanoseconds: 0,
                },
                content_type: content_type.map(str::to_owned),
            },
        }
    }

    #[test]
    fn a_reply_and_each_error_callback_are_told_apart() {
        assert_eq!(
            Callback::of(&message("cents=250", None)),
            Callback::Reply {
                correlation_id: "c-7".into(),
                payload: b"cents=250".to_vec()
            }
        );
        let error = Callback::of(&message(
            "target-failed: a/b/1: `handle-message` trapped",
            Some(ERROR_CONTENT_TYPE),
        ));
        assert_eq!(
            error,
            Callback::Error {
                correlation_id: "c-7".into(),
                kind: ErrorKind::TargetFailed,
                detail: "a/b/1: `handle-message` trapped".into()
            }
        );
        let timeout = Callback::of(&message("timeout", Some(ERROR_CONTENT_TYPE)));
        assert!(matches!(
            timeout,
            Callback::Error { kind: ErrorKind::Timeout, ref detail, .. } if detail.is_empty()
        ));
        assert_eq!(timeout.correlation_id(), "c-7");
        // A reply that merely looks like an error text is still a reply.
        assert!(matches!(
            Callback::of(&message("timeout", None)),
            Callback::Reply { .. }
        ));
    }
}
