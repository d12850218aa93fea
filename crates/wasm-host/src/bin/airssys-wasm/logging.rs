//! `tracing` on standard error: human or JSON lines, the level from `RUST_LOG`.

use std::io::IsTerminal;

use anyhow::{Result, anyhow};
use tracing_subscriber::EnvFilter;

use crate::args::LogFormat;

/// The filter when `RUST_LOG` is not set: `info`, except the `Actor{id=..}` span the actor
/// library wraps every event of a component in (the events name the component already).
const DEFAULT_FILTER: &str = "info,ractor=warn";

/// Installs the global subscriber. Colours only on a terminal: a log piped to a file or
/// another program stays plain text.
pub fn init(format: LogFormat) -> Result<()> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| anyhow!("{e}"))
}
