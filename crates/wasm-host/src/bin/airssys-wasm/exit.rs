//! Exit codes and the failures that map to them.

use anyhow::Error;

/// The command line is wrong (sysexits `EX_USAGE`).
pub const USAGE: u8 = 64;
/// A manifest, component file, component id or payload file is invalid (`EX_DATAERR`).
pub const INVALID: u8 = 65;
/// The system failed while running: start, request, shutdown (`EX_SOFTWARE`).
pub const RUNTIME: u8 = 70;

/// Why a command failed, which decides its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad input: exit code [`INVALID`].
    Invalid(Error),
    /// A failure while running: exit code [`RUNTIME`].
    Runtime(Error),
}

impl Failure {
    /// The exit code.
    pub fn code(&self) -> u8 {
        match self {
            Failure::Invalid(_) => INVALID,
            Failure::Runtime(_) => RUNTIME,
        }
    }

    /// The error, for the message.
    pub fn error(&self) -> &Error {
        match self {
            Failure::Invalid(e) | Failure::Runtime(e) => e,
        }
    }
}

/// A facade error as a failure: manifest and component problems are invalid input, the rest
/// is a runtime failure.
pub fn from_host(error: wasm_host::Error) -> Failure {
    match error {
        wasm_host::Error::Manifest { .. }
        | wasm_host::Error::ReadManifest { .. }
        | wasm_host::Error::Runtime(_)
        | wasm_host::Error::Limits { .. }
        | wasm_host::Error::Admin { .. }
        | wasm_host::Error::Deploy { .. }
        | wasm_host::Error::Cluster(
            wasm_host::ClusterError::UnknownApp { .. } | wasm_host::ClusterError::Code { .. },
        ) => Failure::Invalid(error.into()),
        other => Failure::Runtime(other.into()),
    }
}

/// Shorthand for an invalid-input failure with a message.
pub fn invalid(error: impl Into<Error>) -> Failure {
    Failure::Invalid(error.into())
}

/// Shorthand for a runtime failure with a message.
pub fn runtime(error: impl Into<Error>) -> Failure {
    Failure::Runtime(error.into())
}

/// The result of a command.
pub type Outcome = Result<(), Failure>;
