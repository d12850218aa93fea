//! Log levels, health and execution status.

use std::fmt;

/// Severity of a log line a component sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the component handled.
    Warn,
    /// A failure.
    Error,
}

/// A component's own view of its health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HealthStatus {
    /// Working normally.
    Healthy,
    /// Working with reduced function.
    Degraded,
    /// Not working; counts as a failure for the restart policy.
    Unhealthy,
    /// Not known (not yet polled).
    #[default]
    Unknown,
}

impl HealthStatus {
    /// The lower-case text form (`healthy`, `degraded`, `unhealthy`, `unknown`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one call into a component ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionStatus {
    /// Returned normally.
    Success,
    /// Returned an error or trapped.
    Failed,
    /// Hit its deadline.
    Timeout,
    /// Was cancelled.
    Cancelled,
}
