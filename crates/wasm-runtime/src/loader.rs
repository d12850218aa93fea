//! Loading components: validate first, with errors that name the problem, then compile once.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use wasmparser::{Encoding, Parser, Payload, Validator, WasmFeatures};
use wasmtime::component::Component;

use crate::bindings::{RuntimeHostIndices, RuntimeHostPre};
use crate::cache::{ContentHash, content_hash};
use crate::engine::WasmEngine;
use crate::error::{Error, Result, boxed};
use crate::handoff::HandoffExports;
use crate::state::ComponentState;

/// The interface every component must export.
pub const LIFECYCLE_EXPORT: &str = "airssys:core/component-lifecycle@1.0.0";

/// The airssys interfaces this host provides to components (WASI 0.2 comes in addition).
const HOST_INTERFACES: [&str; 6] = [
    "airssys:core/types@1.0.0",
    "airssys:core/errors@1.0.0",
    "airssys:core/host-messaging@1.0.0",
    "airssys:core/host-services@1.0.0",
    "airssys:core/storage@1.0.0",
    "airssys:core/calls@1.1.0",
];

/// The top-level imports and exports of a component, read without compiling it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComponentShape {
    /// Names of the top-level imports (for example `wasi:cli/environment@0.2.0`).
    pub imports: Vec<String>,
    /// Names of the top-level exports.
    pub exports: Vec<String>,
}

impl ComponentShape {
    /// Reads the shape of `bytes` after checking that they are a valid component.
    ///
    /// `name` labels the bytes in errors (usually the file name).
    ///
    /// # Errors
    ///
    /// [`Error::NotWasm`], [`Error::CoreModule`] or [`Error::Invalid`].
    pub fn read(name: &str, bytes: &[u8]) -> Result<Self> {
        check_header(name, bytes)?;
        Validator::new_with_features(WasmFeatures::all())
            .validate_all(bytes)
            .map_err(|e| Error::Invalid {
                name: name.to_owned(),
                detail: e.to_string(),
            })?;
        let mut shape = Self::default();
        let mut depth = 0usize;
        for payload in Parser::new(0).parse_all(bytes) {
            let payload = payload.map_err(|e| Error::Invalid {
                name: name.to_owned(),
                detail: e.to_string(),
            })?;
            match payload {
                Payload::Version { .. } => depth += 1,
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::ComponentImportSection(reader) if depth == 1 => {
                    for import in reader.into_iter().flatten() {
                        shape.imports.push(import.name.name.to_owned());
                    }
                }
                Payload::ComponentExportSection(reader) if depth == 1 => {
                    for export in reader.into_iter().flatten() {
                        shape.exports.push(export.name.name.to_owned());
                    }
                }
                _ => {}
            }
        }
        Ok(shape)
    }

    /// Whether the component exports the lifecycle interface.
    pub fn exports_lifecycle(&self) -> bool {
        self.exports.iter().any(|e| e == LIFECYCLE_EXPORT)
    }

    /// The first import this host does not provide, if any. WASI 0.2 interfaces are
    /// checked by the linker, which names any it lacks.
    pub fn unknown_import(&self) -> Option<&str> {
        self.imports
            .iter()
            .map(String::as_str)
            .find(|i| !i.starts_with("wasi:") && !HOST_INTERFACES.contains(i))
    }
}

/// Rejects bytes that are not wasm, and core modules, with a message that says what to do.
fn check_header(name: &str, bytes: &[u8]) -> Result<()> {
    let not_wasm = |detail: &str| Error::NotWasm {
        name: name.to_owned(),
        detail: detail.to_owned(),
    };
    if bytes.is_empty() {
        return Err(not_wasm("the file is empty"));
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(not_wasm("it does not start with the `\\0asm` magic number"));
    }
    match Parser::new(0).parse(bytes, true) {
        Ok(wasmparser::Chunk::Parsed {
            payload:
                Payload::Version {
                    encoding: Encoding::Module,
                    ..
                },
            ..
        }) => Err(Error::CoreModule {
            name: name.to_owned(),
        }),
        Ok(_) => Ok(()),
        Err(e) => Err(not_wasm(&e.to_string())),
    }
}

/// A validated, compiled and linked component, ready to instantiate many times.
///
/// Cheap to clone.
#[derive(Clone)]
pub struct LoadedComponent {
    inner: Arc<Loaded>,
}

struct Loaded {
    name: String,
    hash: ContentHash,
    shape: ComponentShape,
    pre: RuntimeHostPre<ComponentState>,
    /// Where the world's exports are, found once.
    indices: RuntimeHostIndices,
    handoff: Option<HandoffExports>,
}

impl fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("name", &self.inner.name)
            .field("shape", &self.inner.shape)
            .finish_non_exhaustive()
    }
}

impl LoadedComponent {
    /// The label given when loading (usually the file name).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// SHA-256 of the component's bytes.
    pub fn content_hash(&self) -> &[u8; 32] {
        &self.inner.hash
    }

    /// Its top-level imports and exports.
    pub fn shape(&self) -> &ComponentShape {
        &self.inner.shape
    }

    pub(crate) fn pre(&self) -> &RuntimeHostPre<ComponentState> {
        &self.inner.pre
    }

    /// Whether it exports the state hand-off of 1.1.0 ([`crate::HANDOFF_EXPORT`]).
    pub fn hands_off_state(&self) -> bool {
        self.inner.handoff.is_some()
    }

    pub(crate) fn indices(&self) -> &RuntimeHostIndices {
        &self.inner.indices
    }

    pub(crate) fn handoff(&self) -> Option<HandoffExports> {
        self.inner.handoff
    }
}

/// Loads components from bytes or files on one engine.
#[derive(Debug, Clone)]
pub struct ComponentLoader {
    engine: WasmEngine,
}

impl ComponentLoader {
    pub(crate) fn new(engine: WasmEngine) -> Self {
        Self { engine }
    }

    /// Reads and loads a component file. Errors name the file.
    ///
    /// # Errors
    ///
    /// [`Error::Read`] if the file cannot be read, and as [`ComponentLoader::load_bytes`].
    pub fn load_file(&self, path: &Path) -> Result<LoadedComponent> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        self.load_bytes(&path.display().to_string(), &bytes)
    }

    /// Validates, compiles (once per distinct bytes) and links a component.
    ///
    /// # Errors
    ///
    /// - [`Error::NotWasm`]: empty or not WebAssembly;
    /// - [`Error::CoreModule`]: a core module instead of a component;
    /// - [`Error::Invalid`]: fails validation (for example truncated);
    /// - [`Error::MissingExport`]: does not export [`LIFECYCLE_EXPORT`], naming what it exports;
    /// - [`Error::UnknownImport`]: imports something the host does not provide, naming it;
    /// - [`Error::Compile`]: wasmtime could not compile it.
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<LoadedComponent> {
        let (shape, hash, component) = compile_checked(
            &self.engine,
            name,
            bytes,
            LIFECYCLE_EXPORT,
            ComponentShape::exports_lifecycle,
        )?;
        let handoff = HandoffExports::find(&component);
        let pre = self
            .engine
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| link_error(name, &shape, e))?;
        let pre = RuntimeHostPre::new(pre).map_err(|e| Error::Invalid {
            name: name.to_owned(),
            detail: format!("its `{LIFECYCLE_EXPORT}` export does not match the contract: {e:#}"),
        })?;
        let indices = RuntimeHostIndices::new(pre.instance_pre()).map_err(|e| Error::Invalid {
            name: name.to_owned(),
            detail: format!("its `{LIFECYCLE_EXPORT}` export does not match the contract: {e:#}"),
        })?;
        Ok(LoadedComponent {
            inner: Arc::new(Loaded {
                name: name.to_owned(),
                hash,
                shape,
                pre,
                indices,
                handoff,
            }),
        })
    }
}

/// Reads a component's shape, checks that it has the export `expected` (as `has_export`
/// says) and imports only what the host provides, then compiles it through the engine's cache.
pub(crate) fn compile_checked(
    engine: &WasmEngine,
    name: &str,
    bytes: &[u8],
    expected: &'static str,
    has_export: impl Fn(&ComponentShape) -> bool,
) -> Result<(ComponentShape, ContentHash, Component)> {
    let shape = ComponentShape::read(name, bytes)?;
    if !has_export(&shape) {
        return Err(Error::MissingExport {
            name: name.to_owned(),
            expected,
            found: if shape.exports.is_empty() {
                "nothing".to_owned()
            } else {
                shape.exports.join(", ")
            },
        });
    }
    if let Some(import) = shape.unknown_import() {
        return Err(Error::UnknownImport {
            name: name.to_owned(),
            import: import.to_owned(),
        });
    }
    let hash = content_hash(bytes);
    let wasmtime = engine.wasmtime();
    let component = engine
        .cache()
        .get_or_compile(wasmtime, &hash, || Component::from_binary(wasmtime, bytes))
        .map_err(|e| Error::Compile {
            name: name.to_owned(),
            source: boxed(e),
        })?;
    Ok((shape, hash, component))
}

/// A linker failure: name the import it is about when the message mentions one.
fn link_error(name: &str, shape: &ComponentShape, error: wasmtime::Error) -> Error {
    let text = format!("{error:#}");
    match shape.imports.iter().find(|i| text.contains(i.as_str())) {
        Some(import) => Error::UnknownImport {
            name: name.to_owned(),
            import: import.clone(),
        },
        None => Error::Compile {
            name: name.to_owned(),
            source: boxed(error),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks_name_the_problem() {
        assert!(matches!(
            check_header("x.wasm", b""),
            Err(Error::NotWasm { detail, .. }) if detail.contains("empty")
        ));
        assert!(matches!(
            check_header("x.wasm", b"hello world"),
            Err(Error::NotWasm { detail, .. }) if detail.contains("magic")
        ));
        // The smallest core module: magic and version 1.
        let module = b"\0asm\x01\0\0\0";
        assert!(matches!(
            check_header("m.wasm", module),
            Err(Error::CoreModule { .. })
        ));
        let message = check_header("m.wasm", module).err().map(|e| e.to_string());
        assert!(message.is_some_and(|m| m.contains("m.wasm") && m.contains("wasm32-wasip2")));
        // The smallest component: magic, version 0x0d, layer 1.
        assert!(check_header("c.wasm", b"\0asm\x0d\0\x01\0").is_ok());
    }

    #[test]
    fn unknown_imports_are_found_and_wasi_is_left_to_the_linker() {
        let shape = ComponentShape {
            imports: vec![
                "wasi:cli/environment@0.2.3".into(),
                "airssys:core/storage@1.0.0".into(),
                "acme:evil/thing".into(),
            ],
            exports: vec![LIFECYCLE_EXPORT.into()],
        };
        assert_eq!(shape.unknown_import(), Some("acme:evil/thing"));
        assert!(shape.exports_lifecycle());
    }
}
