//! One `[[components]]` or `[[handlers]]` entry: its limits and its grants, each checked.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use toml::Spanned;
use wasm_actor::RestartPolicy;
use wasm_core::StorageQuota;
use wasm_security::{
    FilesystemGrant, FsAccess, Grants, IdPattern, MessagingAction, MessagingGrant, NetworkGrant,
    StorageGrant,
};

use super::raw::{RawComponent, RawFsMode, RawLimits, RawRestart};

use super::check::{component_id, labels, positive, size};
use super::source::Source;
use super::{ComponentEntry, LimitOverrides};
use crate::error::{ManifestErrorKind as Kind, Result};

pub(super) fn limits(
    source: &Source<'_>,
    prefix: &str,
    raw: Option<RawLimits>,
) -> Result<LimitOverrides> {
    let Some(raw) = raw else {
        return Ok(LimitOverrides::default());
    };
    let check = |name: &str, v: &Option<Spanned<u64>>| {
        v.as_ref()
            .map(|v| positive(source, &format!("{prefix}.{name}"), v))
            .transpose()
    };
    Ok(LimitOverrides {
        max_memory_bytes: check("max_memory_bytes", &raw.max_memory_bytes)?,
        max_execution_time_ms: check("max_execution_time_ms", &raw.max_execution_time_ms)?,
        max_wall_time_ms: check("max_wall_time_ms", &raw.max_wall_time_ms)?,
        max_fuel: check("max_fuel", &raw.max_fuel)?,
    })
}

pub(super) fn component(
    source: &Source<'_>,
    dir: &Path,
    i: usize,
    raw: RawComponent,
) -> Result<ComponentEntry> {
    entry(source, dir, "components", i, raw)
}

/// One entry of `[[components]]` or `[[handlers]]` (`table`).
pub(super) fn entry(
    source: &Source<'_>,
    dir: &Path,
    table: &str,
    i: usize,
    raw: RawComponent,
) -> Result<ComponentEntry> {
    let key = |k: &str| format!("{table}[{i}].{k}");
    let id = component_id(source, &key("id"), &raw.id)?;
    if raw.path.get_ref().trim().is_empty() {
        return Err(source.error(
            raw.path.span(),
            key("path"),
            Kind::InvalidValue,
            format!("the `path` of {id} is empty"),
        ));
    }
    let caps = raw.capabilities;
    let mut grants = Grants::none();
    if let Some(messaging) = caps.messaging {
        for (action, name, patterns) in [
            (MessagingAction::Send, "send", messaging.send),
            (MessagingAction::Request, "request", messaging.request),
            (MessagingAction::Broadcast, "broadcast", messaging.broadcast),
        ] {
            for pattern in patterns {
                let k = key(&format!("capabilities.messaging.{name}"));
                target_pattern(source, &k, &pattern)?;
                grants.messaging.push(MessagingGrant {
                    actions: vec![action],
                    targets: pattern.into_inner(),
                });
            }
        }
    }
    for pattern in caps.discover {
        target_pattern(source, &key("capabilities.discover"), &pattern)?;
        grants.discover.push(pattern.into_inner());
    }
    if let Some(storage) = caps.storage {
        let default = StorageQuota::default();
        let quota = |name: &str, v: &Option<Spanned<u64>>, d: u64| {
            v.as_ref().map_or(Ok(d), |v| {
                positive(source, &key(&format!("capabilities.storage.{name}")), v)
            })
        };
        grants.storage = Some(StorageGrant {
            read: storage.read,
            write: storage.write,
            delete: storage.delete,
            quota: StorageQuota {
                max_bytes: quota("quota_bytes", &storage.quota_bytes, default.max_bytes)?,
                max_keys: quota("quota_keys", &storage.quota_keys, default.max_keys)?,
            },
        });
    }
    for (j, preopen) in caps.filesystem.into_iter().enumerate() {
        let guest = preopen.guest.get_ref();
        if !guest.starts_with('/') {
            return Err(source.error(
                preopen.guest.span(),
                key(&format!("capabilities.filesystem[{j}].guest")),
                Kind::InvalidValue,
                format!("guest path `{guest}` must be absolute (start with `/`)"),
            ));
        }
        grants.filesystem.push(FilesystemGrant {
            host_path: dir.join(preopen.host.get_ref()),
            guest_path: guest.clone(),
            access: match preopen.mode {
                RawFsMode::Read => FsAccess::Read,
                RawFsMode::ReadWrite => FsAccess::ReadWrite,
            },
        });
    }
    if let Some(network) = caps.network {
        for host in network.hosts {
            grants.network.push(network_host(
                source,
                &key("capabilities.network.hosts"),
                &host,
            )?);
        }
    }
    if let Some(http) = caps.http {
        for origin in http.outbound {
            wasm_security::HttpOrigin::parse(origin.get_ref()).map_err(|e| {
                source.error(
                    origin.span(),
                    key("capabilities.http.outbound"),
                    Kind::InvalidValue,
                    e.to_string(),
                )
            })?;
            grants.http_outbound.push(origin.into_inner());
        }
    }
    grants.env = raw.env.into_iter().collect();
    let sha256 = match &raw.sha256 {
        Some(text) if !wasm_cluster::deploy::is_digest(text.get_ref().trim()) => {
            return Err(source.error(
                text.span(),
                key("sha256"),
                Kind::InvalidValue,
                format!(
                    "the `sha256` of {id} must be `sha256:` and 64 lower-case hex digits, not `{}`",
                    text.get_ref()
                ),
            ));
        }
        Some(text) => Some(text.get_ref().trim().to_owned()),
        None => None,
    };
    Ok(ComponentEntry {
        hosts: labels(source, &key("hosts"), &raw.hosts)?,
        sha256,
        id,
        path: dir.join(raw.path.get_ref()),
        grants,
        limits: limits(source, &key("limits"), raw.limits)?,
        config_data: raw.config.map(String::into_bytes),
        mailbox: raw
            .mailbox
            .as_ref()
            .map(|m| size(source, &key("mailbox"), m))
            .transpose()?,
        neighbour: raw
            .neighbour
            .as_ref()
            .map(|n| component_id(source, &key("neighbour"), n))
            .transpose()?,
        restart: match raw.restart {
            None | Some(RawRestart::Permanent) => RestartPolicy::Permanent,
            Some(RawRestart::Transient) => RestartPolicy::Transient,
            Some(RawRestart::Temporary) => RestartPolicy::Temporary,
        },
        path_at: source.position(raw.path.span().start),
        at: source.position(raw.id.span().start),
    })
}

fn target_pattern(source: &Source<'_>, key: &str, pattern: &Spanned<String>) -> Result<()> {
    let text = pattern.get_ref();
    let parsed = IdPattern::parse(text)
        .map_err(|e| source.error(pattern.span(), key, Kind::InvalidPattern, e.to_string()))?;
    if !parsed.can_match_component_id() {
        return Err(source.error(
            pattern.span(),
            key,
            Kind::InvalidPattern,
            wasm_security::Error::NeverMatches {
                pattern: text.clone(),
            }
            .to_string(),
        ));
    }
    Ok(())
}

/// `*`, `*:port`, an IP address, or `ip:port` (`[v6]:port`).
fn network_host(source: &Source<'_>, key: &str, host: &Spanned<String>) -> Result<NetworkGrant> {
    let text = host.get_ref().trim();
    let bad = |why: &str| {
        source.error(
            host.span(),
            key,
            Kind::InvalidValue,
            format!("invalid network host `{text}`: {why}"),
        )
    };
    if text == "*" {
        return Ok(NetworkGrant {
            host: "*".into(),
            port: None,
        });
    }
    if let Some(port) = text.strip_prefix("*:") {
        let port = port
            .parse()
            .map_err(|_| bad("the port must be a number from 0 to 65535"))?;
        return Ok(NetworkGrant {
            host: "*".into(),
            port: Some(port),
        });
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(NetworkGrant {
            host: addr.ip().to_string(),
            port: Some(addr.port()),
        });
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(NetworkGrant {
            host: ip.to_string(),
            port: None,
        });
    }
    Err(bad("expected `*`, `*:port`, an IP address or `ip:port`"))
}
