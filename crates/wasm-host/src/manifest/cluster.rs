//! The `[cluster]` section: which NATS servers, this host's name, the cluster's name, the
//! credentials, the lease and the replicas of the cluster's buckets.

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
    lease_ms: Option<Spanned<u64>>,
    give_up_ms: Option<Spanned<u64>>,
    replicas: Option<Spanned<u64>>,
    credit_wait_ms: Option<Spanned<u64>>,
    /// Replaced by `lease_ms`: named in the error if given.
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
        return Err(source.error(
            ms.span(),
            "cluster.heartbeat_ms",
            Kind::InvalidValue,
            "`cluster.heartbeat_ms` is replaced by `cluster.lease_ms`: a host's lease (at least 1000 ms), renewed three times per lease",
        ));
    }
    if let Some(ms) = &raw.lease_ms {
        if *ms.get_ref() < 1000 {
            return Err(source.error(
                ms.span(),
                "cluster.lease_ms",
                Kind::InvalidValue,
                "`cluster.lease_ms` must be at least 1000 (the server counts leases in whole seconds)",
            ));
        }
        config.lease = Duration::from_millis(*ms.get_ref());
    }
    if let Some(ms) = &raw.give_up_ms {
        config.give_up = Duration::from_millis(*ms.get_ref());
    } else {
        config.give_up = config.give_up.max(config.lease.saturating_mul(10));
    }
    if config.give_up < config.lease.saturating_mul(2) {
        let span = raw
            .give_up_ms
            .as_ref()
            .map_or_else(|| raw.host.span(), Spanned::span);
        return Err(source.error(
            span,
            "cluster.give_up_ms",
            Kind::InvalidValue,
            format!(
                "`cluster.give_up_ms` must be at least twice `cluster.lease_ms` ({} ms)",
                config.lease.saturating_mul(2).as_millis()
            ),
        ));
    }
    if let Some(replicas) = &raw.replicas {
        let n = *replicas.get_ref();
        if !(1..=5).contains(&n) {
            return Err(source.error(
                replicas.span(),
                "cluster.replicas",
                Kind::InvalidValue,
                "`cluster.replicas` must be 1 to 5 (3 on a three-server NATS cluster)",
            ));
        }
        config.replicas = usize::try_from(n).unwrap_or(1);
    }
    if let Some(ms) = &raw.credit_wait_ms {
        if *ms.get_ref() == 0 {
            return Err(source.error(
                ms.span(),
                "cluster.credit_wait_ms",
                Kind::InvalidValue,
                "`cluster.credit_wait_ms` must be above 0",
            ));
        }
        config.credit_wait = Duration::from_millis(*ms.get_ref());
    }
    Ok(Some(config))
}
