//! `GET /v1/components[/{id}]`: what runs on the host, as JSON.

use serde_json::{Value, json};
use wasm_actor::{ComponentStatus, ERROR_KINDS};
use wasm_core::ComponentId;
use wasm_security::{FsAccess, Grants, MessagingAction};

use crate::state::Core;

/// Every component of the host (running, starting, restarting, and those the host stopped),
/// sorted by id.
pub(crate) fn list(core: &Core) -> Value {
    let mut all: Vec<(ComponentId, Value)> = core
        .system
        .registry()
        .ids()
        .into_iter()
        .filter_map(|id| core.system.status(&id).map(|s| (id, running(&s))))
        .collect();
    all.extend(core.stopped_ids().into_iter().map(|id| {
        let entry = stopped(&id);
        (id, entry)
    }));
    // HTTP ingress: each component's routes, and the handlers (run per request).
    let routes = core
        .ingress
        .lock()
        .as_ref()
        .map(|server| server.routes().to_vec())
        .unwrap_or_default();
    for listed in &routes {
        match all.iter_mut().find(|(id, _)| *id == listed.id) {
            Some((_, entry)) => add_route(entry, &listed.route),
            None if listed.kind == "handler" => {
                let mut entry = json!({ "id": listed.id.as_str(), "state": "handler" });
                add_route(&mut entry, &listed.route);
                all.push((listed.id.clone(), entry));
            }
            None => {}
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Array(all.into_iter().map(|(_, v)| v).collect())
}

fn add_route(entry: &mut Value, route: &str) {
    if let Some(object) = entry.as_object_mut() {
        let routes = object
            .entry("http_routes")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = routes.as_array_mut() {
            list.push(json!(route));
        }
    }
}

/// One component, or `None` if the host has none of this id.
pub(crate) fn show(core: &Core, id: &ComponentId) -> Option<Value> {
    match core.system.status(id) {
        Some(status) => Some(running(&status)),
        None => core.stopped_ids().contains(id).then(|| stopped(id)),
    }
}

fn stopped(id: &ComponentId) -> Value {
    json!({ "id": id.as_str(), "state": "stopped" })
}

fn running(status: &ComponentStatus) -> Value {
    let stats = &status.stats;
    let errors: serde_json::Map<String, Value> = ERROR_KINDS
        .iter()
        .zip(stats.errors)
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| ((*kind).to_owned(), json!(n)))
        .collect();
    let denials: serde_json::Map<String, Value> = stats
        .capability_denials
        .iter()
        .map(|(capability, n)| ((*capability).to_owned(), json!(n)))
        .collect();
    json!({
        "id": status.info.id.as_str(),
        "name": status.info.name,
        "version": status.info.version,
        "health": status.info.health,
        "state": status.state.as_str(),
        "mailbox": { "depth": status.queued, "capacity": status.capacity },
        "shard": status.shard,
        "messages_handled": stats.messages_handled,
        "callbacks_handled": stats.callbacks_handled,
        "requests_answered": stats.requests_answered,
        "errors": errors,
        "restarts": stats.restarts,
        "dead_letters": stats.dead_letters,
        "capability_denials": denials,
        "cpu_seconds": stats.cpu_time.as_secs_f64(),
        "memory_bytes": stats.memory_bytes,
        "grants": grants(&status.grants),
    })
}

/// Grants as the manifest writes them (environment variable values left out: they may be
/// secrets; their names are shown).
fn grants(grants: &Grants) -> Value {
    let action = |a: &MessagingAction| match a {
        MessagingAction::Send => "send",
        MessagingAction::Request => "request",
        MessagingAction::Broadcast => "broadcast",
    };
    json!({
        "messaging": grants.messaging.iter().map(|g| json!({
            "targets": g.targets,
            "actions": g.actions.iter().map(action).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "storage": grants.storage.as_ref().map(|s| json!({
            "read": s.read,
            "write": s.write,
            "delete": s.delete,
            "max_bytes": s.quota.max_bytes,
            "max_keys": s.quota.max_keys,
        })),
        "filesystem": grants.filesystem.iter().map(|f| json!({
            "host": f.host_path.display().to_string(),
            "guest": f.guest_path,
            "access": match f.access {
                FsAccess::Read => "read",
                FsAccess::ReadWrite => "read-write",
            },
        })).collect::<Vec<_>>(),
        "network": grants.network.iter().map(|n| match n.port {
            Some(port) => format!("{}:{port}", n.host),
            None => format!("{}:*", n.host),
        }).collect::<Vec<_>>(),
        "http_outbound": grants.http_outbound,
        "env": grants.env.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        "discover": grants.discover,
    })
}
