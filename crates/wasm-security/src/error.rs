//! The error type of this crate.

use wasm_core::ComponentId;

/// Grants that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A pattern is malformed.
    #[error("invalid pattern `{pattern}`: {reason}")]
    InvalidPattern {
        /// The pattern text.
        pattern: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A pattern can never match a component id (ids have exactly three segments).
    #[error("pattern `{pattern}` can never match a component id `namespace/name/instance`")]
    NeverMatches {
        /// The pattern text.
        pattern: String,
    },
    /// A network grant names something that is not an IP address or `*`.
    #[error("invalid network host `{host}`: expected an IP address or `*`")]
    InvalidHost {
        /// The host text.
        host: String,
    },
    /// An HTTP origin grant is malformed.
    #[error("invalid HTTP origin `{origin}`: {reason}")]
    InvalidOrigin {
        /// The origin text.
        origin: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A grant of a component failed to compile.
    #[error("invalid grants of {component}")]
    Grant {
        /// The component.
        component: ComponentId,
        /// The failure.
        #[source]
        source: Box<Error>,
    },
}

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
