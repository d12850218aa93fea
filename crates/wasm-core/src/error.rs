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
