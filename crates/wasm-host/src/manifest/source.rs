//! Where things are in a manifest's text: byte offsets to line and column, TOML errors to
//! typed errors that name the file, the position and the key.

use std::ops::Range;
use std::path::Path;

use crate::error::{Error, ManifestErrorKind};

/// A line and column in a manifest, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// The line.
    pub line: usize,
    /// The column, in characters.
    pub column: usize,
}

/// The text of a manifest and the file it came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) file: &'a Path,
    pub(crate) text: &'a str,
}

impl Source<'_> {
    /// The line and column of a byte offset.
    pub(crate) fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Position { line, column }
    }

    /// An error at a span.
    pub(crate) fn error(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        kind: ManifestErrorKind,
        message: impl Into<String>,
    ) -> Error {
        manifest_error(self.file, self.position(span.start), key, kind, message)
    }

    /// Turns a TOML syntax or type error into a manifest error with the key it concerns.
    pub(crate) fn toml_error(&self, e: &toml::de::Error) -> Error {
        let message = e.message().trim().to_owned();
        let span = e.span().unwrap_or(0..0);
        let kind = if message.starts_with("unknown field") {
            ManifestErrorKind::UnknownKey
        } else if message.starts_with("missing field") {
            ManifestErrorKind::MissingKey
        } else if message.starts_with("unknown variant") || message.starts_with("invalid value") {
            ManifestErrorKind::InvalidValue
        } else if message.starts_with("invalid type") {
            ManifestErrorKind::Type
        } else {
            ManifestErrorKind::Syntax
        };
        let mut key = self.path_at(span.start);
        if kind == ManifestErrorKind::MissingKey
            && let Some(field) = backticked(&message)
        {
            // The span is the table that lacks the field.
            key = join(&key, field);
        }
        self.error(span, key, kind, message)
    }

    /// The key path (`components[1].limits.max_fuel`) of what a byte offset points at, found
    /// in the spans of the TOML parser's own document tree: a key, a value, or (for a missing
    /// key) the table that lacks it.
    pub(crate) fn path_at(&self, offset: usize) -> String {
        let (document, _) = toml::de::DeTable::parse_recoverable(self.text);
        table_path(document.get_ref(), offset, "").unwrap_or_default()
    }
}

fn covers(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end.max(span.start + 1)
}

/// The path of `offset` within `table`, whose own path is `path`.
fn table_path(table: &toml::de::DeTable<'_>, offset: usize, path: &str) -> Option<String> {
    for (key, value) in table.iter() {
        let here = join(path, key.get_ref());
        if covers(&key.span(), offset) {
            return Some(here);
        }
        let inside = covers(&value.span(), offset);
        // The spans of tables and array elements are their headers, not their bodies: look
        // inside every one.
        if let Some(deeper) = value_path(value.get_ref(), offset, &here) {
            return Some(deeper);
        }
        if inside {
            return Some(here);
        }
    }
    None
}

/// The path of `offset` within `value`, whose own path is `path`. Elements of an array of
/// tables are numbered (`components[0]`); elements of an array of plain values are not: the
/// key names them all.
fn value_path(value: &toml::de::DeValue<'_>, offset: usize, path: &str) -> Option<String> {
    use toml::de::DeValue;
    match value {
        DeValue::Table(table) => table_path(table, offset, path),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let DeValue::Table(table) = item.get_ref() else {
                    continue;
                };
                let here = format!("{path}[{i}]");
                if let Some(deeper) = table_path(table, offset, &here) {
                    return Some(deeper);
                }
                if covers(&item.span(), offset) {
                    return Some(here);
                }
            }
            None
        }
        _ => None,
    }
}

/// Builds a manifest error at a known position.
pub(crate) fn manifest_error(
    file: &Path,
    at: Position,
    key: impl Into<String>,
    kind: ManifestErrorKind,
    message: impl Into<String>,
) -> Error {
    Error::Manifest {
        file: file.to_owned(),
        line: at.line,
        column: at.column,
        key: key.into(),
        kind,
        message: message.into(),
        source: None,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source<'_> {
        Source {
            file: Path::new("m.toml"),
            text,
        }
    }

    #[test]
    fn positions_count_lines_and_columns_from_one() {
        let s = source("a = 1\nbb = 2\n");
        assert_eq!(s.position(0), Position { line: 1, column: 1 });
        assert_eq!(s.position(6), Position { line: 2, column: 1 });
        assert_eq!(s.position(11), Position { line: 2, column: 6 });
    }

    #[test]
    fn paths_come_from_the_parsers_spans_and_number_tables_in_arrays() {
        let text = "[[components]]\nid = \"x\"\n\n[[components]]\nid = \"y\"\n\
                    [components.capabilities]\nstorage = { read = \"yes\" }\n\
                    filesystem = [{ host = \"a\", guest = \"b\" }]\n\
                    [[groups]]\nmembers = [\"x\", \"y\"]\n";
        let s = source(text);
        let at = |needle: &str| text.find(needle).unwrap_or_default();
        assert_eq!(s.path_at(at("\"x\"")), "components[0].id");
        assert_eq!(s.path_at(at("\"y\"")), "components[1].id");
        assert_eq!(
            s.path_at(at("\"yes\"")),
            "components[1].capabilities.storage.read"
        );
        assert_eq!(
            s.path_at(at("storage")),
            "components[1].capabilities.storage"
        );
        assert_eq!(
            s.path_at(at("\"b\"")),
            "components[1].capabilities.filesystem[0].guest"
        );
        // Elements of a plain array are named by their key.
        assert_eq!(
            s.path_at(text.rfind("\"y\"").unwrap_or_default()),
            "groups[0].members"
        );
        // A table header: the table (a missing key is reported there).
        let second = text.rfind("[[components]]").unwrap_or_default();
        assert_eq!(s.path_at(second), "components[1]");
        assert_eq!(s.path_at(at("[[groups]]")), "groups[0]");
    }
}
