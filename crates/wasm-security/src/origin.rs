//! HTTP origins a component may send requests to (`wasi:http` outgoing): `scheme://host`,
//! `scheme://host:port` or `scheme://host:*`.

use std::fmt;

use crate::error::{Error, Result};

/// The scheme of an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpScheme {
    /// `http`.
    Http,
    /// `https`.
    Https,
}

impl HttpScheme {
    /// The scheme as written (`http`, `https`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// The port a URL of this scheme means when it names none.
    pub fn default_port(&self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }

    /// The scheme named `text` (any case), if it is one of the two.
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("http") {
            Some(Self::Http)
        } else if text.eq_ignore_ascii_case("https") {
            Some(Self::Https)
        } else {
            None
        }
    }
}

/// An origin pattern, parsed: requests to it are allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOrigin {
    scheme: HttpScheme,
    /// Lowercase; an IPv6 address without its brackets.
    host: String,
    /// `None` for any port (`:*`).
    port: Option<u16>,
}

impl HttpOrigin {
    /// Parses `scheme://host[:port|:*]`. No path, query, user or wildcard host: an origin
    /// names one host. Without a port it means the scheme's default (80 or 443).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOrigin`] naming the text and what is wrong.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: &'static str| Error::InvalidOrigin {
            origin: text.to_owned(),
            reason,
        };
        let (scheme, rest) = text.split_once("://").ok_or(bad(
            "expected `http://host[:port]` or `https://host[:port]`",
        ))?;
        let scheme = HttpScheme::parse(scheme).ok_or(bad("the scheme must be http or https"))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(bad("an origin has no path, query or fragment"));
        }
        if authority.contains('@') {
            return Err(bad("an origin has no user or password"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or(bad("an IPv6 address needs its closing `]`"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or(bad("expected `:port` after `]`"))?,
                ),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        if host.contains('*') {
            return Err(bad("the host cannot be a wildcard; name each host"));
        }
        let port = match port {
            None => Some(scheme.default_port()),
            Some("*") => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| bad("the port must be a number from 0 to 65535, or `*`"))?,
            ),
        };
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether a request to `scheme://host:port` is to this origin. `host` is compared
    /// without case; an IPv6 host is given without brackets.
    pub fn matches(&self, scheme: HttpScheme, host: &str, port: u16) -> bool {
        self.scheme == scheme
            && self.host.eq_ignore_ascii_case(host)
            && self.port.is_none_or(|p| p == port)
    }
}

impl fmt::Display for HttpOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) => write!(f, "{}://{host}:{port}", self.scheme.as_str()),
            None => write!(f, "{}://{host}:*", self.scheme.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(text: &str) -> HttpOrigin {
        HttpOrigin::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        let api = origin("https://API.example.com");
        assert!(api.matches(HttpScheme::Https, "api.example.com", 443));
        assert!(!api.matches(HttpScheme::Https, "api.example.com", 8443));
        assert!(!api.matches(HttpScheme::Http, "api.example.com", 443));
        assert!(!api.matches(HttpScheme::Https, "evil.example.com", 443));
        let local = origin("http://127.0.0.1:*");
        assert!(local.matches(HttpScheme::Http, "127.0.0.1", 8080));
        assert!(!local.matches(HttpScheme::Http, "127.0.0.2", 8080));
        let port = origin("http://localhost:8080/");
        assert!(port.matches(HttpScheme::Http, "localhost", 8080));
        assert!(!port.matches(HttpScheme::Http, "localhost", 80));
        let v6 = origin("http://[::1]:9000");
        assert!(v6.matches(HttpScheme::Http, "::1", 9000));
        assert_eq!(v6.to_string(), "http://[::1]:9000");
        assert_eq!(local.to_string(), "http://127.0.0.1:*");
    }

    #[test]
    fn malformed_origins_are_refused_with_the_reason() {
        for (text, why) in [
            ("api.example.com", "expected"),
            ("ftp://x", "scheme"),
            ("https://x/path", "path"),
            ("https://u:p@x", "user"),
            ("https://", "empty"),
            ("https://*.example.com", "wildcard"),
            ("http://x:99999", "port"),
            ("http://[::1", "closing"),
        ] {
            match HttpOrigin::parse(text) {
                Err(Error::InvalidOrigin { origin, reason }) => {
                    assert_eq!(origin, text);
                    assert!(reason.contains(why), "{text}: {reason}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
