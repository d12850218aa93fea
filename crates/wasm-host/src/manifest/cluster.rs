//! The `[cluster]` section: which NATS servers, this host's name, the cluster's name, the
//! credentials and the heartbeat.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use wasm_cluster::{Auth, ClusterConfig};

use super::source::Source;
use crate::error::{ManifestErrorKind as Kind, Result};

/// The cluster's name when `name` is left out.
pub(crate) const DEFAULT_NAME: &str = "default";

/// `[cluster]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCluster {
    url: Spanned<RawUrls>,
    host: Spanned<String>,
    name: Option<Spanned<String>>,
    credentials: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    password: Option<Spanned<String>>,
    nkey: Option<Spanned<String>>,
    heartbeat_ms: Option<Spanned<u64>>,
}

/// `url = "nats://..."` or `url = ["nats://...", ...]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawUrls {
    One(String),
    Many(Vec<String>),
}

fn not_empty(source: &Source<'_>, key: &str, value: &Spanned<String>) -> Result<String> {
    let text = value.get_ref().trim();
    if text.is_empty() {
        return Err(source.error(
            value.span(),
            key,
            Kind::InvalidValue,
            format!("`{key}` must not be empty"),
        ));
    }
    Ok(text.to_owned())
}

pub(crate) fn cluster(
    source: &Source<'_>,
    dir: &Path,
    raw: Option<RawCluster>,
) -> Result<Option<ClusterConfig>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let urls = match raw.url.get_ref() {
        RawUrls::One(url) => vec![url.trim().to_owned()],
        RawUrls::Many(urls) => urls.iter().map(|u| u.trim().to_owned()).collect(),
    };
    if urls.is_empty() || urls.iter().any(String::is_empty) {
        return Err(source.error(
            raw.url.span(),
            "cluster.url",
            Kind::InvalidValue,
            "`cluster.url` must name at least one NATS server, none empty",
        ));
    }
    let mut config = ClusterConfig::new(
        urls[0].clone(),
        not_empty(source, "cluster.host", &raw.host)?,
        match &raw.name {
            Some(name) => not_empty(source, "cluster.name", name)?,
            None => DEFAULT_NAME.to_owned(),
        },
    );
    config.urls = urls;
    let mut auths = Vec::new();
    if let Some(file) = &raw.credentials {
        let path = not_empty(source, "cluster.credentials", file)?;
        auths.push((file.span(), Auth::CredentialsFile(dir.join(path))));
    }
    if let Some(token) = &raw.token {
        auths.push((token.span(), Auth::Token(token.get_ref().clone())));
    }
    if let Some(seed) = &raw.nkey {
        auths.push((seed.span(), Auth::Nkey(seed.get_ref().clone())));
    }
    match (&raw.user, &raw.password) {
        (Some(user), Some(password)) => auths.push((
            user.span(),
            Auth::UserPassword {
                user: user.get_ref().clone(),
                password: password.get_ref().clone(),
            },
        )),
        (Some(one), None) | (None, Some(one)) => {
            return Err(source.error(
                one.span(),
                "cluster.user",
                Kind::MissingKey,
                "`cluster.user` and `cluster.password` go together",
            ));
        }
        (None, None) => {}
    }
    if auths.len() > 1 {
        let (span, _) = auths.swap_remove(1);
        return Err(source.error(
            span,
            "cluster",
            Kind::InvalidValue,
            "give one of `credentials`, `token`, `nkey` or `user`/`password`, not several",
        ));
    }
    if let Some((_, auth)) = auths.pop() {
        config.auth = auth;
    }
    if let Some(ms) = &raw.heartbeat_ms {
        if *ms.get_ref() == 0 {
            return Err(source.error(
                ms.span(),
                "cluster.heartbeat_ms",
                Kind::InvalidValue,
                "`cluster.heartbeat_ms` must be above 0",
            ));
        }
        config.heartbeat = Duration::from_millis(*ms.get_ref());
    }
    Ok(Some(config))
}
