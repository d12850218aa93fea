use wasm_core::{
    ComponentId, ComponentMessage, CorrelationId, ErrorCallback, MessageMetadata, TraceContext,
};

use super::codec::Put;
use super::*;

fn id(text: &str) -> ComponentId {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

fn wire(payload: &str, request: bool) -> WireMsg {
    WireMsg {
        message: ComponentMessage {
            sender: id("a/b/1"),
            payload: payload.as_bytes().to_vec(),
            metadata: MessageMetadata {
                correlation_id: request.then(|| CorrelationId::new("req-7")),
                content_type: request.then(|| "text/plain".to_owned()),
                trace: request.then(TraceContext::new_root),
                ..MessageMetadata::default()
            },
        },
        deadline_ms: request.then_some(1_700_000_000_123),
    }
}

/// Compares what survives the wire (the receiver sets its own timestamp).
fn same(a: &WireMsg, b: &WireMsg) -> bool {
    let (x, y) = (&a.message, &b.message);
    x.sender == y.sender
        && x.payload == y.payload
        && x.metadata.correlation_id == y.metadata.correlation_id
        && x.metadata.content_type == y.metadata.content_type
        && x.metadata.trace == y.metadata.trace
        && a.deadline_ms == b.deadline_ms
}

#[test]
fn every_frame_round_trips_through_a_bundle() {
    let frames = vec![
        Frame::Ask {
            ask: 1,
            target: id("x/y/1"),
            epoch: 9,
            want: 256,
        },
        Frame::Grant {
            ask: 1,
            window: 4,
            limit: 64,
            epoch: 9,
        },
        Frame::Refuse {
            ask: 2,
            code: Code::Stale,
            epoch: 12,
            detail: "newer claim".into(),
        },
        Frame::Ack {
            window: 4,
            received: 10,
            done: 8,
            limit: 72,
        },
        Frame::More { window: 4 },
        Frame::Return {
            window: 4,
            last: 10,
        },
        Frame::Closed {
            window: 5,
            reason: "x/y/1 stopped".into(),
        },
        Frame::Answer {
            incarnation: u64::MAX,
            correlation: CorrelationId::new("req-3"),
            outcome: Ok(b"pong".to_vec()),
        },
        Frame::Answer {
            incarnation: 3,
            correlation: CorrelationId::new("req-4"),
            outcome: Err(ErrorCallback::TargetFailed("trap".into())),
        },
        Frame::Reserve {
            rid: 6,
            target: id("x/z/1"),
            epoch: 2,
        },
        Frame::Reserved {
            rid: 6,
            code: Code::QueueFull,
            epoch: 2,
            detail: String::new(),
        },
        Frame::Release { rid: 6 },
        Frame::FillDone { rid: 6 },
    ];
    let mut bundle = Bundle::new("edge-1", 0xfeed);
    assert!(bundle.is_empty());
    for frame in &frames {
        bundle.push(frame);
    }
    let received = decode(&bundle.take()).unwrap_or_else(|e| panic!("{e}"));
    assert!(bundle.is_empty());
    assert_eq!(
        (received.host.as_str(), received.incarnation),
        ("edge-1", 0xfeed)
    );
    let back: Vec<Frame> = received
        .frames
        .into_iter()
        .map(|f| f.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert_eq!(back, frames);
}

#[test]
fn messages_of_one_window_share_a_data_frame_and_a_fill_carries_one() {
    let mut bundle = Bundle::new("h", 1);
    let encoded = |w: &WireMsg| {
        let mut out = Vec::new();
        encode_message(&mut out, &w.message, w.deadline_ms);
        out
    };
    let (m1, m2, m3, m4) = (
        wire("1", false),
        wire("2", true),
        wire("3", false),
        wire("4", false),
    );
    let (x, y) = (id("x/y/1"), id("x/z/1"));
    bundle.push_message(7, &x, 1, &encoded(&m1));
    bundle.push_message(7, &x, 2, &encoded(&m2));
    // Another window, then the first again: three frames.
    bundle.push_message(8, &y, 1, &encoded(&m3));
    bundle.push_message(7, &x, 3, &encoded(&m4));
    bundle.push(&Frame::Fill {
        rid: 1,
        target: y.clone(),
        message: wire("5", false),
    });
    let received = decode(&bundle.take()).unwrap_or_else(|e| panic!("{e}"));
    let frames: Vec<Frame> = received.frames.into_iter().flatten().collect();
    assert_eq!(frames.len(), 4);
    match &frames[0] {
        Frame::Data {
            window: 7,
            target,
            first_seq: 1,
            messages,
        } if target == &x => {
            assert_eq!(messages.len(), 2);
            assert!(same(&messages[0], &m1) && same(&messages[1], &m2));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&frames[1], Frame::Data { window: 8, target, first_seq: 1, messages } if target == &y && messages.len() == 1)
    );
    assert!(
        matches!(&frames[2], Frame::Data { window: 7, target, first_seq: 3, messages } if target == &x && same(&messages[0], &m4))
    );
    assert!(
        matches!(&frames[3], Frame::Fill { rid: 1, target, message } if target == &y && same(message, &wire("5", false)))
    );
    let mut one = Vec::new();
    encode_message(&mut one, &m2.message, m2.deadline_ms);
    assert!(same(
        &decode_message(&one).unwrap_or_else(|e| panic!("{e}")),
        &m2
    ));
}

#[test]
fn a_bad_frame_is_named_and_the_others_are_still_read() {
    let mut bundle = Bundle::new("h", 1);
    bundle.push(&Frame::Release { rid: 1 });
    let mut bytes = bundle.take();
    // A frame whose target is not a component id, one of an unknown kind, then a good one.
    let mut bad = vec![ASK, 1];
    bad.put_str("not an id");
    bytes.put_u32(u32::try_from(bad.len()).unwrap_or(0));
    bytes.extend_from_slice(&bad);
    bytes.put_u32(1);
    bytes.push(200);
    let mut good = Bundle::new("h", 1);
    good.push(&Frame::FillDone { rid: 2 });
    bytes.extend_from_slice(&good.take()[good.header..]);
    let received = decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(received.frames.len(), 3);
    assert_eq!(received.frames[0], Ok(Frame::Release { rid: 1 }));
    let error = received.frames[1].clone().err().unwrap_or_default();
    assert!(error.contains("`target`"), "{error}");
    assert_eq!(received.frames[2], Ok(Frame::FillDone { rid: 2 }));
    assert!(decode(b"XX\x01").is_err());
}
