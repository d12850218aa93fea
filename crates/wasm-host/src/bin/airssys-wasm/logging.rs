//! `tracing` on standard error: human or JSON lines, the level from `RUST_LOG`.

use anyhow::{Result, anyhow};
use tracing_subscriber::EnvFilter;

use crate::args::LogFormat;

/// Installs the global subscriber.
pub fn init(format: LogFormat) -> Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| anyhow!("{e}"))
}
