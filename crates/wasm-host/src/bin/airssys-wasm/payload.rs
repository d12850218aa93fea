//! `<component-id>=<payload>` arguments, with `@<file>` payloads.

use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use wasm_host::{ComponentId, Manifest};

/// A message given on the command line.
#[derive(Debug, Clone)]
pub struct Message {
    /// The target, as written.
    pub target: String,
    /// The payload, as written (`@<file>` not yet read).
    pub payload: String,
}

impl FromStr for Message {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('=') {
            Some((target, payload)) if !target.is_empty() => Ok(Self {
                target: target.to_owned(),
                payload: payload.to_owned(),
            }),
            _ => Err(format!(
                "`{text}` is not `<component-id>=<payload>` (for example `orders/ingest/1=hello`)"
            )),
        }
    }
}

/// The bytes of a payload argument: `@<file>` is the file's contents, `@@...` is a literal
/// `@...`, anything else is the text itself.
pub fn bytes(payload: &str) -> Result<Vec<u8>> {
    if let Some(rest) = payload.strip_prefix("@@") {
        return Ok(format!("@{rest}").into_bytes());
    }
    match payload.strip_prefix('@') {
        Some(file) => std::fs::read(Path::new(file))
            .with_context(|| format!("cannot read the payload file {file}")),
        None => Ok(payload.as_bytes().to_vec()),
    }
}

/// The id `target` names, which must be a component of the manifest.
pub fn target(manifest: &Manifest, target: &str) -> Result<ComponentId> {
    let id: ComponentId = target
        .parse()
        .with_context(|| format!("`{target}` is not a component id"))?;
    if manifest.component(&id).is_none() {
        let known: Vec<String> = manifest
            .components()
            .iter()
            .map(|c| c.id.to_string())
            .collect();
        bail!(
            "component {id} is not in manifest {} (it has: {})",
            manifest.file().display(),
            known.join(", ")
        );
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_splits_at_the_first_equals_sign() {
        let m: Message = "a/b/c=x=1".parse().unwrap();
        assert_eq!((m.target.as_str(), m.payload.as_str()), ("a/b/c", "x=1"));
        assert!("no-equals".parse::<Message>().is_err());
        assert!("=payload".parse::<Message>().is_err());
    }

    #[test]
    fn payloads_are_text_files_or_escaped_at_signs() {
        assert_eq!(bytes("hi").unwrap(), b"hi");
        assert_eq!(bytes("@@home").unwrap(), b"@home");
        let err = bytes("@/no/such/file").unwrap_err();
        assert!(format!("{err:#}").contains("/no/such/file"));
    }
}
