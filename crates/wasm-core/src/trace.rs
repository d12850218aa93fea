//! W3C trace context (`traceparent`), carried by messages so the requests one request causes
//! can be followed across components and hosts.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// One position in a trace: the trace's id and the id of the span that sent the message
/// (the `traceparent` header of the W3C Trace Context recommendation, version `00`).
///
/// # Examples
///
/// ```
/// use wasm_core::TraceContext;
///
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let parent: TraceContext = header.parse()?;
/// assert_eq!(parent.to_string(), header);
/// let child = parent.child();
/// assert_eq!(child.trace_id(), parent.trace_id());
/// assert_ne!(child.span_id(), parent.span_id());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    flags: u8,
}

impl TraceContext {
    /// Reads a `traceparent` value: `00-<32 hex>-<16 hex>-<2 hex>`, ids not all zero.
    ///
    /// # Errors
    ///
    /// A message naming what is wrong with the value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("traceparent `{text}` is not valid: {why}");
        let parts: Vec<&str> = text.trim().split('-').collect();
        let [version, trace, span, flags] = parts.as_slice() else {
            return Err(bad("it has not four `-`-separated fields"));
        };
        let hex = |field: &str, len: usize, name: &str| {
            if field.len() != len || !field.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(&format!("the {name} is not {len} hex digits")));
            }
            u128::from_str_radix(field, 16).map_err(|e| bad(&e.to_string()))
        };
        if hex(version, 2, "version")? == 0xff {
            return Err(bad("version ff is forbidden"));
        }
        let trace_id = hex(trace, 32, "trace id")?;
        let span_id =
            u64::try_from(hex(span, 16, "parent id")?).map_err(|e| bad(&e.to_string()))?;
        let flags = u8::try_from(hex(flags, 2, "flags")?).map_err(|e| bad(&e.to_string()))?;
        if trace_id == 0 || span_id == 0 {
            return Err(bad("an all-zero id is invalid"));
        }
        Ok(Self {
            trace_id,
            span_id,
            flags,
        })
    }

    /// A new trace, sampled, with a fresh span id.
    pub fn new_root() -> Self {
        let high = u128::from(fresh_id());
        Self {
            trace_id: (high << 64) | u128::from(fresh_id()),
            span_id: fresh_id(),
            flags: 1,
        }
    }

    /// The same trace with a fresh span id: the context of a span whose parent is `self`.
    pub fn child(&self) -> Self {
        Self {
            span_id: fresh_id(),
            ..*self
        }
    }

    /// The same trace with the span id `span_id` (one another tracing system gave the span);
    /// `self` if it is 0, which is no span id.
    pub fn with_span_id(&self, span_id: u64) -> Self {
        if span_id == 0 {
            return *self;
        }
        Self { span_id, ..*self }
    }

    /// The trace's id.
    pub fn trace_id(&self) -> u128 {
        self.trace_id
    }

    /// The span's id.
    pub fn span_id(&self) -> u64 {
        self.span_id
    }

    /// Whether the trace is sampled (flag `01`).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace id as 32 hex digits.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id as 16 hex digits.
    pub fn span_id_hex(&self) -> String {
        format!("{:016x}", self.span_id)
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.span_id, self.flags
        )
    }
}

impl FromStr for TraceContext {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

/// A non-zero id, unique within the process and unpredictable across processes: a counter
/// through a hasher seeded once per process (ids need uniqueness, not secrecy).
fn fresh_id() -> u64 {
    static SEED: OnceLock<RandomState> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut hasher = SEED.get_or_init(RandomState::new).build_hasher();
    hasher.write_u64(n);
    hasher.finish().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_values_are_refused_with_the_reason() {
        for (text, why) in [
            ("00-abc", "four"),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
                "trace id",
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "all-zero",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "all-zero",
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "ff",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
                "parent id",
            ),
        ] {
            match TraceContext::parse(text) {
                Err(e) => assert!(e.contains(why), "{text}: {e}"),
                Ok(t) => panic!("{text} was accepted as {t}"),
            }
        }
    }

    #[test]
    fn roots_and_children_keep_their_trace() {
        let root = TraceContext::new_root();
        assert!(root.sampled());
        let child = root.child();
        assert_eq!(child.trace_id(), root.trace_id());
        assert_ne!(child.span_id(), root.span_id());
        let again: TraceContext = child.to_string().parse().unwrap_or(root);
        assert_eq!(again, child);
    }
}
