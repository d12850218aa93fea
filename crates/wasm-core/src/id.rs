//! Component ids and their text form `namespace/name/instance`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Identifies one component instance inside a host.
///
/// The text form is `namespace/name/instance`: three non-empty segments of ASCII letters,
/// digits, `-`, `_` and `.`. The segment rules keep ids unambiguous in patterns (`*`, `**`) and
/// paths.
///
/// # Examples
///
/// ```
/// use wasm_core::ComponentId;
///
/// let id: ComponentId = "orders/validator/1".parse()?;
/// assert_eq!(id.name(), "validator");
/// assert_eq!(id.to_string(), "orders/validator/1");
/// assert!("orders/validator".parse::<ComponentId>().is_err());
/// # Ok::<(), wasm_core::Error>(())
/// ```
///
/// The id is one shared string: cloning it (every message carries its sender's id) is a
/// reference-count increment, and hashing it hashes the text once.
#[derive(Clone)]
pub struct ComponentId {
    /// `namespace/name/instance`, every segment checked.
    text: Arc<str>,
    /// Byte offsets of the two `/` separators in `text` (derived from it, kept so a segment
    /// is a slice, not a search).
    slashes: [usize; 2],
}

/// Equal ids have equal text; the separator offsets follow from it.
impl PartialEq for ComponentId {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for ComponentId {}

impl std::hash::Hash for ComponentId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl ComponentId {
    /// Builds an id from its three segments.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidComponentId`] if a segment is empty or has a character outside
    /// `[A-Za-z0-9._-]`.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        instance: impl Into<String>,
    ) -> Result<Self> {
        let (namespace, name, instance) = (namespace.into(), name.into(), instance.into());
        // Built by hand, not with `format!`: guests name a target id in every send.
        let mut text = String::with_capacity(namespace.len() + name.len() + instance.len() + 2);
        for (i, segment) in [&namespace, &name, &instance].into_iter().enumerate() {
            if i > 0 {
                text.push('/');
            }
            text.push_str(segment);
        }
        Self::checked(&text, [&namespace, &name, &instance])
    }

    /// The id whose text is `text` and whose segments are `segments` (the parts of `text`
    /// between its two `/`), once every segment is checked; errors name `text`.
    fn checked(text: &str, segments: [&str; 3]) -> Result<Self> {
        for segment in segments {
            check_segment(segment).map_err(|reason| Error::InvalidComponentId {
                input: text.to_owned(),
                reason,
            })?;
        }
        let first = segments[0].len();
        Ok(Self {
            text: Arc::from(text),
            slashes: [first, first + 1 + segments[1].len()],
        })
    }

    /// `host/embedder/0`: the sender id of messages the embedding host sends itself.
    pub fn host() -> Self {
        Self {
            text: Arc::from("host/embedder/0"),
            slashes: [4, 13],
        }
    }

    /// The namespace segment.
    pub fn namespace(&self) -> &str {
        &self.text[..self.slashes[0]]
    }

    /// The name segment.
    pub fn name(&self) -> &str {
        &self.text[self.slashes[0] + 1..self.slashes[1]]
    }

    /// The instance segment.
    pub fn instance(&self) -> &str {
        &self.text[self.slashes[1] + 1..]
    }

    /// The text form `namespace/name/instance`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The three segments in order: namespace, name, instance.
    pub fn segments(&self) -> [&str; 3] {
        [self.namespace(), self.name(), self.instance()]
    }

    /// Splits the id into its owned segments.
    pub fn into_parts(self) -> (String, String, String) {
        (
            self.namespace().to_owned(),
            self.name().to_owned(),
            self.instance().to_owned(),
        )
    }
}

impl fmt::Debug for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentId")
            .field("namespace", &self.namespace())
            .field("name", &self.name())
            .field("instance", &self.instance())
            .finish()
    }
}

/// Ids order by namespace, then name, then instance (not by their text: `-` and `.` sort
/// before `/`).
impl Ord for ComponentId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.segments().cmp(&other.segments())
    }
}

impl PartialOrd for ComponentId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a segment is not allowed, if it is not.
fn check_segment(segment: &str) -> std::result::Result<(), &'static str> {
    if segment.is_empty() {
        return Err("every segment must be non-empty");
    }
    if !segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("segments may only contain ASCII letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for ComponentId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let mut parts = s.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(namespace), Some(name), Some(instance), None) => {
                Self::checked(s, [namespace, name, instance])
            }
            _ => Err(Error::InvalidComponentId {
                input: s.to_owned(),
                reason: "expected three segments `namespace/name/instance`",
            }),
        }
    }
}

impl TryFrom<&str> for ComponentId {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_round_trip() -> Result<()> {
        for text in ["a/b/c", "orders/validator.v2/1", "x-y/z_w/0.1"] {
            let id: ComponentId = text.parse()?;
            assert_eq!(id.to_string(), text);
        }
        let id: ComponentId = "ns/name/inst".parse()?;
        assert_eq!(id.segments(), ["ns", "name", "inst"]);
        Ok(())
    }

    #[test]
    fn rejects_malformed_ids_with_reason() {
        let cases = [
            ("", "three segments"),
            ("a/b", "three segments"),
            ("a/b/c/d", "three segments"),
            ("a//c", "non-empty"),
            ("/b/c", "non-empty"),
            ("a/b/", "non-empty"),
            ("a/b c/d", "only contain"),
            ("a/*/c", "only contain"),
            ("a/ü/c", "only contain"),
        ];
        for (text, why) in cases {
            match text.parse::<ComponentId>() {
                Err(Error::InvalidComponentId { input, reason }) => {
                    assert_eq!(input, text);
                    assert!(reason.contains(why), "{text}: {reason}");
                }
                Ok(id) => unreachable!("{text} parsed as {id}"),
            }
        }
    }

    #[test]
    fn error_message_names_the_input() {
        let err = "a/b".parse::<ComponentId>().err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("`a/b`"), "{text}");
    }

    #[test]
    fn the_host_id_is_valid() -> Result<()> {
        assert_eq!(ComponentId::host(), "host/embedder/0".parse()?);
        Ok(())
    }

    #[test]
    fn orders_by_segment_not_by_text() -> Result<()> {
        // As text, `a.x/...` sorts before `a/...` ('.' < '/'); by segment `a` comes first.
        let (short, dotted): (ComponentId, ComponentId) = ("a/b/c".parse()?, "a.x/b/c".parse()?);
        assert!(short < dotted);
        let mut ids: Vec<ComponentId> = ["b/a/1", "a/b-c/2", "a/b/2", "a/b/10"]
            .iter()
            .map(|t| t.parse())
            .collect::<Result<_>>()?;
        ids.sort();
        let text: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["a/b/10", "a/b/2", "a/b-c/2", "b/a/1"]);
        Ok(())
    }

    #[test]
    fn built_and_parsed_ids_are_the_same_id() -> Result<()> {
        use std::hash::BuildHasher;
        let built = ComponentId::new("orders", "validator", "1")?;
        let parsed: ComponentId = "orders/validator/1".parse()?;
        assert_eq!(built, parsed);
        assert_eq!(built.as_str(), "orders/validator/1");
        assert_eq!(
            built.clone().into_parts(),
            ("orders".into(), "validator".into(), "1".into())
        );
        let state = std::hash::RandomState::new();
        assert_eq!(state.hash_one(&built), state.hash_one(&parsed));
        assert_eq!(
            format!("{built:?}"),
            r#"ComponentId { namespace: "orders", name: "validator", instance: "1" }"#
        );
        Ok(())
    }

    #[test]
    fn new_validates_segments() {
        assert!(ComponentId::new("a", "b", "c").is_ok());
        assert!(ComponentId::new("a", "b/c", "d").is_err());
        assert!(ComponentId::new("a", "", "d").is_err());
    }
}
