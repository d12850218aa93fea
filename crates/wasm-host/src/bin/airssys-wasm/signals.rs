//! Ctrl-C and SIGTERM as one stream of stop requests.

use anyhow::{Context, Result};

/// The signals that stop a running system.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; from now on the signals no longer kill the process.
    pub fn install() -> Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
            let interrupt =
                signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C (SIGINT)")?;
            Ok(Self {
                terminate,
                interrupt,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Waits for the next stop request and names it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn next(&mut self) -> Result<String> {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => Ok("ctrl-c".to_owned()),
                _ = self.terminate.recv() => Ok("sigterm".to_owned()),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c()
                .await
                .context("cannot listen for Ctrl-C")?;
            Ok("ctrl-c".to_owned())
        }
    }
}
