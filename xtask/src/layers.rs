//! The layer rule: which of our crates may depend on which, and who may use wasmtime.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::run;

/// Each layer crate and the layer crates it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    ("wasm-core", &[]),
    ("wasm-security", &["wasm-core"]),
    ("wasm-runtime", &["wasm-core", "wasm-security"]),
    (
        "wasm-actor",
        &["wasm-core", "wasm-runtime", "wasm-security"],
    ),
    (
        "wasm-cluster",
        &["wasm-core", "wasm-security", "wasm-actor"],
    ),
    (
        "wasm-host",
        &[
            "wasm-core",
            "wasm-security",
            "wasm-runtime",
            "wasm-actor",
            "wasm-cluster",
        ],
    ),
];

/// The only crate that may talk NATS.
const NATS_CLIENT: &str = "wasm-cluster";

/// The only crate that may run wasm.
const WASM_RUNNER: &str = "wasm-runtime";

/// Checks the workspace's `cargo metadata`.
pub fn check_workspace() -> Result<()> {
    let cargo = run::cargo_program();
    let text = run::output(&cargo, &["metadata", "--format-version", "1", "--no-deps"])?;
    let metadata: Value = serde_json::from_str(&text).context("parsing cargo metadata")?;
    let broken = violations(&metadata);
    if !broken.is_empty() {
        bail!("the layer rule is broken:\n  {}", broken.join("\n  "));
    }
    println!("xtask: layer rule holds for {} crates", ALLOWED.len());
    Ok(())
}

/// Every normal or build dependency edge that breaks the rule, as `from -> to (why)`.
pub fn violations(metadata: &Value) -> Vec<String> {
    let mut broken = Vec::new();
    let packages = metadata["packages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for package in packages {
        let Some(name) = package["name"].as_str() else {
            continue;
        };
        let Some((_, allowed)) = ALLOWED.iter().find(|(layer, _)| *layer == name) else {
            continue;
        };
        let deps = package["dependencies"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for dep in deps {
            let kind = dep["kind"].as_str();
            if kind == Some("dev") {
                continue;
            }
            let Some(dep_name) = dep["name"].as_str() else {
                continue;
            };
            let is_layer = ALLOWED.iter().any(|(layer, _)| *layer == dep_name);
            if is_layer && !allowed.contains(&dep_name) {
                broken.push(format!("{name} -> {dep_name} (not an allowed layer edge)"));
            }
            if dep_name.starts_with("wasmtime") && name != WASM_RUNNER {
                broken.push(format!(
                    "{name} -> {dep_name} (only {WASM_RUNNER} may run wasm)"
                ));
            }
            if dep_name == "async-nats" && name != NATS_CLIENT {
                broken.push(format!(
                    "{name} -> async-nats (only {NATS_CLIENT} may talk NATS)"
                ));
            }
        }
    }
    broken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(edges: &[(&str, &str, Option<&str>)]) -> Value {
        let names = [
            "wasm-core",
            "wasm-security",
            "wasm-runtime",
            "wasm-actor",
            "wasm-cluster",
            "wasm-host",
        ];
        let packages: Vec<Value> = names
            .iter()
            .map(|name| {
                let deps: Vec<Value> = edges
                    .iter()
                    .filter(|(from, _, _)| from == name)
                    .map(|(_, to, kind)| serde_json::json!({ "name": to, "kind": kind }))
                    .collect();
                serde_json::json!({ "name": name, "dependencies": deps })
            })
            .collect();
        serde_json::json!({ "packages": packages })
    }

    const GOOD: &[(&str, &str, Option<&str>)] = &[
        ("wasm-security", "wasm-core", None),
        ("wasm-runtime", "wasm-core", None),
        ("wasm-runtime", "wasm-security", None),
        ("wasm-runtime", "wasmtime", None),
        ("wasm-actor", "wasm-runtime", None),
        ("wasm-host", "wasm-actor", None),
        ("wasm-cluster", "wasm-actor", None),
        ("wasm-cluster", "async-nats", None),
        ("wasm-host", "wasm-cluster", None),
        ("wasm-core", "thiserror", None),
    ];

    #[test]
    fn the_real_layering_passes() {
        assert!(violations(&metadata(GOOD)).is_empty());
    }

    #[test]
    fn an_edge_from_runtime_to_actor_fails_and_is_named() {
        let mut edges = GOOD.to_vec();
        edges.push(("wasm-runtime", "wasm-actor", None));
        assert_eq!(
            violations(&metadata(&edges)),
            vec!["wasm-runtime -> wasm-actor (not an allowed layer edge)"]
        );
    }

    #[test]
    fn core_depending_on_anything_of_ours_fails() {
        let mut edges = GOOD.to_vec();
        edges.push(("wasm-core", "wasm-security", Some("build")));
        assert_eq!(violations(&metadata(&edges)).len(), 1);
    }

    #[test]
    fn wasmtime_outside_the_runtime_fails_but_dev_edges_are_fine() {
        let mut edges = GOOD.to_vec();
        edges.push(("wasm-actor", "wasmtime", None));
        edges.push(("wasm-core", "wasm-host", Some("dev")));
        assert_eq!(
            violations(&metadata(&edges)),
            vec!["wasm-actor -> wasmtime (only wasm-runtime may run wasm)"]
        );
    }

    #[test]
    fn the_cluster_layer_may_not_run_wasm_and_only_it_talks_nats() {
        let mut edges = GOOD.to_vec();
        edges.push(("wasm-cluster", "wasm-runtime", None));
        edges.push(("wasm-actor", "async-nats", None));
        edges.push(("wasm-actor", "wasm-cluster", None));
        assert_eq!(
            violations(&metadata(&edges)),
            vec![
                "wasm-actor -> async-nats (only wasm-cluster may talk NATS)",
                "wasm-actor -> wasm-cluster (not an allowed layer edge)",
                "wasm-cluster -> wasm-runtime (not an allowed layer edge)",
            ]
        );
    }

    #[test]
    fn the_checked_in_workspace_passes() -> anyhow::Result<()> {
        let cargo = run::cargo_program();
        let text = run::output(&cargo, &["metadata", "--format-version", "1", "--no-deps"])?;
        let metadata: Value = serde_json::from_str(&text)?;
        assert_eq!(violations(&metadata), Vec::<String>::new());
        Ok(())
    }
}
