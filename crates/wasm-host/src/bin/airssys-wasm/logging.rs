//! `tracing` on standard error: human or JSON lines, the level from `RUST_LOG`; with the
//! `otlp` feature, the per-message spans exported over OTLP as well.

use std::io::IsTerminal;

use anyhow::{Result, anyhow};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Layer};

use crate::args::LogFormat;

/// The filter when `RUST_LOG` is not set: `info`, except the `Actor{id=..}` span the actor
/// library wraps every event of a component in (the events name the component already), and
/// the per-message `handle` spans (`airssys::message`; `RUST_LOG=info,airssys::message=info`
/// shows them).
const DEFAULT_FILTER: &str = "info,ractor=warn,airssys::message=warn";

/// What must live as long as the process logs: with OTLP, the exporter, flushed on drop.
#[derive(Debug)]
pub struct Logging {
    #[cfg(feature = "otlp")]
    otlp: Option<crate::otlp::Exporter>,
}

/// Installs the global subscriber. Colours only on a terminal: a log piped to a file or
/// another program stays plain text.
pub fn init(format: LogFormat) -> Result<Logging> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Human => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    let registry = tracing_subscriber::registry().with(fmt.with_filter(filter));
    #[cfg(feature = "otlp")]
    {
        let (layer, otlp) = crate::otlp::layer()?;
        registry
            .with(layer)
            .try_init()
            .map_err(|e| anyhow!("{e}"))?;
        Ok(Logging { otlp })
    }
    #[cfg(not(feature = "otlp"))]
    {
        registry.try_init().map_err(|e| anyhow!("{e}"))?;
        Ok(Logging {})
    }
}

impl Drop for Logging {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(otlp) = self.otlp.take() {
            otlp.shutdown();
        }
    }
}
