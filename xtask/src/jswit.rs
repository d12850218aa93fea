//! The `wasi:http` WIT that componentize-js's engine was built against.
//!
//! A componentize-js `fetch` handler must name, in its world, the exact `wasi:http` version
//! the StarlingMonkey engine exports (0.2.10 for componentize-js 0.23), and no registry we can
//! reach serves that WIT. The engine carries it, though: its `component-type` custom section
//! holds every interface it binds. This module reads that section and writes those packages
//! out as WIT, with a world that exports the engine's `wasi:http/incoming-handler`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wit_component::WitPrinter;

/// The WIT package name `wasi:http`.
const HTTP: &str = "wasi:http";

/// The world (in package `airssys:js-fetch`) a JavaScript `fetch` handler is built for.
pub const WORLD: &str = "fetch";

/// Writes the WIT (once per engine) under `target/tools/js/fetch-wit` and returns that
/// directory: `world.wit` with world [`WORLD`], and `deps/<package>.wit` for each package the
/// engine binds.
pub fn fetch_world(tools_dir: &Path) -> Result<PathBuf> {
    let engine = tools_dir
        .join("node_modules/@bytecodealliance/componentize-js/lib/starlingmonkey_embedding.wasm");
    let out = tools_dir.join("fetch-wit");
    let world = out.join("world.wit");
    let engine_time = fs::metadata(&engine)
        .and_then(|m| m.modified())
        .with_context(|| format!("reading {}", engine.display()))?;
    if fs::metadata(&world)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= engine_time)
    {
        return Ok(out);
    }
    let bytes = fs::read(&engine).with_context(|| format!("reading {}", engine.display()))?;
    let (_, bindgen) = wit_component::metadata::decode(&bytes)
        .with_context(|| format!("decoding the WIT bound by {}", engine.display()))?;
    let resolve = &bindgen.resolve;
    let deps = out.join("deps");
    if deps.exists() {
        fs::remove_dir_all(&deps).with_context(|| format!("clearing {}", deps.display()))?;
    }
    fs::create_dir_all(&deps).with_context(|| format!("creating {}", deps.display()))?;
    let mut http_version = None;
    for (id, package) in resolve.packages.iter() {
        let name = &package.name;
        let full = name.to_string();
        if full.starts_with(HTTP) {
            http_version = name.version.clone();
        }
        if !full.starts_with("wasi:") {
            continue;
        }
        let mut printer = WitPrinter::default();
        printer
            .print(resolve, id, &[])
            .with_context(|| format!("printing {full}"))?;
        let file = deps.join(format!("{}-{}.wit", name.namespace, name.name));
        fs::write(&file, printer.output.to_string())
            .with_context(|| format!("writing {}", file.display()))?;
    }
    let Some(version) = http_version else {
        bail!(
            "{} binds no {HTTP} package: this componentize-js cannot build a fetch handler",
            engine.display()
        );
    };
    fs::write(
        &world,
        format!(
            "package airssys:js-fetch;\n\n/// A `fetch` handler: the engine's own `wasi:http` export.\nworld {WORLD} {{\n    export {HTTP}/incoming-handler@{version};\n}}\n"
        ),
    )
    .with_context(|| format!("writing {}", world.display()))?;
    println!(
        "xtask: the {HTTP}@{version} WIT of the componentize-js engine is in {}",
        out.display()
    );
    Ok(out)
}
