//! One message's wire form, in a `data` frame or a `fill`: flags, sender, the request's
//! correlation id and deadline, content type, trace context, payload.

use wasm_core::{
    ComponentId, ComponentMessage, CorrelationId, MessageMetadata, Timestamp, TraceContext,
};

use super::WireMsg;
use super::codec::{Put, ReadError, Reader};

/// Message flags.
const REQUEST: u8 = 1;
const CONTENT_TYPE: u8 = 2;
const TRACE: u8 = 4;

/// The wire form of one message (appended to a `data` frame, or in a `fill`).
pub(crate) fn encode_message(
    out: &mut Vec<u8>,
    message: &ComponentMessage,
    deadline_ms: Option<u64>,
) {
    let metadata = &message.metadata;
    let request = match (&metadata.correlation_id, deadline_ms) {
        (Some(correlation), Some(deadline)) => Some((correlation, deadline)),
        _ => None,
    };
    let mut flags = 0;
    if request.is_some() {
        flags |= REQUEST;
    }
    if metadata.content_type.is_some() {
        flags |= CONTENT_TYPE;
    }
    if metadata.trace.is_some() {
        flags |= TRACE;
    }
    out.put_u8(flags);
    out.put_str(message.sender.as_str());
    if let Some((correlation, deadline)) = request {
        out.put_str(correlation.as_str());
        out.put_varint(deadline);
    }
    if let Some(content_type) = &metadata.content_type {
        out.put_str(content_type);
    }
    if let Some(trace) = &metadata.trace {
        out.put_str(&trace.to_string());
    }
    out.put_bytes(&message.payload);
}

/// What the messages of one bundle share while they are read: when they arrived, and the
/// last sender (a run of messages usually has one).
#[derive(Debug)]
pub(super) struct Arrival {
    at: Timestamp,
    sender: Option<ComponentId>,
}

impl Arrival {
    pub(super) fn now() -> Self {
        Self {
            at: Timestamp::now(),
            sender: None,
        }
    }

    fn sender(&mut self, text: &str) -> Result<ComponentId, ReadError> {
        if let Some(last) = &self.sender
            && last.as_str() == text
        {
            return Ok(last.clone());
        }
        let sender: ComponentId = text
            .parse()
            .map_err(|e| format!("`sender` is not a component id: {e}"))?;
        self.sender = Some(sender.clone());
        Ok(sender)
    }
}

pub(super) fn read_message(
    reader: &mut Reader<'_>,
    arrival: &mut Arrival,
) -> Result<WireMsg, ReadError> {
    let flags = reader.u8("message flags")?;
    let sender = arrival.sender(reader.str("sender")?)?;
    let (correlation_id, deadline_ms) = if flags & REQUEST != 0 {
        let correlation = CorrelationId::new(reader.str("correlation id")?);
        (Some(correlation), Some(reader.varint("deadline")?))
    } else {
        (None, None)
    };
    let content_type = if flags & CONTENT_TYPE != 0 {
        Some(reader.str("content type")?.to_owned())
    } else {
        None
    };
    let trace = if flags & TRACE != 0 {
        Some(TraceContext::parse(reader.str("traceparent")?)?)
    } else {
        None
    };
    let payload = reader.bytes("payload")?.to_vec();
    Ok(WireMsg {
        message: ComponentMessage {
            sender,
            payload,
            metadata: MessageMetadata {
                correlation_id,
                reply_to: None,
                timestamp: arrival.at,
                content_type,
                trace,
            },
        },
        deadline_ms,
    })
}

/// Decodes one message encoded by [`encode_message`] (to report it as a dead letter).
pub(crate) fn decode_message(bytes: &[u8]) -> Result<WireMsg, ReadError> {
    read_message(&mut Reader::new(bytes), &mut Arrival::now())
}
