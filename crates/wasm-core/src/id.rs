//! Component ids and their text form `namespace/name/instance`.

use std::fmt;
use std::str::FromStr;

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
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    namespace: String,
    name: String,
    instance: String,
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
        let id = Self {
            namespace: namespace.into(),
            name: name.into(),
            instance: instance.into(),
        };
        for segment in id.segments() {
            if let Err(reason) = check_segment(segment) {
                return Err(Error::InvalidComponentId {
                    input: format!("{}/{}/{}", id.namespace, id.name, id.instance),
                    reason,
                });
            }
        }
        Ok(id)
    }

    /// `host/embedder/0`: the sender id of messages the embedding host sends itself.
    pub fn host() -> Self {
        Self {
            namespace: "host".to_owned(),
            name: "embedder".to_owned(),
            instance: "0".to_owned(),
        }
    }

    /// The namespace segment.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The name segment.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The instance segment.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The three segments in order: namespace, name, instance.
    pub fn segments(&self) -> [&str; 3] {
        [&self.namespace, &self.name, &self.instance]
    }

    /// Splits the id into its owned segments.
    pub fn into_parts(self) -> (String, String, String) {
        (self.namespace, self.name, self.instance)
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
        write!(f, "{}/{}/{}", self.namespace, self.name, self.instance)
    }
}

impl FromStr for ComponentId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let mut parts = s.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(namespace), Some(name), Some(instance), None) => {
                Self::new(namespace, name, instance).map_err(|e| match e {
                    Error::InvalidComponentId { reason, .. } => Error::InvalidComponentId {
                        input: s.to_owned(),
                        reason,
                    },
                })
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
    fn new_validates_segments() {
        assert!(ComponentId::new("a", "b", "c").is_ok());
        assert!(ComponentId::new("a", "b/c", "d").is_err());
        assert!(ComponentId::new("a", "", "d").is_err());
    }
}
