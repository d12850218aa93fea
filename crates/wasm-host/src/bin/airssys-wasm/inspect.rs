//! `inspect <file.wasm>`: what a component imports and exports, and its `metadata`, read by
//! instantiating it with no grants at all (nothing it does can reach anything).

use std::sync::Arc;

use anyhow::Context;
use wasm_host::{ComponentId, ComponentShape, EngineConfig, ResourceLimits, WasmEngine};
use wasm_runtime::{ComponentInstance, HostServices, InstanceSpec};
use wasm_security::CapabilitySet;

use crate::args::InspectArgs;
use crate::cache::Cache;
use crate::exit::{Outcome, invalid, runtime};

pub async fn inspect(args: InspectArgs, cache: &Cache) -> Outcome {
    let path = &args.component;
    let name = path.display().to_string();
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read {name}"))
        .map_err(invalid)?;
    let shape = ComponentShape::read(&name, &bytes).map_err(invalid)?;
    let engine = WasmEngine::new(EngineConfig {
        cache_dir: cache.clone(),
        ..EngineConfig::default()
    })
    .map_err(runtime)?;
    let loaded = engine.loader().load_bytes(&name, &bytes).map_err(invalid)?;
    let spec = InstanceSpec {
        capabilities: Arc::new(CapabilitySet::deny_all(ComponentId::host())),
        services: HostServices::standalone(),
        limits: ResourceLimits::default(),
    };
    let mut instance = ComponentInstance::instantiate(&engine, &loaded, spec)
        .await
        .with_context(|| format!("cannot instantiate {name}"))
        .map_err(invalid)?;
    let metadata = instance
        .metadata()
        .await
        .with_context(|| format!("{name}: its `metadata` export failed"))
        .map_err(invalid)?;
    println!("component: {name} ({} bytes)", bytes.len());
    println!("exports:");
    for export in &shape.exports {
        println!("  {export}");
    }
    println!("imports:");
    for import in &shape.imports {
        println!("  {import}");
    }
    println!("metadata:");
    println!("  name: {}", metadata.name);
    println!("  version: {}", metadata.version);
    println!("  description: {}", metadata.description);
    println!("  author: {}", metadata.author);
    println!("  license: {}", metadata.license);
    println!("  operations: {}", metadata.supported_operations.join(", "));
    println!("  stateful: {}", metadata.stateful);
    Ok(())
}
