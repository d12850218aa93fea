//! From the manifest as written to the validated model: every value checked, every error at
//! its position.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use wasm_actor::{Intensity, RestartPolicy, Strategy};
use wasm_core::{ComponentId, StorageQuota};
use wasm_security::{
    FilesystemGrant, FsAccess, Grants, IdPattern, MessagingAction, MessagingGrant, NetworkGrant,
    StorageGrant,
};

use super::raw::{
    RawComponent, RawFsMode, RawGroup, RawHost, RawLimits, RawManifest, RawRestart, RawRoute,
    RawStrategy,
};
use wasm_cluster::ClusterConfig;

use super::source::{Source, manifest_error};
use super::{
    CLUSTER_STORAGE, ComponentEntry, GroupEntry, HostSection, HttpSection, LimitOverrides,
    MEMORY_STORAGE, RouteEntry, StorageLocation,
};
use crate::error::{ManifestErrorKind as Kind, Result};

type Built = (
    HostSection,
    Option<ClusterConfig>,
    Vec<ComponentEntry>,
    Vec<GroupEntry>,
    HttpSection,
);

pub(crate) fn build(source: &Source<'_>, dir: &Path, raw: RawManifest) -> Result<Built> {
    let storage_span = raw.host.storage.as_ref().map(Spanned::span);
    let host = host(source, dir, raw.host)?;
    let cluster = super::cluster::cluster(source, dir, raw.cluster)?;
    if let (Some(StorageLocation::Cluster), None, Some(span)) =
        (&host.storage, &cluster, storage_span)
    {
        return Err(source.error(
            span,
            "host.storage",
            Kind::InvalidValue,
            format!(
                "`host.storage = \"{CLUSTER_STORAGE}\"` keeps storage in the cluster, and this manifest has no `[cluster]` section (a file named `{CLUSTER_STORAGE}` is written `./{CLUSTER_STORAGE}`)"
            ),
        ));
    }
    let mut components: Vec<ComponentEntry> = Vec::with_capacity(raw.components.len());
    let mut neighbours = Vec::new();
    for (i, entry) in raw.components.into_iter().enumerate() {
        let entry = entry.into_inner();
        if let Some(neighbour) = &entry.neighbour {
            neighbours.push((i, neighbour.clone()));
        }
        let entry = component(source, dir, i, entry)?;
        if let Some(first) = components.iter().find(|c| c.id == entry.id) {
            return Err(manifest_error(
                source.file,
                entry.at,
                format!("components[{i}].id"),
                Kind::Duplicate,
                format!(
                    "duplicate component id `{}` (first defined at line {})",
                    entry.id, first.at.line
                ),
            ));
        }
        components.push(entry);
    }
    for (i, neighbour) in &neighbours {
        let key = format!("components[{i}].neighbour");
        let id = component_id(source, &key, neighbour)?;
        if !components.iter().any(|c| c.id == id) {
            return Err(source.error(
                neighbour.span(),
                key,
                Kind::UnknownComponent,
                format!("neighbour `{id}` is not defined by any `[[components]]` entry"),
            ));
        }
    }
    let mut groups: Vec<GroupEntry> = Vec::with_capacity(raw.groups.len());
    let mut member_of: HashMap<ComponentId, String> = HashMap::new();
    for (g, raw_group) in raw.groups.into_iter().enumerate() {
        let raw_group = raw_group.into_inner();
        let name_span = raw_group.name.span();
        let group = group(source, g, raw_group, &components, &mut member_of)?;
        if groups.iter().any(|other| other.name == group.name) {
            return Err(source.error(
                name_span,
                format!("groups[{g}].name"),
                Kind::Duplicate,
                format!("duplicate group name `{}`", group.name),
            ));
        }
        groups.push(group);
    }
    let http = http(source, dir, raw.handlers, raw.http, &components)?;
    Ok((host, cluster, components, groups, http))
}

/// `[[handlers]]` and `[[http]]`.
fn http(
    source: &Source<'_>,
    dir: &Path,
    raw_handlers: Vec<Spanned<RawComponent>>,
    raw_routes: Vec<Spanned<RawRoute>>,
    components: &[ComponentEntry],
) -> Result<HttpSection> {
    let mut handlers: Vec<ComponentEntry> = Vec::with_capacity(raw_handlers.len());
    for (i, raw) in raw_handlers.into_iter().enumerate() {
        let entry = entry(source, dir, "handlers", i, raw.into_inner())?;
        if let Some(first) = components
            .iter()
            .chain(handlers.iter())
            .find(|c| c.id == entry.id)
        {
            return Err(manifest_error(
                source.file,
                entry.at,
                format!("handlers[{i}].id"),
                Kind::Duplicate,
                format!(
                    "duplicate component id `{}` (first defined at line {})",
                    entry.id, first.at.line
                ),
            ));
        }
        handlers.push(entry);
    }
    let mut routes = Vec::with_capacity(raw_routes.len());
    for (i, raw) in raw_routes.into_iter().enumerate() {
        let raw = raw.into_inner();
        let key = format!("http[{i}].component");
        let component = component_id(source, &key, &raw.component)?;
        if !components
            .iter()
            .chain(handlers.iter())
            .any(|c| c.id == component)
        {
            return Err(source.error(
                raw.component.span(),
                key,
                Kind::UnknownComponent,
                format!(
                    "route `{}` leads to `{component}`, which no `[[components]]` or `[[handlers]]` entry defines",
                    raw.route.get_ref()
                ),
            ));
        }
        routes.push((raw.route, component));
    }
    // Route syntax and duplicates, each error at the route's own line.
    if let Err(e) = crate::ingress::RouteTable::new(
        routes
            .iter()
            .map(|(route, _)| (route.get_ref().clone(), ())),
    ) && let Some((route, _)) = routes.get(e.index)
    {
        return Err(source.error(
            route.span(),
            format!("http[{}].route", e.index),
            if e.reason.contains("same paths") {
                Kind::Duplicate
            } else {
                Kind::InvalidValue
            },
            e.reason,
        ));
    }
    Ok(HttpSection {
        handlers,
        routes: routes
            .into_iter()
            .map(|(route, component)| RouteEntry {
                at: source.position(route.span().start),
                route: route.into_inner(),
                component,
            })
            .collect(),
    })
}

fn positive(source: &Source<'_>, key: &str, value: &Spanned<u64>) -> Result<u64> {
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

fn size(source: &Source<'_>, key: &str, value: &Spanned<u64>) -> Result<usize> {
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

fn shards(source: &Source<'_>, value: &Spanned<u64>) -> Result<usize> {
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

fn millis(
    source: &Source<'_>,
    key: &str,
    value: &Option<Spanned<u64>>,
) -> Result<Option<Duration>> {
    value
        .as_ref()
        .map(|v| positive(source, key, v).map(Duration::from_millis))
        .transpose()
}

fn host(source: &Source<'_>, dir: &Path, raw: RawHost) -> Result<HostSection> {
    let storage = match raw.storage {
        None => None,
        Some(s) if s.get_ref() == MEMORY_STORAGE => Some(StorageLocation::Memory),
        Some(s) if s.get_ref() == CLUSTER_STORAGE => Some(StorageLocation::Cluster),
        Some(s) if s.get_ref().trim().is_empty() => {
            return Err(source.error(
                s.span(),
                "host.storage",
                Kind::InvalidValue,
                format!(
                    "`host.storage` must be a file path, `{MEMORY_STORAGE}` or `{CLUSTER_STORAGE}`"
                ),
            ));
        }
        Some(s) => Some(StorageLocation::File(dir.join(s.get_ref()))),
    };
    Ok(HostSection {
        storage,
        mailbox: raw
            .mailbox
            .as_ref()
            .map(|m| size(source, "host.mailbox", m))
            .transpose()?,
        health_interval: millis(source, "host.health_interval_ms", &raw.health_interval_ms)?,
        shutdown_deadline: millis(
            source,
            "host.shutdown_deadline_ms",
            &raw.shutdown_deadline_ms,
        )?,
        request_timeout: millis(source, "host.request_timeout_ms", &raw.request_timeout_ms)?,
        shards: raw.shards.as_ref().map(|n| shards(source, n)).transpose()?,
        limits: limits(source, "host.limits", raw.limits)?,
        admin: raw
            .admin
            .map(|a| {
                a.get_ref().parse().map_err(|e| {
                    source.error(
                        a.span(),
                        "host.admin",
                        Kind::InvalidValue,
                        format!(
                            "`host.admin` must be an address with a port, like \"127.0.0.1:9100\": `{}` is not ({e})",
                            a.get_ref()
                        ),
                    )
                })
            })
            .transpose()?,
        http: raw
            .http
            .map(|a| {
                a.get_ref().parse().map_err(|e| {
                    source.error(
                        a.span(),
                        "host.http",
                        Kind::InvalidValue,
                        format!(
                            "`host.http` must be an address with a port, like \"127.0.0.1:8080\": `{}` is not ({e})",
                            a.get_ref()
                        ),
                    )
                })
            })
            .transpose()?,
        http_max_body: raw
            .http_max_body
            .as_ref()
            .map(|n| size(source, "host.http_max_body", n))
            .transpose()?,
        http_concurrency: raw
            .http_concurrency
            .as_ref()
            .map(|n| size(source, "host.http_concurrency", n))
            .transpose()?,
    })
}

fn limits(source: &Source<'_>, prefix: &str, raw: Option<RawLimits>) -> Result<LimitOverrides> {
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

fn component_id(source: &Source<'_>, key: &str, text: &Spanned<String>) -> Result<ComponentId> {
    text.get_ref().parse().map_err(|e: wasm_core::Error| {
        source.error(text.span(), key, Kind::InvalidId, e.to_string())
    })
}

/// `hosts = ["zone=a", ...]`: each a `key=value` label.
fn labels(source: &Source<'_>, key: &str, raw: &[Spanned<String>]) -> Result<Vec<String>> {
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

fn component(
    source: &Source<'_>,
    dir: &Path,
    i: usize,
    raw: RawComponent,
) -> Result<ComponentEntry> {
    entry(source, dir, "components", i, raw)
}

/// One entry of `[[components]]` or `[[handlers]]` (`table`).
fn entry(
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

fn group(
    source: &Source<'_>,
    g: usize,
    raw: RawGroup,
    components: &[ComponentEntry],
    member_of: &mut HashMap<ComponentId, String>,
) -> Result<GroupEntry> {
    let key = |k: &str| format!("groups[{g}].{k}");
    let name = raw.name.get_ref().trim().to_owned();
    if name.is_empty() {
        return Err(source.error(
            raw.name.span(),
            key("name"),
            Kind::InvalidValue,
            "a group name must not be empty",
        ));
    }
    if raw.members.get_ref().is_empty() {
        return Err(source.error(
            raw.members.span(),
            key("members"),
            Kind::InvalidValue,
            format!("group `{name}` has no members"),
        ));
    }
    let mut members = Vec::new();
    for member in raw.members.get_ref() {
        let id = component_id(source, &key("members"), member)?;
        if !components.iter().any(|c| c.id == id) {
            return Err(source.error(
                member.span(),
                key("members"),
                Kind::UnknownComponent,
                format!("group `{name}` names `{id}`, which no `[[components]]` entry defines"),
            ));
        }
        if let Some(other) = member_of.insert(id.clone(), name.clone()) {
            let (kind, message) = if other == name {
                (
                    Kind::Duplicate,
                    format!("group `{name}` lists `{id}` twice"),
                )
            } else {
                (
                    Kind::InTwoGroups,
                    format!(
                        "`{id}` is already a member of group `{other}`; a component belongs to one group"
                    ),
                )
            };
            return Err(source.error(member.span(), key("members"), kind, message));
        }
        members.push(id);
    }
    let default = Intensity::default();
    let intensity = match raw.intensity {
        None => default,
        Some(i) => Intensity {
            max_restarts: i.max_restarts.unwrap_or(default.max_restarts),
            window: millis(source, &key("intensity.window_ms"), &i.window_ms)?
                .unwrap_or(default.window),
            backoff_base: i
                .backoff_base_ms
                .map_or(default.backoff_base, Duration::from_millis),
            backoff_max: i
                .backoff_max_ms
                .map_or(default.backoff_max, Duration::from_millis),
        },
    };
    Ok(GroupEntry {
        hosts: labels(source, &key("hosts"), &raw.hosts)?,
        name,
        strategy: match raw.strategy {
            RawStrategy::OneForOne => Strategy::OneForOne,
            RawStrategy::OneForAll => Strategy::OneForAll,
            RawStrategy::RestForOne => Strategy::RestForOne,
        },
        intensity,
        members,
    })
}
