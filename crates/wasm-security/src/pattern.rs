//! Patterns over `/`-separated segments: literals, `*` for exactly one segment, `**` for any
//! number of segments (zero or more), anywhere in the pattern.

use std::fmt;

use wasm_core::ComponentId;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Any,
}

/// A compiled pattern. Matching allocates nothing.
///
/// # Examples
///
/// ```
/// use wasm_security::IdPattern;
///
/// let p = IdPattern::parse("orders/**")?;
/// assert!(p.matches(&"orders/validator/1".parse()?));
/// assert!(!p.matches(&"billing/validator/1".parse()?));
/// assert!(IdPattern::parse("orders/*/1")?.matches(&"orders/x/1".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPattern {
    text: String,
    segments: Vec<Segment>,
}

impl IdPattern {
    /// Parses a pattern.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPattern`] for an empty pattern, an empty segment (`a//b`), a segment
    /// mixing `*` with other characters (`a*`, `***`), or a character outside
    /// `[A-Za-z0-9._-]`.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidPattern {
            pattern: text.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Err(invalid("the pattern is empty"));
        }
        let segments = text
            .split('/')
            .map(|segment| match segment {
                "" => Err(invalid("a segment is empty")),
                "*" => Ok(Segment::One),
                "**" => Ok(Segment::Any),
                s if s.contains('*') => Err(invalid(
                    "`*` and `**` must stand alone in their segment",
                )),
                s if s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) =>
                {
                    Ok(Segment::Literal(s.to_owned()))
                }
                _ => Err(invalid(
                    "segments may only contain ASCII letters, digits, '-', '_', '.' or a lone `*`/`**`",
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern has no wildcard.
    pub fn is_exact(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// Whether the pattern matches every id (`**`).
    pub fn matches_everything(&self) -> bool {
        self.segments.iter().all(|s| matches!(s, Segment::Any))
    }

    /// Whether some three-segment component id can match.
    pub fn can_match_component_id(&self) -> bool {
        let fixed = self
            .segments
            .iter()
            .filter(|s| !matches!(s, Segment::Any))
            .count();
        let open = self.segments.iter().any(|s| matches!(s, Segment::Any));
        if open { fixed <= 3 } else { fixed == 3 }
    }

    /// Whether the pattern matches a component id.
    pub fn matches(&self, id: &ComponentId) -> bool {
        self.matches_segments(&id.segments())
    }

    /// Whether the pattern matches a list of segments. `**` matches zero or more segments, so
    /// `a/**` matches `a` itself too.
    pub fn matches_segments(&self, segments: &[&str]) -> bool {
        let pattern = &self.segments;
        let (mut p, mut s) = (0, 0);
        // Where the last `**` was, to backtrack to: (pattern index after it, segment index).
        let mut resume: Option<(usize, usize)> = None;
        while s < segments.len() {
            match pattern.get(p) {
                Some(Segment::Any) => {
                    resume = Some((p + 1, s));
                    p += 1;
                    continue;
                }
                Some(Segment::One) => {
                    p += 1;
                    s += 1;
                    continue;
                }
                Some(Segment::Literal(l)) if l == segments[s] => {
                    p += 1;
                    s += 1;
                    continue;
                }
                _ => {}
            }
            match resume {
                // Let the last `**` take one more segment and try again.
                Some((after, taken)) => {
                    p = after;
                    s = taken + 1;
                    resume = Some((after, taken + 1));
                }
                None => return false,
            }
        }
        pattern[p.min(pattern.len())..]
            .iter()
            .all(|seg| matches!(seg, Segment::Any))
    }

    /// The exact id this pattern names, if it has no wildcard and three segments.
    pub(crate) fn exact_id(&self) -> Option<ComponentId> {
        match self.segments.as_slice() {
            [
                Segment::Literal(a),
                Segment::Literal(b),
                Segment::Literal(c),
            ] => ComponentId::new(a.clone(), b.clone(), c.clone()).ok(),
            _ => None,
        }
    }
}

impl fmt::Display for IdPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(text: &str) -> IdPattern {
        IdPattern::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn m(pattern: &str, segments: &str) -> bool {
        let segs: Vec<&str> = if segments.is_empty() {
            Vec::new()
        } else {
            segments.split('/').collect()
        };
        p(pattern).matches_segments(&segs)
    }

    #[test]
    fn literals_and_single_wildcards() {
        assert!(m("a/b/c", "a/b/c"));
        assert!(!m("a/b/c", "a/b/d"));
        assert!(!m("a/b/c", "a/b"));
        assert!(!m("a/b/c", "a/b/c/d"));
        assert!(m("a/*/c", "a/x/c"));
        assert!(!m("a/*/c", "a/c"), "`*` never matches zero segments");
        assert!(!m("a/*/c", "a/x/y/c"));
        assert!(m("*/*/*", "x/y/z"));
    }

    #[test]
    fn double_wildcards_at_start_middle_and_end() {
        assert!(m("orders/**", "orders/validator/1"));
        assert!(m("orders/**", "orders"), "`**` matches zero segments");
        assert!(!m("orders/**", "billing/validator/1"));
        assert!(m("**/1", "orders/validator/1"));
        assert!(!m("**/1", "orders/validator/2"));
        assert!(m("orders/**/1", "orders/1"));
        assert!(m("orders/**/1", "orders/a/b/1"));
        assert!(!m("orders/**/1", "orders/a/b/2"));
        assert!(m("**", "anything/at/all"));
        assert!(m("**", ""));
        assert!(m("**/x/**/y", "a/x/b/x/c/y"));
        assert!(!m("**/x/**/y", "a/y/b/x"));
        assert!(m("a/**/**/b", "a/b"));
    }

    #[test]
    fn dots_are_literal() {
        assert!(m("a.b/c.d/1.0", "a.b/c.d/1.0"));
        assert!(!m("a.b/c.d/1.0", "aXb/c.d/1.0"));
        assert!(!m("a.b/*/*", "a/b/c"));
    }

    #[test]
    fn malformed_patterns_are_rejected_with_the_reason() {
        for (text, why) in [
            ("", "empty"),
            ("a//b", "empty"),
            ("/a/b", "empty"),
            ("a/b/", "empty"),
            ("a*/b/c", "alone"),
            ("***", "alone"),
            ("a/b c/d", "only contain"),
        ] {
            match IdPattern::parse(text) {
                Err(Error::InvalidPattern { pattern, reason }) => {
                    assert_eq!(pattern, text);
                    assert!(reason.contains(why), "{text}: {reason}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn patterns_that_cannot_match_an_id_are_detected() {
        assert!(p("a/b/c").can_match_component_id());
        assert!(p("a/**").can_match_component_id());
        assert!(p("**/a/b/c").can_match_component_id());
        assert!(!p("a/b").can_match_component_id());
        assert!(!p("a/b/c/d").can_match_component_id());
        assert!(!p("a/*/*/*/**").can_match_component_id());
    }

    /// A straightforward recursive matcher to check the iterative one against.
    fn reference(pattern: &[Segment], segments: &[&str]) -> bool {
        match pattern.split_first() {
            None => segments.is_empty(),
            Some((Segment::Any, rest)) => {
                (0..=segments.len()).any(|k| reference(rest, &segments[k..]))
            }
            Some((Segment::One, rest)) => !segments.is_empty() && reference(rest, &segments[1..]),
            Some((Segment::Literal(l), rest)) => {
                segments.first() == Some(&l.as_str()) && reference(rest, &segments[1..])
            }
        }
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("c".to_owned())
        ]
    }

    fn pattern_segment() -> impl Strategy<Value = String> {
        prop_oneof![segment(), Just("*".to_owned()), Just("**".to_owned())]
    }

    fn id_text() -> impl Strategy<Value = String> {
        "[a-z0-9.]{1,6}/[a-z0-9._-]{1,6}/[a-z0-9]{1,3}"
    }

    proptest! {
        #[test]
        fn agrees_with_the_reference_matcher(
            pattern in prop::collection::vec(pattern_segment(), 1..6),
            segments in prop::collection::vec(segment(), 0..7),
        ) {
            let compiled = p(&pattern.join("/"));
            let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
            prop_assert_eq!(
                compiled.matches_segments(&segs),
                reference(&compiled.segments, &segs)
            );
        }

        #[test]
        fn a_literal_pattern_matches_exactly_its_id(a in id_text(), b in id_text()) {
            let ida: ComponentId = a.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let idb: ComponentId = b.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let pattern = p(&a);
            prop_assert!(pattern.matches(&ida));
            prop_assert_eq!(pattern.matches(&idb), ida == idb);
        }

        #[test]
        fn a_single_wildcard_keeps_the_other_segments_fixed(
            a in id_text(), b in id_text(), position in 0usize..3,
        ) {
            let ida: ComponentId = a.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let idb: ComponentId = b.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let mut parts = ida.segments().map(str::to_owned);
            parts[position] = "*".to_owned();
            let pattern = p(&parts.join("/"));
            prop_assert!(pattern.matches(&ida));
            if pattern.matches(&idb) {
                for i in (0..3).filter(|&i| i != position) {
                    prop_assert_eq!(ida.segments()[i], idb.segments()[i]);
                }
            }
        }

        #[test]
        fn a_prefix_pattern_never_matches_another_namespace(a in id_text(), b in id_text()) {
            let ida: ComponentId = a.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let idb: ComponentId = b.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let pattern = p(&format!("{}/**", ida.namespace()));
            prop_assert!(pattern.matches(&ida));
            prop_assert_eq!(pattern.matches(&idb), idb.namespace() == ida.namespace());
        }
    }
}
