//! The error type of this crate.

/// Errors raised while building core values from untrusted input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A component id text was not of the form `namespace/name/instance`.
    #[error("malformed component id `{input}`: {reason}")]
    InvalidComponentId {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error's message followed by each of its causes, each once (`message: cause: cause`), for
/// text that leaves the error chain (a reason kept as a string, a guest's `wasm-error`), so
/// it still says what went wrong underneath (wasmtime's own error, an OS error).
pub fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        // Some errors repeat their cause in their own message; say it once.
        if !text.ends_with(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}
