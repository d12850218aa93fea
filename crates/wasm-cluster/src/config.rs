//! Settings of one host in a cluster: where the NATS servers are, who this host is, how it
//! authenticates, how often it says it is alive.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// How a host authenticates to the NATS server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// No credentials (a server without authorization).
    #[default]
    None,
    /// A token.
    Token(String),
    /// A user and password.
    UserPassword {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// An nkey seed (`SU...`).
    Nkey(String),
    /// A `.creds` file (a JWT and its nkey seed).
    CredentialsFile(PathBuf),
}

/// Settings of this host in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The NATS server URLs (`nats://host:port`; `tls://` requires TLS).
    pub urls: Vec<String>,
    /// This host's name, unique in the cluster.
    pub host: String,
    /// The cluster's name: hosts of different clusters never meet.
    pub name: String,
    /// How this host authenticates.
    pub auth: Auth,
    /// How often this host publishes its heartbeat. A peer silent for three heartbeats is
    /// taken as gone.
    pub heartbeat: Duration,
    /// How long a send or request waits for the target's host to say it queued the message.
    pub ack_timeout: Duration,
}

impl ClusterConfig {
    /// A host named `host` in cluster `name`, on the NATS server at `url`, with no
    /// credentials, a heartbeat every second and acknowledgements due within 5 seconds.
    pub fn new(url: impl Into<String>, host: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            urls: vec![url.into()],
            host: host.into(),
            name: name.into(),
            auth: Auth::None,
            heartbeat: Duration::from_secs(1),
            ack_timeout: Duration::from_secs(5),
        }
    }

    /// The server URLs as one text, for messages.
    pub fn url_text(&self) -> String {
        self.urls.join(",")
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the setting: no URL, an empty host or cluster name, a zero
    /// heartbeat or acknowledgement timeout.
    pub fn validate(&self) -> Result<()> {
        if self.urls.is_empty() || self.urls.iter().any(|u| u.trim().is_empty()) {
            return Err(Error::Config("`url` names no NATS server".into()));
        }
        if self.host.trim().is_empty() {
            return Err(Error::Config("`host` is empty".into()));
        }
        if self.name.trim().is_empty() {
            return Err(Error::Config("`name` is empty".into()));
        }
        if self.heartbeat.is_zero() {
            return Err(Error::Config("`heartbeat_ms` must be above 0".into()));
        }
        if self.ack_timeout.is_zero() {
            return Err(Error::Config(
                "the acknowledgement timeout must be above 0".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_named() {
        let good = ClusterConfig::new("nats://127.0.0.1:4222", "edge-1", "orders");
        assert!(good.validate().is_ok());
        let cases = [
            (
                ClusterConfig {
                    urls: vec![],
                    ..good.clone()
                },
                "`url`",
            ),
            (
                ClusterConfig {
                    host: " ".into(),
                    ..good.clone()
                },
                "`host`",
            ),
            (
                ClusterConfig {
                    name: String::new(),
                    ..good.clone()
                },
                "`name`",
            ),
            (
                ClusterConfig {
                    heartbeat: Duration::ZERO,
                    ..good.clone()
                },
                "`heartbeat_ms`",
            ),
        ];
        for (config, named) in cases {
            let error = config
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains(named), "{error}");
        }
    }
}
