//! From the manifest as written to the validated model: every value checked, every error at
//! its position.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use wasm_actor::{Intensity, Strategy};
use wasm_core::ComponentId;

use super::raw::{RawComponent, RawGroup, RawHost, RawManifest, RawRoute, RawStrategy};
use wasm_cluster::ClusterConfig;

use super::source::{Source, manifest_error};
use super::{
    CLUSTER_STORAGE, ComponentEntry, GroupEntry, HostSection, HttpSection, MEMORY_STORAGE,
    RouteEntry, StorageLocation,
};
use crate::error::{ManifestErrorKind as Kind, Result};

use super::check::{component_id, labels, millis, shards, size};
use super::entry::{component, entry, limits};

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
