//! NATS subjects of a cluster, with every name escaped so that no `.`, `*`, `>` or white
//! space from an id, a host or a cluster name reaches a subject.

use wasm_core::ComponentId;

/// Escapes `text` into one subject token: ASCII letters, digits and `-` stay, every other
/// byte becomes `_` and two hex digits (`.` is `_2E`, `_` is `_5F`). The mapping is one to one.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            out.push(char::from(byte));
        } else {
            out.push('_');
            out.push(hex(byte >> 4));
            out.push(hex(byte & 0xf));
        }
    }
    out
}

fn hex(nibble: u8) -> char {
    char::from(b"0123456789ABCDEF"[usize::from(nibble & 0xf)])
}

/// The subjects one host uses in one cluster.
#[derive(Debug, Clone)]
pub(crate) struct Subjects {
    /// `airssys.<cluster>`: every subject of the cluster starts with it.
    root: String,
    /// This host's answer subject.
    answers: String,
}

impl Subjects {
    pub(crate) fn new(cluster: &str, host: &str) -> Self {
        let root = format!("airssys.{}", escape(cluster));
        let answers = format!("{root}.a.{}", escape(host));
        Self { root, answers }
    }

    /// Where messages for component `id` go: `<root>.c.<namespace>.<name>.<instance>`.
    pub(crate) fn component(&self, id: &ComponentId) -> String {
        format!(
            "{}.c.{}.{}.{}",
            self.root,
            escape(id.namespace()),
            escape(id.name()),
            escape(id.instance())
        )
    }

    /// Where the answers to this host's requests go.
    pub(crate) fn answers(&self) -> &str {
        &self.answers
    }

    /// Where the answers to `host`'s requests go.
    pub(crate) fn answers_of(&self, host: &str) -> String {
        format!("{}.a.{}", self.root, escape(host))
    }

    /// Where `host` publishes its heartbeats.
    pub(crate) fn heartbeat(&self, host: &str) -> String {
        format!("{}.hb.{}", self.root, escape(host))
    }

    /// A subject nobody serves: a request to it comes back ("no responders") only once the
    /// server has taken everything this connection sent before it.
    pub(crate) fn sync(&self, host: &str) -> String {
        format!("{}.sync.{}", self.root, escape(host))
    }

    /// Every host's heartbeats.
    pub(crate) fn heartbeats(&self) -> String {
        format!("{}.hb.*", self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_subject_metacharacter_survives_escaping() {
        for text in ["a.b", "a*b", "a>b", "a b", "a\tb", "a_b", "é"] {
            let escaped = escape(text);
            assert!(
                escaped
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{text} -> {escaped}"
            );
        }
        assert_eq!(escape("orders.v2"), "orders_2Ev2");
        assert_eq!(escape("a_2Eb"), "a_5F2Eb");
        assert_ne!(escape("a.b"), escape("a_2Eb"));
    }

    #[test]
    fn component_subjects_have_one_token_per_segment() -> Result<(), Box<dyn std::error::Error>> {
        let subjects = Subjects::new("orders", "edge-1");
        let id: ComponentId = "ns.x/name_y/1".parse()?;
        assert_eq!(
            subjects.component(&id),
            "airssys.orders.c.ns_2Ex.name_5Fy.1"
        );
        assert_eq!(subjects.answers(), "airssys.orders.a.edge-1");
        assert_eq!(subjects.heartbeats(), "airssys.orders.hb.*");
        Ok(())
    }
}
