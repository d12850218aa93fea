//! A bundle being written: the header once, then frames, a window's messages appended to
//! one open `data` frame.

use wasm_core::ComponentId;

use super::body::encode_body;
use super::codec::Put;
use super::{DATA, Frame, MAGIC};

/// A bundle being written to one host incarnation. Messages of one window sent one after
/// the other go into one `data` frame.
#[derive(Debug)]
pub(crate) struct Bundle {
    buf: Vec<u8>,
    pub(super) header: usize,
    /// The `data` frame at the end of the buffer, if any, to which the next message of its
    /// window may be appended: its window, next sequence, and where its length and count are.
    open: Option<Open>,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    window: u64,
    next_seq: u64,
    len_at: usize,
    count_at: usize,
}

impl Bundle {
    /// An empty bundle from `host`'s incarnation `incarnation`.
    pub(crate) fn new(host: &str, incarnation: u64) -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(MAGIC);
        buf.put_str(host);
        buf.put_u64(incarnation);
        let header = buf.len();
        Self {
            buf,
            header,
            open: None,
        }
    }

    /// Whether no frame is in it.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.len() == self.header
    }

    /// Its size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    fn begin(&mut self) -> usize {
        let len_at = self.buf.len();
        self.buf.put_u32(0);
        len_at
    }

    fn end(&mut self, len_at: usize) {
        let len = u32::try_from(self.buf.len() - len_at - 4).unwrap_or(u32::MAX);
        self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    }

    /// Appends a frame.
    pub(crate) fn push(&mut self, frame: &Frame) {
        self.open = None;
        let len_at = self.begin();
        encode_body(&mut self.buf, frame);
        self.end(len_at);
    }

    /// Appends message `seq` of `window` (for `target`), already encoded
    /// ([`encode_message`]): to the `data` frame at the end if it is that window's and `seq`
    /// follows its last message, else in a new one.
    pub(crate) fn push_message(
        &mut self,
        window: u64,
        target: &ComponentId,
        seq: u64,
        encoded: &[u8],
    ) {
        let open = match self.open {
            Some(open) if open.window == window && open.next_seq == seq => open,
            _ => {
                let len_at = self.begin();
                self.buf.put_u8(DATA);
                self.buf.put_varint(window);
                self.buf.put_str(target.as_str());
                self.buf.put_varint(seq);
                let count_at = self.buf.len();
                self.buf.put_u32(0);
                Open {
                    window,
                    next_seq: seq,
                    len_at,
                    count_at,
                }
            }
        };
        self.buf.extend_from_slice(encoded);
        let at = open.count_at;
        let count = u32::from_le_bytes([
            self.buf[at],
            self.buf[at + 1],
            self.buf[at + 2],
            self.buf[at + 3],
        ]);
        self.buf[at..at + 4].copy_from_slice(&count.saturating_add(1).to_le_bytes());
        self.end(open.len_at);
        self.open = Some(Open {
            next_seq: seq + 1,
            ..open
        });
    }

    /// Takes the bytes out, leaving the bundle empty (same sender).
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.open = None;
        let header = self.buf[..self.header].to_vec();
        std::mem::replace(&mut self.buf, header)
    }
}
