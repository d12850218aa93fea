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
        let mut key = self.key_at(span.start);
        if kind == ManifestErrorKind::MissingKey
            && let Some(field) = backticked(&message)
        {
            // The span is the table missing the field: its header is on the span's first line.
            let start = span.start.min(self.text.len());
            let line_end = self.text[start..]
                .find('\n')
                .map_or(self.text.len(), |i| start + i);
            key = join(&self.header_before(line_end), field);
        }
        self.error(span, key, kind, message)
    }

    /// The dotted key a byte offset belongs to, read from the text: the table header above it
    /// and the keys on its line.
    fn key_at(&self, offset: usize) -> String {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        let line = &self.text[line_start..line_end];
        let prefix = &self.text[line_start..offset];
        if line.trim_start().starts_with('[') {
            // A header itself: its text is the key.
            return header_name(line).unwrap_or_default();
        }
        let header = self.header_before(line_start);
        let mut keys: Vec<String> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut last = String::new();
        let mut token = String::new();
        for c in prefix.chars() {
            match c {
                '=' => {
                    last = unquote(token.trim());
                    token.clear();
                }
                '{' => {
                    open.push(keys.len());
                    keys.push(std::mem::take(&mut last));
                }
                '}' => {
                    if let Some(n) = open.pop() {
                        keys.truncate(n);
                    }
                    token.clear();
                    last.clear();
                }
                ',' => {
                    // A key = value pair ended.
                    token.clear();
                    last.clear();
                }
                c => token.push(c),
            }
        }
        if last.is_empty() {
            // The offset is on a key (an unknown field): the key is the text at the offset.
            last = unquote(
                self.text[offset..line_end]
                    .split(['=', ' ', '\t', ','])
                    .next()
                    .unwrap_or_default(),
            );
        }
        keys.push(last);
        let mut path = header;
        for key in keys.iter().filter(|k| !k.is_empty()) {
            path = join(&path, key);
        }
        path
    }

    /// The name of the last table header that starts before `offset`.
    fn header_before(&self, offset: usize) -> String {
        let before = self.text.get(..offset).unwrap_or(self.text);
        before
            .lines()
            .rev()
            .find_map(header_name)
            .unwrap_or_default()
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

fn header_name(line: &str) -> Option<String> {
    let line = line.trim();
    let inner = line.strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let end = inner.find(']')?;
    Some(
        inner[..end]
            .split('.')
            .map(|k| unquote(k.trim()))
            .collect::<Vec<_>>()
            .join("."),
    )
}

fn unquote(key: &str) -> String {
    key.trim().trim_matches('"').trim_matches('\'').to_owned()
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
    fn keys_are_read_from_headers_and_inline_tables() {
        let text =
            "[[components]]\nid = \"x\"\n[components.capabilities]\nstorage = { read = \"yes\" }\n";
        let s = source(text);
        let at_id = text.find("\"x\"").unwrap_or_default();
        assert_eq!(s.key_at(at_id), "components.id");
        let at_yes = text.find("\"yes\"").unwrap_or_default();
        assert_eq!(s.key_at(at_yes), "components.capabilities.storage.read");
        let text2 = "[x]\nt = { a = 1, bad = 2 }\n";
        let at_bad = text2.find("bad").unwrap_or_default();
        assert_eq!(source(text2).key_at(at_bad), "x.t.bad");
        let at_storage = text.find("storage").unwrap_or_default();
        assert_eq!(s.key_at(at_storage), "components.capabilities.storage");
    }
}
