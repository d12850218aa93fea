//! What travels between hosts: a bundle (one NATS message to one host incarnation's inbox)
//! carries the sender's host name and incarnation once, then frames, each prefixed with its
//! length. A `data` frame carries a run of messages of one window of credit, so a busy
//! sender puts many messages in one NATS message. Integers are varints; text and bytes are
//! length-prefixed. A frame of a kind this host does not know is skipped.

mod body;
mod bundle;
mod codec;
mod message;

use wasm_core::{ComponentId, ComponentMessage, CorrelationId, ErrorCallback};

pub(crate) use body::{Received, decode};
pub(crate) use bundle::Bundle;
pub(crate) use message::{decode_message, encode_message};

/// The first bytes of every bundle: the format and its version.
const MAGIC: &[u8; 3] = b"AW\x01";

/// The answer to an `ask` or a `reserve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    Ok,
    /// The target does not run on that host (any more).
    NotFound,
    /// Its mailbox has no room, or all the credit it may give is given.
    QueueFull,
    /// The target runs there under a newer claim than the one the sender addressed.
    Stale,
    /// The request was malformed or refused (the detail says why).
    Invalid,
}

impl Code {
    fn byte(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::NotFound => 1,
            Self::QueueFull => 2,
            Self::Stale => 3,
            Self::Invalid => 4,
        }
    }

    fn of(byte: u8) -> Self {
        match byte {
            0 => Self::Ok,
            1 => Self::NotFound,
            2 => Self::QueueFull,
            3 => Self::Stale,
            _ => Self::Invalid,
        }
    }
}

/// One message on the wire; a request carries its correlation id and its requester's
/// deadline (milliseconds since the Unix epoch, on the requester's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireMsg {
    pub(crate) message: ComponentMessage,
    pub(crate) deadline_ms: Option<u64>,
}

/// Every kind of frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A sender asks for a window of credit for `target` (whose claim it knows as `epoch`).
    Ask {
        ask: u64,
        target: ComponentId,
        epoch: u64,
        want: u64,
    },
    /// The window granted for `ask`: messages up to sequence `limit` may be sent on it.
    Grant {
        ask: u64,
        window: u64,
        limit: u64,
        epoch: u64,
    },
    /// `ask` refused; with `Stale`, `epoch` is the target's current claim.
    Refuse {
        ask: u64,
        code: Code,
        epoch: u64,
        detail: String,
    },
    /// Messages `first_seq`, `first_seq + 1`, ... of a window, for `target`.
    Data {
        window: u64,
        target: ComponentId,
        first_seq: u64,
        messages: Vec<WireMsg>,
    },
    /// The window's receiver has every message up to `received`, is done with the first
    /// `done`, and lets the sender go up to `limit`.
    Ack {
        window: u64,
        received: u64,
        done: u64,
        limit: u64,
    },
    /// The sender wants more room on the window (it has used much of it, or all).
    More { window: u64 },
    /// The sender gives the window back after message `last`.
    Return { window: u64, last: u64 },
    /// The receiver closed the window (its target stopped, or it lay unused too long):
    /// later messages on it are reported as dead letters there.
    Closed { window: u64, reason: String },
    /// The answer to request `correlation` made by incarnation `incarnation` of the host
    /// this bundle goes to.
    Answer {
        incarnation: u64,
        correlation: CorrelationId,
        outcome: Result<Vec<u8>, ErrorCallback>,
    },
    /// Hold one slot in the mailbox of `target` (the first half of a broadcast).
    Reserve {
        rid: u64,
        target: ComponentId,
        epoch: u64,
    },
    /// The hold `rid` made, or why not.
    Reserved {
        rid: u64,
        code: Code,
        epoch: u64,
        detail: String,
    },
    /// The message for hold `rid`, for `target`.
    Fill {
        rid: u64,
        target: ComponentId,
        message: WireMsg,
    },
    /// Give hold `rid` back unused.
    Release { rid: u64 },
    /// The receiver is done with the message of hold `rid`.
    FillDone { rid: u64 },
}

const ASK: u8 = 1;
const GRANT: u8 = 2;
const REFUSE: u8 = 3;
const DATA: u8 = 4;
const ACK: u8 = 5;
const RETURN: u8 = 6;
const CLOSED: u8 = 7;
const ANSWER: u8 = 8;
const RESERVE: u8 = 9;
const RESERVED: u8 = 10;
const FILL: u8 = 11;
const RELEASE: u8 = 12;
const FILL_DONE: u8 = 13;
const MORE: u8 = 14;

#[cfg(test)]
mod tests;
