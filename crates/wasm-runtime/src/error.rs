//! The error type of the runtime.

use std::fmt;
use std::path::PathBuf;

use wasm_core::{ComponentId, StorageError, WasmError};

/// A boxed source error (wasmtime's own error type is converted into this).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A resource limit a call can exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Linear memory grew past `max-memory-bytes`.
    Memory,
    /// A table grew past the engine's table limit.
    Table,
    /// The call ran past its CPU deadline (`max-execution-time-ms`, enforced by epochs).
    CpuTime,
    /// The call used up its fuel (`max-fuel`).
    Fuel,
    /// The call exhausted the WebAssembly stack.
    Stack,
}

impl Limit {
    /// The limit's name as it appears in messages (`memory`, `table`, `cpu-time`, `fuel`,
    /// `stack`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Table => "table",
            Self::CpuTime => "cpu-time",
            Self::Fuel => "fuel",
            Self::Stack => "stack",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in the runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine could not be configured.
    #[error("cannot configure the wasm engine: {detail}")]
    Engine {
        /// What failed.
        detail: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A component file could not be read.
    #[error("cannot read component file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not WebAssembly at all.
    #[error("{name}: not a WebAssembly component: {detail}")]
    NotWasm {
        /// File name or label of the bytes.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// The bytes are a core module, not a component.
    #[error(
        "{name}: is a core WebAssembly module, not a component; build it for the \
         `wasm32-wasip2` target, or turn it into a component with `wasm-tools component new` \
         (the `wit-component` crate)"
    )]
    CoreModule {
        /// File name or label of the bytes.
        name: String,
    },
    /// The component failed validation.
    #[error("{name}: invalid component: {detail}")]
    Invalid {
        /// File name or label of the bytes.
        name: String,
        /// The validator's message, with the byte offset.
        detail: String,
    },
    /// The component does not export the lifecycle interface.
    #[error("{name}: does not export `{expected}`; it exports: {found}")]
    MissingExport {
        /// File name or label of the bytes.
        name: String,
        /// The export that is required.
        expected: &'static str,
        /// What it exports instead (comma-separated, or `nothing`).
        found: String,
    },
    /// The component imports something the host does not provide.
    #[error("{name}: imports `{import}`, which this host does not provide")]
    UnknownImport {
        /// File name or label of the bytes.
        name: String,
        /// The import.
        import: String,
    },
    /// Compiling or linking the component failed.
    #[error("{name}: cannot compile or link the component")]
    Compile {
        /// File name or label of the bytes.
        name: String,
        /// wasmtime's error.
        #[source]
        source: BoxError,
    },
    /// The component's capability grants could not be applied.
    #[error("{component}: cannot apply its grants: {detail}")]
    Grants {
        /// The component.
        component: ComponentId,
        /// What failed (for example a preopened directory that does not exist).
        detail: String,
    },
    /// The component's resource limits cannot be applied on this engine.
    #[error("{component}: cannot apply its limits: {detail}")]
    Limits {
        /// The component.
        component: ComponentId,
        /// Which limit and why (for example memory above the pool's slot size).
        detail: String,
    },
    /// Instantiation failed.
    #[error("{component}: instantiation failed")]
    Instantiate {
        /// The component.
        component: ComponentId,
        /// wasmtime's error.
        #[source]
        source: BoxError,
    },
    /// The host has no room for another instance: its pool is full, or the kernel's limit on
    /// memory mappings (`vm.max_map_count`) is reached. The detail names the limit and what
    /// raises it.
    #[error("{component}: no room for another instance: {detail}")]
    Capacity {
        /// The component that could not be instantiated.
        component: ComponentId,
        /// Which limit is the wall, with its figures.
        detail: String,
        /// wasmtime's error.
        #[source]
        source: BoxError,
    },
    /// A call exceeded a resource limit and was stopped.
    #[error("{component}: `{export}` exceeded its {limit} limit: {detail}")]
    LimitExceeded {
        /// The component.
        component: ComponentId,
        /// The export that was running.
        export: &'static str,
        /// Which limit.
        limit: Limit,
        /// Details (sizes, deadlines).
        detail: String,
    },
    /// A call trapped (a guest panic, `unreachable`, an out-of-bounds access).
    #[error("{component}: `{export}` trapped: {message}")]
    Trapped {
        /// The component.
        component: ComponentId,
        /// The export that was running.
        export: &'static str,
        /// The trap and, for a guest panic, the panic message the guest printed.
        message: String,
    },
    /// A call did not finish before its wall-clock timeout.
    #[error("{component}: `{export}` did not finish within {timeout_ms} ms")]
    Timeout {
        /// The component.
        component: ComponentId,
        /// The export that was running.
        export: &'static str,
        /// The timeout.
        timeout_ms: u64,
    },
    /// The storage writes a call made could not be committed: none of them was kept, and the
    /// instance (whose memory assumed them) is poisoned.
    #[error("{component}: the storage writes of `{export}` could not be committed: {error}")]
    Commit {
        /// The component.
        component: ComponentId,
        /// The export whose writes were lost.
        export: &'static str,
        /// The backend's error.
        error: StorageError,
    },
    /// The instance trapped before and may be inconsistent; it must be re-instantiated.
    #[error(
        "{component}: instance is poisoned by an earlier failure ({reason}); re-instantiate it"
    )]
    Poisoned {
        /// The component.
        component: ComponentId,
        /// The earlier failure.
        reason: String,
    },
}

impl Error {
    /// Whether this error left the instance unusable (a trap, limit or timeout during a call,
    /// or a failed commit of its writes).
    pub fn poisons_instance(&self) -> bool {
        matches!(
            self,
            Self::LimitExceeded { .. }
                | Self::Trapped { .. }
                | Self::Timeout { .. }
                | Self::Commit { .. }
        )
    }

    /// The contract's `wasm-error` for this error, as a guest or requester would see it.
    pub fn to_wasm_error(&self) -> WasmError {
        match self {
            Self::Timeout { .. } => WasmError::Timeout,
            Self::LimitExceeded { limit, detail, .. } => {
                WasmError::ResourceLimitExceeded(format!("{limit}: {detail}"))
            }
            Self::Instantiate { .. }
            | Self::Capacity { .. }
            | Self::Grants { .. }
            | Self::Limits { .. } => WasmError::InstantiationFailed(wasm_core::with_causes(self)),
            Self::MissingExport { .. } => WasmError::ExportNotFound(self.to_string()),
            Self::NotWasm { .. }
            | Self::CoreModule { .. }
            | Self::Invalid { .. }
            | Self::UnknownImport { .. }
            | Self::Compile { .. } => WasmError::InvalidComponent(wasm_core::with_causes(self)),
            Self::Engine { .. }
            | Self::Read { .. }
            | Self::Trapped { .. }
            | Self::Commit { .. }
            | Self::Poisoned { .. } => WasmError::RuntimeError(wasm_core::with_causes(self)),
        }
    }
}

/// Converts wasmtime's error (which is not a `std::error::Error`) into a boxed source.
pub(crate) fn boxed(error: wasmtime::Error) -> BoxError {
    error.into_boxed_dyn_error()
}

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
