//! Settings of one host in a cluster: where the NATS servers are, who this host is, how it
//! authenticates, how long its lease runs, and its flow control.

use std::collections::BTreeMap;
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
    /// The NATS server URLs (`nats://host:port`; `tls://` requires TLS). The servers must run
    /// JetStream (`nats-server -js`), version 2.11 or later.
    pub urls: Vec<String>,
    /// This host's name, unique in the cluster: a second live process with the same name is
    /// refused.
    pub host: String,
    /// The cluster's name: hosts of different clusters never meet.
    pub name: String,
    /// How this host authenticates.
    pub auth: Auth,
    /// How long this host's lease on its membership runs without a renewal (at least one
    /// second; the server counts it in whole seconds, rounded up). It is renewed three times
    /// per period. A host that cannot renew stops serving its components before the lease
    /// can lapse; once it lapses, the other hosts take this host's incarnation as ended.
    pub lease: Duration,
    /// How long a host whose lease lapsed is waited for before it is taken as gone for good:
    /// what it had not confirmed handling is then reported as dead letters by the hosts that
    /// sent it (requests to it fail as soon as its lease lapses). A host that comes back
    /// within half of this goes on as it was; one away longer joins again as a new
    /// incarnation and drops what other hosts had sent it.
    pub give_up: Duration,
    /// Replicas of the cluster's JetStream buckets (1, 3 or 5; 3 on a three-server NATS
    /// cluster survives the loss of one server).
    pub replicas: usize,
    /// The longest a `send` or `request` to a component on another host waits for room
    /// there when this host holds none (asking that host for a window of credit). Nothing is
    /// sent if the room does not come in time.
    pub credit_wait: Duration,
    /// How many messages one window of credit carries (the target's host may give fewer:
    /// at most a quarter of the mailbox, and never more than half of it to all senders).
    pub window: usize,
    /// How long a window of credit may stay unused before the sender gives it back.
    pub idle: Duration,
    /// How long connecting, and each JetStream operation (a claim, a renewal), may take.
    pub timeout: Duration,
    /// This host's labels (`zone = "a"`): a deployed component that names label
    /// constraints is placed only on hosts that have them all.
    pub labels: BTreeMap<String, String>,
    /// Whether this host runs the components the cluster places on it (a host started
    /// without a manifest, `airssys-wasm host`). Hosts that run a manifest are not given
    /// deployed components.
    pub places: bool,
}

impl ClusterConfig {
    /// A host named `host` in cluster `name`, on the NATS server at `url`, with no
    /// credentials, a 3 second lease, buckets of one replica, and room asked for within
    /// 100 ms.
    pub fn new(url: impl Into<String>, host: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            urls: vec![url.into()],
            host: host.into(),
            name: name.into(),
            auth: Auth::None,
            lease: Duration::from_secs(3),
            give_up: Duration::from_secs(30),
            replicas: 1,
            credit_wait: Duration::from_millis(100),
            window: 1024,
            idle: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            labels: BTreeMap::new(),
            places: false,
        }
    }

    /// The server URLs as one text, for messages.
    pub fn url_text(&self) -> String {
        self.urls.join(",")
    }

    /// The lease as the server counts it: whole seconds, rounded up.
    pub(crate) fn lease_secs(&self) -> u64 {
        let secs = self.lease.as_secs();
        if self.lease.subsec_nanos() > 0 {
            secs + 1
        } else {
            secs
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the setting: no URL, an empty host or cluster name, a lease
    /// under one second, replicas other than 1 to 5, a zero wait, window, idle time or
    /// timeout.
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
        if self.lease < Duration::from_secs(1) {
            return Err(Error::Config(format!(
                "`lease_ms` must be at least 1000 (the server counts leases in whole seconds), not {}",
                self.lease.as_millis()
            )));
        }
        if self.give_up < self.lease.saturating_mul(2) {
            return Err(Error::Config(format!(
                "`give_up_ms` must be at least twice the lease ({} ms), not {}",
                self.lease.saturating_mul(2).as_millis(),
                self.give_up.as_millis()
            )));
        }
        if !(1..=5).contains(&self.replicas) {
            return Err(Error::Config(format!(
                "`replicas` must be 1 to 5, not {}",
                self.replicas
            )));
        }
        for (zero, what) in [
            (
                self.credit_wait.is_zero(),
                "`credit_wait_ms` must be above 0",
            ),
            (self.window == 0, "`window` must be above 0"),
            (
                self.idle.is_zero(),
                "the idle time of a window must be above 0",
            ),
            (
                self.timeout.is_zero(),
                "the operation timeout must be above 0",
            ),
        ] {
            if zero {
                return Err(Error::Config(what.into()));
            }
        }
        for (key, value) in &self.labels {
            let bad =
                |text: &str| text.trim().is_empty() || text.contains([',', '=', '\n', '\r', ' ']);
            if bad(key) || bad(value) {
                return Err(Error::Config(format!(
                    "label `{key}={value}`: a label is `key=value`, neither empty nor holding `,`, `=` or spaces"
                )));
            }
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
                    lease: Duration::from_millis(999),
                    ..good.clone()
                },
                "`lease_ms`",
            ),
            (
                ClusterConfig {
                    replicas: 7,
                    ..good.clone()
                },
                "`replicas`",
            ),
            (
                ClusterConfig {
                    give_up: Duration::from_secs(5),
                    ..good.clone()
                },
                "`give_up_ms`",
            ),
            (
                ClusterConfig {
                    credit_wait: Duration::ZERO,
                    ..good.clone()
                },
                "`credit_wait_ms`",
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

    #[test]
    fn the_server_counts_the_lease_in_whole_seconds_rounded_up() {
        let mut config = ClusterConfig::new("nats://127.0.0.1:4222", "edge-1", "orders");
        assert_eq!(config.lease_secs(), 3);
        config.lease = Duration::from_millis(1500);
        assert_eq!(config.lease_secs(), 2);
    }
}
