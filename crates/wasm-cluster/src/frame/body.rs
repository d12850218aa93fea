//! Each frame's body, written and read, and a whole bundle read back.

use wasm_core::{ComponentId, CorrelationId, ERROR_CONTENT_TYPE, ErrorCallback};

use super::codec::{Put, ReadError, Reader};
use super::message::{Arrival, encode_message, read_message};
use super::{
    ACK, ANSWER, ASK, CLOSED, Code, DATA, FILL, FILL_DONE, Frame, GRANT, MAGIC, MORE, REFUSE,
    RELEASE, RESERVE, RESERVED, RETURN,
};

pub(super) fn encode_body(out: &mut Vec<u8>, frame: &Frame) {
    match frame {
        Frame::Ask {
            ask,
            target,
            epoch,
            want,
        } => {
            out.put_u8(ASK);
            out.put_varint(*ask);
            out.put_str(target.as_str());
            out.put_varint(*epoch);
            out.put_varint(*want);
        }
        Frame::Grant {
            ask,
            window,
            limit,
            epoch,
        } => {
            out.put_u8(GRANT);
            out.put_varint(*ask);
            out.put_varint(*window);
            out.put_varint(*limit);
            out.put_varint(*epoch);
        }
        Frame::Refuse {
            ask,
            code,
            epoch,
            detail,
        } => {
            out.put_u8(REFUSE);
            out.put_varint(*ask);
            out.put_u8(code.byte());
            out.put_varint(*epoch);
            out.put_str(detail);
        }
        Frame::Data {
            window,
            target,
            first_seq,
            messages,
        } => {
            out.put_u8(DATA);
            out.put_varint(*window);
            out.put_str(target.as_str());
            out.put_varint(*first_seq);
            out.put_u32(u32::try_from(messages.len()).unwrap_or(u32::MAX));
            for wire in messages {
                encode_message(out, &wire.message, wire.deadline_ms);
            }
        }
        Frame::Ack {
            window,
            received,
            done,
            limit,
        } => {
            out.put_u8(ACK);
            for n in [*window, *received, *done, *limit] {
                out.put_varint(n);
            }
        }
        Frame::More { window } => {
            out.put_u8(MORE);
            out.put_varint(*window);
        }
        Frame::Return { window, last } => {
            out.put_u8(RETURN);
            out.put_varint(*window);
            out.put_varint(*last);
        }
        Frame::Closed { window, reason } => {
            out.put_u8(CLOSED);
            out.put_varint(*window);
            out.put_str(reason);
        }
        Frame::Answer {
            incarnation,
            correlation,
            outcome,
        } => {
            out.put_u8(ANSWER);
            out.put_varint(*incarnation);
            out.put_str(correlation.as_str());
            match outcome {
                Ok(payload) => {
                    out.put_u8(0);
                    out.put_bytes(payload);
                }
                Err(error) => {
                    out.put_u8(1);
                    out.put_bytes(&error.to_payload());
                }
            }
        }
        Frame::Reserve { rid, target, epoch } => {
            out.put_u8(RESERVE);
            out.put_varint(*rid);
            out.put_str(target.as_str());
            out.put_varint(*epoch);
        }
        Frame::Reserved {
            rid,
            code,
            epoch,
            detail,
        } => {
            out.put_u8(RESERVED);
            out.put_varint(*rid);
            out.put_u8(code.byte());
            out.put_varint(*epoch);
            out.put_str(detail);
        }
        Frame::Fill {
            rid,
            target,
            message,
        } => {
            out.put_u8(FILL);
            out.put_varint(*rid);
            out.put_str(target.as_str());
            encode_message(out, &message.message, message.deadline_ms);
        }
        Frame::Release { rid } => {
            out.put_u8(RELEASE);
            out.put_varint(*rid);
        }
        Frame::FillDone { rid } => {
            out.put_u8(FILL_DONE);
            out.put_varint(*rid);
        }
    }
}

fn id(reader: &mut Reader<'_>, field: &str) -> Result<ComponentId, ReadError> {
    reader
        .str(field)?
        .parse()
        .map_err(|e| format!("`{field}` is not a component id: {e}"))
}

/// Decodes one frame; `Ok(None)` for a kind this host does not know.
fn decode_body(reader: &mut Reader<'_>, arrival: &mut Arrival) -> Result<Option<Frame>, ReadError> {
    let frame = match reader.u8("frame kind")? {
        ASK => Frame::Ask {
            ask: reader.varint("ask")?,
            target: id(reader, "target")?,
            epoch: reader.varint("epoch")?,
            want: reader.varint("want")?,
        },
        GRANT => Frame::Grant {
            ask: reader.varint("ask")?,
            window: reader.varint("window")?,
            limit: reader.varint("limit")?,
            epoch: reader.varint("epoch")?,
        },
        REFUSE => Frame::Refuse {
            ask: reader.varint("ask")?,
            code: Code::of(reader.u8("code")?),
            epoch: reader.varint("epoch")?,
            detail: reader.str("detail")?.to_owned(),
        },
        DATA => {
            let window = reader.varint("window")?;
            let target = id(reader, "target")?;
            let first_seq = reader.varint("first sequence")?;
            let count = reader.u32("message count")?;
            let mut messages = Vec::with_capacity(usize::try_from(count.min(4096)).unwrap_or(0));
            for _ in 0..count {
                messages.push(read_message(reader, arrival)?);
            }
            Frame::Data {
                window,
                target,
                first_seq,
                messages,
            }
        }
        ACK => Frame::Ack {
            window: reader.varint("window")?,
            received: reader.varint("received")?,
            done: reader.varint("done")?,
            limit: reader.varint("limit")?,
        },
        MORE => Frame::More {
            window: reader.varint("window")?,
        },
        RETURN => Frame::Return {
            window: reader.varint("window")?,
            last: reader.varint("last")?,
        },
        CLOSED => Frame::Closed {
            window: reader.varint("window")?,
            reason: reader.str("reason")?.to_owned(),
        },
        ANSWER => {
            let incarnation = reader.varint("incarnation")?;
            let correlation = CorrelationId::new(reader.str("correlation id")?);
            let error = reader.u8("answer kind")? != 0;
            let payload = reader.bytes("answer")?;
            let outcome = if error {
                Err(
                    ErrorCallback::parse(Some(ERROR_CONTENT_TYPE), payload).ok_or_else(|| {
                        format!(
                            "an error answer that is not an error callback: {}",
                            String::from_utf8_lossy(payload)
                        )
                    })?,
                )
            } else {
                Ok(payload.to_vec())
            };
            Frame::Answer {
                incarnation,
                correlation,
                outcome,
            }
        }
        RESERVE => Frame::Reserve {
            rid: reader.varint("hold")?,
            target: id(reader, "target")?,
            epoch: reader.varint("epoch")?,
        },
        RESERVED => Frame::Reserved {
            rid: reader.varint("hold")?,
            code: Code::of(reader.u8("code")?),
            epoch: reader.varint("epoch")?,
            detail: reader.str("detail")?.to_owned(),
        },
        FILL => Frame::Fill {
            rid: reader.varint("hold")?,
            target: id(reader, "target")?,
            message: read_message(reader, arrival)?,
        },
        RELEASE => Frame::Release {
            rid: reader.varint("hold")?,
        },
        FILL_DONE => Frame::FillDone {
            rid: reader.varint("hold")?,
        },
        _ => return Ok(None),
    };
    Ok(Some(frame))
}

/// A bundle read back: who sent it, and its frames (each decoded, or why not).
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) host: String,
    pub(crate) incarnation: u64,
    pub(crate) frames: Vec<Result<Frame, ReadError>>,
}

/// Reads a bundle. A frame that cannot be read is returned as its error and the others are
/// still read (each frame has its own length); a header that cannot be read fails the whole.
pub(crate) fn decode(bytes: &[u8]) -> Result<Received, ReadError> {
    let mut reader = Reader::new(bytes);
    let magic = [
        reader.u8("magic")?,
        reader.u8("magic")?,
        reader.u8("version")?,
    ];
    if &magic != MAGIC {
        return Err(format!("not a cluster bundle (it starts {magic:?})"));
    }
    let host = reader.str("sending host")?.to_owned();
    let incarnation = reader.u64("sending incarnation")?;
    let mut frames = Vec::new();
    let mut arrival = Arrival::now();
    while !reader.is_empty() {
        let mut frame = reader.frame()?;
        match decode_body(&mut frame, &mut arrival) {
            Ok(Some(decoded)) => frames.push(Ok(decoded)),
            Ok(None) => tracing::debug!(%host, "a frame of an unknown kind skipped"),
            Err(error) => frames.push(Err(error)),
        }
    }
    Ok(Received {
        host,
        incarnation,
        frames,
    })
}
