//! `validate <manifest>`: the manifest, every component file (valid component, exports the
//! lifecycle, imports only what the host provides) and every component's grants, checked
//! without running anything.

use std::fmt::Write as _;

use anyhow::Context;
use wasm_host::{ComponentEntry, Grants, Host, LoadedComponent, Manifest, MessagingAction};
use wasm_security::CapabilitySet;

use crate::args::ValidateArgs;
use crate::cache::Cache;
use crate::exit::{Outcome, from_host, invalid, runtime};

const MESSAGING: &str = "airssys:core/host-messaging@1.0.0";
const STORAGE: &str = "airssys:core/storage@1.0.0";

pub async fn validate(args: ValidateArgs, cache: &Cache) -> Outcome {
    let manifest = Manifest::from_file(&args.manifest).map_err(from_host)?;
    // The engine the manifest would run on (fuel metering included); storage stays in memory.
    // Checking joins no cluster: the manifest's `[cluster]` is validated, not used.
    let mut builder = Host::builder()
        .manifest_defaults(&manifest)
        .standalone()
        .no_admin()
        .memory_storage();
    if let Some(dir) = cache {
        builder = builder.cache_dir(dir);
    }
    let host = builder.build().map_err(runtime)?;
    let checked = manifest.check(host.engine());
    let handlers = manifest.check_handlers(host.engine());
    host.shutdown().await.map_err(runtime)?;
    let loaded = checked.map_err(from_host)?;
    handlers.map_err(from_host)?;
    let mut out = String::new();
    for (entry, component) in manifest.components().iter().zip(&loaded) {
        CapabilitySet::compile(entry.id.clone(), &entry.grants)
            .with_context(|| {
                format!(
                    "{}: the capabilities of {} are invalid",
                    manifest.file().display(),
                    entry.id
                )
            })
            .map_err(invalid)?;
        describe(&mut out, entry, component);
    }
    for entry in &manifest.http().handlers {
        CapabilitySet::compile(entry.id.clone(), &entry.grants)
            .with_context(|| {
                format!(
                    "{}: the capabilities of handler {} are invalid",
                    manifest.file().display(),
                    entry.id
                )
            })
            .map_err(invalid)?;
    }
    let http = manifest.http();
    let http = if http.handlers.is_empty() && http.routes.is_empty() {
        String::new()
    } else {
        format!(
            ", {} HTTP handlers, {} HTTP routes",
            http.handlers.len(),
            http.routes.len()
        )
    };
    println!(
        "{}: ok ({} components, {} groups{http})",
        manifest.file().display(),
        manifest.components().len(),
        manifest.groups().len(),
    );
    print!("{out}");
    Ok(())
}

fn describe(out: &mut String, entry: &ComponentEntry, component: &LoadedComponent) {
    let shape = component.shape();
    let (wasi, airssys): (Vec<&String>, Vec<&String>) =
        shape.imports.iter().partition(|i| i.starts_with("wasi:"));
    let _ = writeln!(out, "{}: {}", entry.id, entry.path.display());
    let _ = writeln!(out, "  exports: {}", shape.exports.join(", "));
    let airssys: Vec<&str> = airssys.iter().map(|s| s.as_str()).collect();
    let _ = writeln!(
        out,
        "  imports: {} (+ {} wasi interfaces)",
        if airssys.is_empty() {
            "-".to_owned()
        } else {
            airssys.join(", ")
        },
        wasi.len()
    );
    let _ = writeln!(out, "  grants: {}", grants_text(&entry.grants));
    if airssys.contains(&MESSAGING) && entry.grants.messaging.is_empty() {
        let _ = writeln!(
            out,
            "  note: imports host-messaging but is granted no messaging: every send is denied"
        );
    }
    if airssys.contains(&STORAGE) && entry.grants.storage.is_none() {
        let _ = writeln!(
            out,
            "  note: imports storage but is granted none: every storage call is denied"
        );
    }
}

/// The grants in one line, e.g. `send orders/ledger/1; storage read,write (65536 bytes, 256 keys)`.
pub fn grants_text(grants: &Grants) -> String {
    let mut parts = Vec::new();
    for grant in &grants.messaging {
        let actions: Vec<&str> = grant
            .actions
            .iter()
            .map(|a| match a {
                MessagingAction::Send => "send",
                MessagingAction::Request => "request",
                MessagingAction::Broadcast => "broadcast",
            })
            .collect();
        parts.push(format!("{} {}", actions.join(","), grant.targets));
    }
    if let Some(storage) = &grants.storage {
        let ops: Vec<&str> = [
            (storage.read, "read"),
            (storage.write, "write"),
            (storage.delete, "delete"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        parts.push(format!(
            "storage {} ({} bytes, {} keys)",
            ops.join(","),
            storage.quota.max_bytes,
            storage.quota.max_keys
        ));
    }
    for dir in &grants.filesystem {
        parts.push(format!(
            "filesystem {} at {} ({:?})",
            dir.host_path.display(),
            dir.guest_path,
            dir.access
        ));
    }
    for net in &grants.network {
        let port = net.port.map_or("*".to_owned(), |p| p.to_string());
        parts.push(format!("network {}:{port}", net.host));
    }
    if !grants.env.is_empty() {
        let names: Vec<&str> = grants.env.iter().map(|(k, _)| k.as_str()).collect();
        parts.push(format!("env {}", names.join(",")));
    }
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join("; ")
    }
}
