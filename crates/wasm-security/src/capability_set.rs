//! Grants compiled once into a set whose checks are cheap, allocation-free lookups.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use wasm_core::{ComponentId, StorageQuota};

use crate::error::{Error, Result};
use crate::grants::{FilesystemGrant, Grants, MessagingAction, StorageOp};
use crate::origin::{HttpOrigin, HttpScheme};
use crate::pattern::IdPattern;

/// A capability a check can refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// A messaging action.
    Messaging(MessagingAction),
    /// A storage operation.
    Storage(StorageOp),
    /// An outbound network connection.
    Network,
    /// Seeing another component through `list-components` or `get-component-metadata`.
    Discover,
    /// An outgoing HTTP request (`wasi:http`) to an origin.
    HttpOutbound,
}

impl Capability {
    /// The capability's name as audited (`messaging.send`, `storage.write`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Messaging(MessagingAction::Send) => "messaging.send",
            Self::Messaging(MessagingAction::Request) => "messaging.request",
            Self::Messaging(MessagingAction::Broadcast) => "messaging.broadcast",
            Self::Storage(StorageOp::Read) => "storage.read",
            Self::Storage(StorageOp::Write) => "storage.write",
            Self::Storage(StorageOp::Delete) => "storage.delete",
            Self::Network => "network.connect",
            Self::Discover => "discover",
            Self::HttpOutbound => "http.outbound",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused check. Cheap to make: it allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denial {
    /// What was not granted.
    pub capability: Capability,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "capability `{}` is not granted", self.capability)
    }
}

#[derive(Debug, Clone, Default)]
struct Targets {
    everything: bool,
    exact: HashSet<ComponentId>,
    patterns: Vec<IdPattern>,
}

impl Targets {
    /// Adds a pattern, sorted into the cheapest check that decides it.
    fn add(&mut self, pattern: &IdPattern) {
        if pattern.matches_everything() {
            self.everything = true;
        } else if let Some(id) = pattern.exact_id() {
            self.exact.insert(id);
        } else {
            self.patterns.push(pattern.clone());
        }
    }

    fn allows(&self, target: &ComponentId) -> bool {
        self.everything
            || self.exact.contains(target)
            || self.patterns.iter().any(|p| p.matches(target))
    }
}

#[derive(Debug, Clone)]
struct NetworkRule {
    ip: Option<IpAddr>,
    port: Option<u16>,
}

/// A component's grants, compiled. Immutable; share it with `Arc`.
#[derive(Debug, Clone)]
pub struct CapabilitySet {
    component: ComponentId,
    grants: Grants,
    messaging: [Targets; 3],
    discover: Targets,
    network: Vec<NetworkRule>,
    http: Vec<HttpOrigin>,
}

impl CapabilitySet {
    /// Compiles `grants` for `component`; every pattern is parsed here, once.
    ///
    /// # Errors
    ///
    /// [`Error::Grant`] naming the component, around the malformed pattern or host.
    pub fn compile(component: ComponentId, grants: &Grants) -> Result<Self> {
        let wrap = |source: Error| Error::Grant {
            component: component.clone(),
            source: Box::new(source),
        };
        let compile = |text: &str| {
            let pattern = IdPattern::parse(text).map_err(wrap)?;
            if !pattern.can_match_component_id() {
                return Err(wrap(Error::NeverMatches {
                    pattern: text.to_owned(),
                }));
            }
            Ok(pattern)
        };
        let mut messaging: [Targets; 3] = Default::default();
        for grant in &grants.messaging {
            let pattern = compile(&grant.targets)?;
            for action in &grant.actions {
                messaging[action.index()].add(&pattern);
            }
        }
        let mut discover = Targets::default();
        for text in &grants.discover {
            discover.add(&compile(text)?);
        }
        let network = grants
            .network
            .iter()
            .map(|grant| {
                let ip = match grant.host.as_str() {
                    "*" => None,
                    host => Some(host.parse::<IpAddr>().map_err(|_| {
                        wrap(Error::InvalidHost {
                            host: host.to_owned(),
                        })
                    })?),
                };
                Ok(NetworkRule {
                    ip,
                    port: grant.port,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let http = grants
            .http_outbound
            .iter()
            .map(|text| HttpOrigin::parse(text).map_err(wrap))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            component,
            grants: grants.clone(),
            messaging,
            discover,
            network,
            http,
        })
    }

    /// A set that denies everything.
    pub fn deny_all(component: ComponentId) -> Self {
        Self {
            component,
            grants: Grants::default(),
            messaging: Default::default(),
            discover: Targets::default(),
            network: Vec::new(),
            http: Vec::new(),
        }
    }

    /// The component these grants belong to.
    pub fn component(&self) -> &ComponentId {
        &self.component
    }

    /// The grants as declared.
    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    /// Checks a messaging action towards `target`.
    ///
    /// # Errors
    ///
    /// A [`Denial`] naming the action if no grant covers it.
    pub fn check_messaging(
        &self,
        action: MessagingAction,
        target: &ComponentId,
    ) -> std::result::Result<(), Denial> {
        if self.messaging[action.index()].allows(target) {
            Ok(())
        } else {
            Err(Denial {
                capability: Capability::Messaging(action),
            })
        }
    }

    /// Checks whether `target` may be seen through `list-components` or
    /// `get-component-metadata`.
    ///
    /// # Errors
    ///
    /// A [`Denial`] of [`Capability::Discover`] if no discover pattern names it.
    pub fn check_discover(&self, target: &ComponentId) -> std::result::Result<(), Denial> {
        if self.discover.allows(target) {
            Ok(())
        } else {
            Err(Denial {
                capability: Capability::Discover,
            })
        }
    }

    /// Whether any discover pattern is granted.
    pub fn allows_discovery(&self) -> bool {
        let d = &self.discover;
        d.everything || !d.exact.is_empty() || !d.patterns.is_empty()
    }

    /// Checks a storage operation, returning the namespace quota.
    ///
    /// # Errors
    ///
    /// A [`Denial`] naming the operation if it is not granted.
    pub fn check_storage(&self, op: StorageOp) -> std::result::Result<&StorageQuota, Denial> {
        let denied = Denial {
            capability: Capability::Storage(op),
        };
        let grant = self.grants.storage.as_ref().ok_or(denied)?;
        let allowed = match op {
            StorageOp::Read => grant.read,
            StorageOp::Write => grant.write,
            StorageOp::Delete => grant.delete,
        };
        if allowed {
            Ok(&grant.quota)
        } else {
            Err(denied)
        }
    }

    /// Checks an outbound connection to `addr`.
    ///
    /// # Errors
    ///
    /// A [`Denial`] of [`Capability::Network`] if no grant covers the address and port.
    pub fn check_network(&self, addr: &SocketAddr) -> std::result::Result<(), Denial> {
        let allowed = self.network.iter().any(|rule| {
            rule.ip.is_none_or(|ip| ip == addr.ip()) && rule.port.is_none_or(|p| p == addr.port())
        });
        if allowed {
            Ok(())
        } else {
            Err(Denial {
                capability: Capability::Network,
            })
        }
    }

    /// Checks an outgoing HTTP request to `scheme://host:port` (`host` without IPv6
    /// brackets).
    ///
    /// # Errors
    ///
    /// A [`Denial`] of [`Capability::HttpOutbound`] if no origin grant covers it.
    pub fn check_http(
        &self,
        scheme: HttpScheme,
        host: &str,
        port: u16,
    ) -> std::result::Result<(), Denial> {
        if self.http.iter().any(|o| o.matches(scheme, host, port)) {
            Ok(())
        } else {
            Err(Denial {
                capability: Capability::HttpOutbound,
            })
        }
    }

    /// Whether any network grant exists (then a client may bind the ephemeral local address
    /// it needs to connect).
    pub fn allows_network(&self) -> bool {
        !self.network.is_empty()
    }

    /// Whether a grant names any host (`*`): only then may the component resolve names, since
    /// a lookup cannot be checked against IP addresses before it is made.
    pub fn allows_name_lookup(&self) -> bool {
        self.network.iter().any(|rule| rule.ip.is_none())
    }

    /// The preopened directories.
    pub fn filesystem(&self) -> &[FilesystemGrant] {
        &self.grants.filesystem
    }

    /// The environment variables passed to the component.
    pub fn env(&self) -> &[(String, String)] {
        &self.grants.env
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::{NetworkGrant, StorageGrant};

    fn id(text: &str) -> ComponentId {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn discovery_is_limited_to_its_patterns() {
        let grants = Grants::default()
            .with_discover("orders/**")
            .with_discover("shared/cache/1");
        let caps = CapabilitySet::compile(id("a/b/1"), &grants).unwrap_or_else(|e| panic!("{e}"));
        assert!(caps.allows_discovery());
        assert!(caps.check_discover(&id("orders/ledger/1")).is_ok());
        assert!(caps.check_discover(&id("shared/cache/1")).is_ok());
        let denied = caps.check_discover(&id("tenant-b/secret/1"));
        assert_eq!(denied.map_err(|d| d.capability.as_str()), Err("discover"));
        let none = CapabilitySet::compile(id("a/b/1"), &Grants::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!none.allows_discovery());
        assert!(none.check_discover(&id("a/b/1")).is_err());
        let bad = CapabilitySet::compile(id("a/b/1"), &Grants::default().with_discover("a//"));
        assert!(bad.is_err());
    }

    #[test]
    fn everything_is_denied_by_default() {
        let caps = CapabilitySet::compile(id("a/b/1"), &Grants::default())
            .unwrap_or_else(|e| panic!("{e}"));
        for action in MessagingAction::ALL {
            assert!(caps.check_messaging(action, &id("x/y/1")).is_err());
        }
        for op in [StorageOp::Read, StorageOp::Write, StorageOp::Delete] {
            assert_eq!(
                caps.check_storage(op),
                Err(Denial {
                    capability: Capability::Storage(op)
                })
            );
        }
        let addr: SocketAddr = "127.0.0.1:80".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(caps.check_network(&addr).is_err());
        assert!(!caps.allows_network());
        assert!(caps.env().is_empty() && caps.filesystem().is_empty());
    }

    #[test]
    fn exact_and_wildcard_grants_allow_only_their_actions_and_targets() {
        let grants = Grants::default()
            .with_messaging(&[MessagingAction::Send], "orders/validator/1")
            .with_messaging(
                &[MessagingAction::Send, MessagingAction::Request],
                "audit/**",
            );
        let caps = CapabilitySet::compile(id("a/b/1"), &grants).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            caps.check_messaging(MessagingAction::Send, &id("orders/validator/1"))
                .is_ok()
        );
        assert!(
            caps.check_messaging(MessagingAction::Send, &id("orders/validator/2"))
                .is_err()
        );
        assert!(
            caps.check_messaging(MessagingAction::Request, &id("orders/validator/1"))
                .is_err()
        );
        assert!(
            caps.check_messaging(MessagingAction::Request, &id("audit/log/9"))
                .is_ok()
        );
        assert_eq!(
            caps.check_messaging(MessagingAction::Broadcast, &id("audit/log/9")),
            Err(Denial {
                capability: Capability::Messaging(MessagingAction::Broadcast)
            })
        );
        let everything = Grants::default().with_messaging(&[MessagingAction::Send], "**");
        let caps =
            CapabilitySet::compile(id("a/b/1"), &everything).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            caps.check_messaging(MessagingAction::Send, &id("any/thing/1"))
                .is_ok()
        );
    }

    #[test]
    fn storage_operations_are_granted_separately() {
        let grants = Grants::default().with_storage(StorageGrant {
            read: true,
            write: false,
            delete: true,
            quota: StorageQuota {
                max_bytes: 5,
                max_keys: 1,
            },
        });
        let caps = CapabilitySet::compile(id("a/b/1"), &grants).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            caps.check_storage(StorageOp::Read).map(|q| q.max_bytes),
            Ok(5)
        );
        assert!(caps.check_storage(StorageOp::Write).is_err());
        assert!(caps.check_storage(StorageOp::Delete).is_ok());
    }

    #[test]
    fn network_grants_match_address_and_port() {
        let grants = Grants {
            network: vec![
                NetworkGrant {
                    host: "10.0.0.1".into(),
                    port: Some(443),
                },
                NetworkGrant {
                    host: "*".into(),
                    port: Some(53),
                },
            ],
            ..Grants::default()
        };
        let caps = CapabilitySet::compile(id("a/b/1"), &grants).unwrap_or_else(|e| panic!("{e}"));
        let ok = |s: &str| {
            caps.check_network(&s.parse().unwrap_or_else(|e| panic!("{e}")))
                .is_ok()
        };
        assert!(ok("10.0.0.1:443"));
        assert!(!ok("10.0.0.1:80"));
        assert!(!ok("10.0.0.2:443"));
        assert!(ok("192.168.1.1:53"));
        assert!(caps.allows_network());
    }

    #[test]
    fn bad_grants_fail_to_compile_naming_the_component_and_pattern() {
        let cases = [
            Grants::default().with_messaging(&[MessagingAction::Send], "a//b"),
            Grants::default().with_messaging(&[MessagingAction::Send], "a/b"),
            Grants {
                network: vec![NetworkGrant {
                    host: "example.com".into(),
                    port: None,
                }],
                ..Grants::default()
            },
        ];
        // The error names the component; its cause (the source) names the grant, once.
        let chain = |grants: &Grants| {
            let error = CapabilitySet::compile(id("my/comp/1"), grants).err();
            let cause = error
                .as_ref()
                .and_then(std::error::Error::source)
                .map(|c| c.to_string())
                .unwrap_or_default();
            (error.map(|e| e.to_string()).unwrap_or_default(), cause)
        };
        for grants in &cases {
            let (message, cause) = chain(grants);
            assert_eq!(message, "invalid grants of my/comp/1");
            assert!(!cause.is_empty() && !cause.contains("my/comp/1"), "{cause}");
        }
        let never = Grants::default().with_messaging(&[MessagingAction::Send], "a/b");
        let (_, cause) = chain(&never);
        assert!(cause.contains("`a/b` can never match"), "{cause}");
        let origin = Grants {
            http_outbound: vec!["https://api.example.com/v1".into()],
            ..Grants::default()
        };
        let (_, cause) = chain(&origin);
        assert!(
            cause.contains("`https://api.example.com/v1`") && cause.contains("no path"),
            "{cause}"
        );
    }
}
