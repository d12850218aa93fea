//! NATS subjects, JetStream bucket names and keys of a cluster, with every name escaped so
//! that no `.`, `*`, `>` or white space from an id, a host or a cluster name reaches them.

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

/// Reverses [`escape`]; `None` for text `escape` never makes.
pub(crate) fn unescape(token: &str) -> Option<String> {
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => {
                let digits = token.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(digits, 16).ok()?);
                i += 3;
            }
            byte if byte.is_ascii_alphanumeric() || byte == b'-' => {
                out.push(byte);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// The names one cluster uses.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// `airssys.<cluster>`: every subject of the cluster starts with it.
    root: String,
    cluster: String,
}

impl Names {
    pub(crate) fn new(cluster: &str) -> Self {
        Self {
            root: format!("airssys.{}", escape(cluster)),
            cluster: escape(cluster),
        }
    }

    /// The inbox of one incarnation of a host: `<root>.h.<host>.<incarnation>`. Everything
    /// addressed to that process comes here, and nothing meant for another incarnation.
    pub(crate) fn inbox(&self, host: &str, incarnation: u64) -> String {
        format!("{}.h.{}.{incarnation:016x}", self.root, escape(host))
    }

    /// A subject nobody serves: a request to it comes back ("no responders") only once the
    /// server has taken everything this connection sent before it.
    pub(crate) fn sync(&self, host: &str) -> String {
        format!("{}.sync.{}", self.root, escape(host))
    }

    /// The object store of deployed code, each object named by its SHA-256.
    pub(crate) fn code_bucket(&self) -> String {
        format!("airssys_{}_code", self.cluster)
    }

    /// The bucket of deployed applications: name to record.
    pub(crate) fn apps_bucket(&self) -> String {
        format!("airssys_{}_apps", self.cluster)
    }

    /// The bucket of host leases: host name to its live incarnation.
    pub(crate) fn hosts_bucket(&self) -> String {
        format!("airssys_{}_hosts", self.cluster)
    }

    /// The bucket of ownership: component id to the incarnation of the host that runs it.
    pub(crate) fn owners_bucket(&self) -> String {
        format!("airssys_{}_owners", self.cluster)
    }

    /// The stream of component storage kept by the cluster.
    pub(crate) fn state_stream(&self) -> String {
        format!("airssys_{}_state", self.cluster)
    }

    /// The subjects of that stream.
    pub(crate) fn state_subjects(&self) -> String {
        format!("{}.state.>", self.root)
    }

    /// The subject of one component's storage: its snapshot and the write sets since.
    pub(crate) fn state_of(&self, id: &ComponentId) -> String {
        format!("{}.state.{}", self.root, owner_key(id))
    }
}

/// The key of a host in the hosts bucket.
pub(crate) fn host_key(host: &str) -> String {
    escape(host)
}

/// The key of a component in the owners bucket: `<namespace>.<name>.<instance>`, escaped.
pub(crate) fn owner_key(id: &ComponentId) -> String {
    format!(
        "{}.{}.{}",
        escape(id.namespace()),
        escape(id.name()),
        escape(id.instance())
    )
}

/// The component id of an owners-bucket key; `None` for a key [`owner_key`] never makes.
pub(crate) fn id_of_owner_key(key: &str) -> Option<ComponentId> {
    let mut parts = key.split('.');
    let (namespace, name, instance) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    ComponentId::new(unescape(namespace)?, unescape(name)?, unescape(instance)?).ok()
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
            assert_eq!(unescape(&escaped).as_deref(), Some(text));
        }
        assert_eq!(escape("orders.v2"), "orders_2Ev2");
        assert_eq!(escape("a_2Eb"), "a_5F2Eb");
        assert_ne!(escape("a.b"), escape("a_2Eb"));
        assert_eq!(unescape("a_2"), None);
        assert_eq!(unescape("a.b"), None);
    }

    #[test]
    fn names_have_one_token_per_part_and_keys_round_trip() -> Result<(), Box<dyn std::error::Error>>
    {
        let names = Names::new("orders");
        assert_eq!(
            names.inbox("edge-1", 0xab),
            "airssys.orders.h.edge-1.00000000000000ab"
        );
        assert_eq!(names.hosts_bucket(), "airssys_orders_hosts");
        assert_eq!(Names::new("a.b").owners_bucket(), "airssys_a_2Eb_owners");
        let id: ComponentId = "ns.x/name_y/1".parse()?;
        assert_eq!(owner_key(&id), "ns_2Ex.name_5Fy.1");
        assert_eq!(id_of_owner_key(&owner_key(&id)), Some(id));
        assert_eq!(id_of_owner_key("a.b"), None);
        assert_eq!(host_key("edge 1"), "edge_201");
        Ok(())
    }
}
