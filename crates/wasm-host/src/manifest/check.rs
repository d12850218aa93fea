//! Checks of single values shared by the manifest's sections: positive numbers, sizes,
//! durations, shard counts, component ids, host labels.

use std::time::Duration;

use toml::Spanned;
use wasm_core::ComponentId;

use super::source::Source;
use crate::error::{ManifestErrorKind as Kind, Result};

pub(super) fn positive(source: &Source<'_>, key: &str, value: &Spanned<u64>) -> Result<u64> {
    if *value.get_ref() == 0 {
        return Err(source.error(
            value.span(),
            key,
            Kind::InvalidValue,
            format!("`{key}` must be greater than 0"),
        ));
    }
    Ok(*value.get_ref())
}

pub(super) fn size(source: &Source<'_>, key: &str, value: &Spanned<u64>) -> Result<usize> {
    let n = positive(source, key, value)?;
    usize::try_from(n).map_err(|_| {
        source.error(
            value.span(),
            key,
            Kind::InvalidValue,
            format!("`{key}` = {n} is too large"),
        )
    })
}

/// The most shards a manifest may ask for: each is a thread.
const MAX_SHARDS: usize = 256;

pub(super) fn shards(source: &Source<'_>, value: &Spanned<u64>) -> Result<usize> {
    let n = size(source, "host.shards", value)?;
    if n > MAX_SHARDS {
        return Err(source.error(
            value.span(),
            "host.shards",
            Kind::InvalidValue,
            format!("`host.shards` = {n} is more than {MAX_SHARDS} (each shard is a thread)"),
        ));
    }
    Ok(n)
}

pub(super) fn millis(
    source: &Source<'_>,
    key: &str,
    value: &Option<Spanned<u64>>,
) -> Result<Option<Duration>> {
    value
        .as_ref()
        .map(|v| positive(source, key, v).map(Duration::from_millis))
        .transpose()
}

pub(super) fn component_id(
    source: &Source<'_>,
    key: &str,
    text: &Spanned<String>,
) -> Result<ComponentId> {
    text.get_ref().parse().map_err(|e: wasm_core::Error| {
        source.error(text.span(), key, Kind::InvalidId, e.to_string())
    })
}

/// `hosts = ["zone=a", ...]`: each a `key=value` label.
pub(super) fn labels(
    source: &Source<'_>,
    key: &str,
    raw: &[Spanned<String>],
) -> Result<Vec<String>> {
    raw.iter()
        .map(|label| {
            let text = label.get_ref().trim();
            match text.split_once('=') {
                Some((k, v))
                    if !k.is_empty()
                        && !v.is_empty()
                        && !text.contains([',', ' '])
                        && !v.contains('=') =>
                {
                    Ok(text.to_owned())
                }
                _ => Err(source.error(
                    label.span(),
                    key,
                    Kind::InvalidValue,
                    format!("host label `{text}` must be `key=value` (like `zone=a`)"),
                )),
            }
        })
        .collect()
}
