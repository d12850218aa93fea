//! `new <dir> --lang rust|python|js`: writes a component project that builds with one command
//! and runs with `airssys-wasm call`, with a manifest next to it and the contract's WIT
//! (`wit/`) copied in, so it builds anywhere.

use std::path::Path;

use anyhow::{Context, anyhow};

use crate::args::{Lang, NewArgs};
use crate::exit::{Outcome, invalid, runtime};

/// The contract, as this command was built with it.
const WIT: &[(&str, &str)] = &[
    ("world.wit", include_str!("../../../../../wit/world.wit")),
    ("types.wit", include_str!("../../../../../wit/types.wit")),
    ("errors.wit", include_str!("../../../../../wit/errors.wit")),
    (
        "component-lifecycle.wit",
        include_str!("../../../../../wit/component-lifecycle.wit"),
    ),
    (
        "host-messaging.wit",
        include_str!("../../../../../wit/host-messaging.wit"),
    ),
    (
        "host-services.wit",
        include_str!("../../../../../wit/host-services.wit"),
    ),
    (
        "storage.wit",
        include_str!("../../../../../wit/storage.wit"),
    ),
];

pub async fn new(args: NewArgs) -> Outcome {
    let dir = &args.dir;
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(invalid(anyhow!(
            "{} exists and is not empty; `new` writes into a new or empty directory",
            dir.display()
        )));
    }
    let name = match &args.name {
        Some(name) => name.clone(),
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if !valid_name(&name) {
        return Err(invalid(anyhow!(
            "`{name}` is not a component name: use lowercase letters, digits and `-`, starting \
             with a letter (or pass --name)"
        )));
    }
    let files = match args.lang {
        Lang::Rust => rust(&name),
        Lang::Python => python(&name),
        Lang::Js => javascript(&name),
    };
    write(dir, &files).map_err(runtime)?;
    let build = build_command(args.lang);
    println!(
        "created {} ({}, component `app/{name}/1`)\n\nbuild it:\n  cd {}\n  {build}\nrun it:\n  \
         airssys-wasm call airssys.toml app/{name}/1 hello",
        dir.display(),
        lang_name(args.lang),
        dir.display(),
    );
    Ok(())
}

/// The one command that builds a scaffolded project, from its directory.
pub fn build_command(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "cargo build --release --target wasm32-wasip2",
        Lang::Python => "componentize-py -d wit -w runtime-host componentize app -o app.wasm",
        Lang::Js => "npm install && npm run build",
    }
}

fn lang_name(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "Rust",
        Lang::Python => "Python",
        Lang::Js => "JavaScript",
    }
}

/// Lowercase letters, digits and `-`, starting with a letter: valid as a crate, a package
/// and a component id segment.
fn valid_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn write(dir: &Path, files: &[(String, String)]) -> anyhow::Result<()> {
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The WIT files, the manifest (naming `wasm`) and the README, common to every language.
fn common(name: &str, lang: Lang, wasm: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = WIT
        .iter()
        .map(|(file, text)| (format!("wit/{file}"), (*text).to_owned()))
        .collect();
    files.push((
        "airssys.toml".into(),
        format!(
            "# The system to run this component in: `airssys-wasm call airssys.toml app/{name}/1 hello`.\n\
             # The format is in airssys-wasm's docs/manifest.md.\n\n\
             [host]\nstorage = \":memory:\"\n\n\
             [[components]]\nid = \"app/{name}/1\"\npath = \"{wasm}\"\n\n\
             [components.capabilities.storage]\nread = true\nwrite = true\n"
        ),
    ));
    files.push((
        "README.md".into(),
        format!(
            "# {name}\n\nAn airssys-wasm component in {lang}, against the contract in `wit/` \
             (`airssys:core@1.0.0`, world `runtime-host`).\n\n\
             ```sh\n{build}\nairssys-wasm call airssys.toml app/{name}/1 hello\n```\n\n\
             It replies `{name}: <payload>` to a request and counts the requests it answered \
             in storage (`count`).\n",
            lang = lang_name(lang),
            build = build_command(lang),
        ),
    ));
    files
}

fn rust(name: &str) -> Vec<(String, String)> {
    let crate_file = name.replace('-', "_");
    let mut files = common(
        name,
        Lang::Rust,
        &format!("target/wasm32-wasip2/release/{crate_file}.wasm"),
    );
    files.push((
        "Cargo.toml".into(),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\n\
             [dependencies]\nwit-bindgen = \"0.61\"\n\n\
             # A project of its own, even inside another workspace.\n[workspace]\n"
        ),
    ));
    files.push((".gitignore".into(), "/target\n".into()));
    files.push((
        "src/lib.rs".into(),
        format!(
            r#"//! {name}: replies `{name}: <payload>` and counts the requests it answered.

wit_bindgen::generate!({{ path: "wit", world: "airssys:core/runtime-host" }});

use airssys::core::errors::{{ComponentError, WasmError}};
use airssys::core::storage;
use airssys::core::types::{{ComponentConfig, ComponentMessage, ComponentMetadata, HealthStatus}};
use exports::airssys::core::component_lifecycle::Guest;

struct Component;

impl Guest for Component {{
    fn initialize(_config: ComponentConfig) -> Result<(), ComponentError> {{
        Ok(())
    }}

    fn handle_message(msg: ComponentMessage) -> Result<Option<Vec<u8>>, WasmError> {{
        if msg.payload.is_empty() {{
            return Err(WasmError::RuntimeError("empty payload".into()));
        }}
        let count = storage::get("count")
            .ok()
            .flatten()
            .and_then(|v| String::from_utf8(v).ok()?.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        storage::set("count", count.to_string().as_bytes())
            .map_err(|e| WasmError::RuntimeError(format!("{{e:?}}")))?;
        let text = String::from_utf8_lossy(&msg.payload);
        Ok(Some(format!("{name}: {{text}}").into_bytes()))
    }}

    fn handle_callback(_msg: ComponentMessage) -> Result<(), WasmError> {{
        Ok(())
    }}

    fn metadata() -> ComponentMetadata {{
        ComponentMetadata {{
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "replies and counts".into(),
            author: String::new(),
            license: String::new(),
            supported_operations: vec!["<any payload>".into()],
            stateful: true,
        }}
    }}

    fn health() -> HealthStatus {{
        HealthStatus::Healthy
    }}

    fn shutdown() -> Result<(), ComponentError> {{
        Ok(())
    }}
}}

export!(Component);
"#
        ),
    ));
    files
}

fn python(name: &str) -> Vec<(String, String)> {
    let mut files = common(name, Lang::Python, "app.wasm");
    files.push((".gitignore".into(), "/app.wasm\n__pycache__/\n".into()));
    files.push((
        "app.py".into(),
        format!(
            r#""""{name}: replies `{name}: <payload>` and counts the requests it answered."""

from typing import Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import errors, storage, types


class ComponentLifecycle(exports.ComponentLifecycle):
    def initialize(self, config: types.ComponentConfig) -> None:
        return None

    def handle_message(self, msg: types.ComponentMessage) -> Optional[bytes]:
        stored = storage.get("count")
        count = int(bytes(stored).decode()) + 1 if stored is not None else 1
        storage.set("count", str(count).encode())
        text = bytes(msg.payload).decode("utf-8", errors="replace")
        if not text:
            raise Err(errors.WasmError_RuntimeError("empty payload"))
        return f"{name}: {{text}}".encode()

    def handle_callback(self, msg: types.ComponentMessage) -> None:
        return None

    def metadata(self) -> types.ComponentMetadata:
        return types.ComponentMetadata(
            "{name}", "0.1.0", "replies and counts", "", "", ["<any payload>"], True
        )

    def health(self) -> types.HealthStatus:
        return types.HealthStatus.HEALTHY

    def shutdown(self) -> None:
        return None
"#
        ),
    ));
    files
}

fn javascript(name: &str) -> Vec<(String, String)> {
    let mut files = common(name, Lang::Js, "app.wasm");
    files.push((".gitignore".into(), "/app.wasm\n/node_modules\n".into()));
    files.push((
        "package.json".into(),
        format!(
            r#"{{
  "name": "{name}",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "scripts": {{
    "build": "componentize-js app.js -w wit -n runtime-host -o app.wasm"
  }},
  "devDependencies": {{
    "@bytecodealliance/componentize-js": "0.23.0",
    "@bytecodealliance/jco": "1.35.0",
    "@bytecodealliance/preview2-shim": "0.25.0"
  }}
}}
"#
        ),
    ));
    files.push((
        "app.js".into(),
        format!(
            r#"// {name}: replies `{name}: <payload>` and counts the requests it answered.

import {{ get, set }} from 'airssys:core/storage@1.0.0';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const componentLifecycle = {{
  initialize(_config) {{}},

  handleMessage(msg) {{
    const stored = get('count');
    const count = stored === undefined ? 1 : parseInt(decoder.decode(stored), 10) + 1;
    set('count', encoder.encode(String(count)));
    const text = decoder.decode(msg.payload);
    if (text === '') {{
      throw {{ tag: 'runtime-error', val: 'empty payload' }};
    }}
    return encoder.encode(`{name}: ${{text}}`);
  }},

  handleCallback(_msg) {{}},

  metadata() {{
    return {{
      name: '{name}',
      version: '0.1.0',
      description: 'replies and counts',
      author: '',
      license: '',
      supportedOperations: ['<any payload>'],
      stateful: true,
    }};
  }},

  health() {{
    return 'healthy';
  }},

  shutdown() {{}},
}};
"#
        ),
    ));
    files
}
