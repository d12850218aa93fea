//! WASI 0.2 for a component, granted only as far as its capabilities allow.
//!
//! Environment variables and preopened directories come from the grants; stdin is empty;
//! stdout and stderr become `tracing` events tagged with the component id.
//!
//! Network grants are outbound only ([`socket_allowed`]): TCP connects and UDP datagrams to a
//! granted address, the ephemeral local bind (unspecified address, port 0) a client needs when
//! some grant exists, and datagrams received from a granted address. Listening, binding a
//! specific address or port and accepting are refused. Name lookup is enabled only by a
//! wildcard host grant (checked and audited in [`crate::lookup`]). Every refused address is
//! audited.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;
use wasm_core::ComponentId;
use wasm_security::{AuditSink, Capability, CapabilitySet, Denial, FsAccess, audit_denial};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use crate::error::{Error, Result};

/// The last lines a component wrote to stderr (a Rust guest's panic message ends up there),
/// used to explain a trap.
#[derive(Debug, Clone, Default)]
pub(crate) struct StderrTail(Arc<Mutex<VecDeque<String>>>);

/// How many stderr lines are kept.
const TAIL_LINES: usize = 4;

impl StderrTail {
    fn push(&self, line: String) {
        let mut lines = self.0.lock();
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// Takes the kept lines, joined with `; `, leaving none; hint lines (`note: ...`) are left
    /// out.
    pub(crate) fn take(&self) -> Option<String> {
        let lines = std::mem::take(&mut *self.0.lock());
        let text = lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty() && !l.starts_with("note:"))
            .collect::<Vec<_>>()
            .join("; ");
        (!text.is_empty()).then_some(text)
    }
}

/// Builds the WASI context for `caps`.
pub(crate) fn build(
    caps: &Arc<CapabilitySet>,
    audit: &Arc<dyn AuditSink>,
    stderr: &StderrTail,
) -> Result<WasiCtx> {
    let id = caps.component();
    let mut builder = WasiCtxBuilder::new();
    builder.envs(caps.env());
    builder.stdout(TracingOutput::new(id, "stdout", None));
    builder.stderr(TracingOutput::new(id, "stderr", Some(stderr.clone())));
    for grant in caps.filesystem() {
        let perms = match grant.access {
            FsAccess::Read => FsPerms::ReadOnly,
            FsAccess::ReadWrite => FsPerms::ReadWrite,
        };
        builder
            .preopened_dir(&grant.host_path, &grant.guest_path, perms)
            .map_err(|e| Error::Grants {
                component: id.clone(),
                detail: format!(
                    "cannot preopen {} as {}: {e:#}",
                    grant.host_path.display(),
                    grant.guest_path
                ),
            })?;
    }
    let network = caps.allows_network();
    builder.allow_tcp(network);
    builder.allow_udp(network);
    builder.allow_ip_name_lookup(caps.allows_name_lookup());
    let caps = Arc::clone(caps);
    let audit = Arc::clone(audit);
    builder.socket_addr_check(move |addr, use_| {
        let allowed = match socket_allowed(&caps, &addr, use_) {
            Ok(()) => true,
            Err(denial) => {
                let resource = format!("{} {addr}", use_name(use_));
                audit_denial(audit.as_ref(), caps.component(), denial, &resource);
                false
            }
        };
        Box::pin(async move { allowed })
    });
    Ok(builder.build())
}

/// Whether `caps` allow a socket to use `addr` for `use_`: outbound only.
pub(crate) fn socket_allowed(
    caps: &CapabilitySet,
    addr: &SocketAddr,
    use_: SocketAddrUse,
) -> std::result::Result<(), Denial> {
    let denied = Denial {
        capability: Capability::Network,
    };
    match use_ {
        SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => {
            caps.check_network(addr)
        }
        // The local address a client binds before it connects or sends: any interface, a
        // port the system picks.
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind
            if addr.ip().is_unspecified() && addr.port() == 0 && caps.allows_network() =>
        {
            Ok(())
        }
        SocketAddrUse::TcpBind
        | SocketAddrUse::UdpBind
        | SocketAddrUse::TcpListen
        | SocketAddrUse::TcpAccept => Err(denied),
    }
}

/// How a socket use is named in the audit log.
fn use_name(use_: SocketAddrUse) -> &'static str {
    match use_ {
        SocketAddrUse::TcpBind => "tcp-bind",
        SocketAddrUse::TcpListen => "tcp-listen",
        SocketAddrUse::TcpAccept => "tcp-accept",
        SocketAddrUse::TcpConnect => "tcp-connect",
        SocketAddrUse::UdpBind => "udp-bind",
        SocketAddrUse::UdpSend => "udp-send",
        SocketAddrUse::UdpReceive => "udp-receive",
    }
}

/// A guest output stream that becomes `tracing` events, one per line.
struct TracingOutput {
    component: Arc<str>,
    stream: &'static str,
    tail: Option<StderrTail>,
}

impl TracingOutput {
    fn new(id: &ComponentId, stream: &'static str, tail: Option<StderrTail>) -> Self {
        Self {
            component: Arc::from(id.to_string()),
            stream,
            tail,
        }
    }
}

impl IsTerminal for TracingOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TracingOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            component: Arc::clone(&self.component),
            stream: self.stream,
            tail: self.tail.clone(),
            line: Vec::new(),
            failing: false,
        })
    }
}

/// The longest line kept before it is emitted anyway.
const MAX_LINE: usize = 4096;

struct LineWriter {
    component: Arc<str>,
    stream: &'static str,
    tail: Option<StderrTail>,
    line: Vec<u8>,
    /// A panic (Rust) or an uncaught exception (Python) began on stderr: this line and every
    /// later one of the instance are its message and are logged at `warn`. The instance traps
    /// right after, so nothing ordinary follows.
    failing: bool,
}

/// Whether a stderr line opens a guest's panic or uncaught-exception report.
fn opens_failure_report(line: &str) -> bool {
    // `thread '<name>' panicked at`, or with the thread's number (`'<name>' (1) panicked`).
    (line.starts_with("thread '") && line.contains(" panicked at "))
        || line.starts_with("Traceback (most recent call last):")
}

impl LineWriter {
    /// Emits the buffered line; a blank one (such as the empty line a Rust panic message
    /// starts with) is dropped rather than logged as an empty event.
    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        if text.trim().is_empty() {
            return;
        }
        if self.tail.is_some() && opens_failure_report(&text) {
            self.failing = true;
        }
        if self.failing {
            tracing::warn!(target: "airssys::guest", component = %self.component, stream = self.stream, "{text}");
        } else {
            tracing::info!(target: "airssys::guest", component = %self.component, stream = self.stream, "{text}");
        }
        if let Some(tail) = &self.tail {
            tail.push(text);
        }
    }
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        for &byte in buf {
            if byte == b'\n' {
                self.emit();
            } else {
                self.line.push(byte);
                if self.line.len() >= MAX_LINE {
                    self.emit();
                }
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.line.is_empty() {
            self.emit();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
    }
}

#[cfg(test)]
mod tests {
    use wasm_security::{Grants, NetworkGrant};

    use super::*;

    fn caps(host: &str, port: Option<u16>) -> CapabilitySet {
        let grants = Grants {
            network: vec![NetworkGrant {
                host: host.into(),
                port,
            }],
            ..Grants::default()
        };
        CapabilitySet::compile(
            "test/net/1".parse().unwrap_or_else(|e| panic!("{e}")),
            &grants,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn blank_guest_lines_are_dropped() {
        use tokio::io::AsyncWrite;

        let tail = StderrTail::default();
        let mut writer = LineWriter {
            component: Arc::from("test/out/1"),
            stream: "stderr",
            tail: Some(tail.clone()),
            line: Vec::new(),
            failing: false,
        };
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let text = b"\nthread '<unnamed>' panicked at src/lib.rs:1:1:\n  \nboom\n";
        let written = Pin::new(&mut writer).poll_write(&mut cx, text);
        assert!(matches!(written, Poll::Ready(Ok(n)) if n == text.len()));
        let kept: Vec<String> = tail.0.lock().iter().cloned().collect();
        assert_eq!(
            kept,
            ["thread '<unnamed>' panicked at src/lib.rs:1:1:", "boom"]
        );
        assert!(
            writer.failing,
            "a panic turns the rest of the stream to warn"
        );
    }

    #[test]
    fn panics_and_tracebacks_open_failure_reports_and_plain_lines_do_not() {
        assert!(opens_failure_report(
            "thread '<unnamed>' panicked at src/lib.rs:22:13:"
        ));
        assert!(opens_failure_report(
            "thread '<unnamed>' (1) panicked at panicker/src/lib.rs:23:13:"
        ));
        assert!(opens_failure_report("Traceback (most recent call last):"));
        assert!(!opens_failure_report("processing order 7"));
        assert!(!opens_failure_report("the thread 'x' was parked"));
    }

    #[test]
    fn grants_allow_outbound_use_only() {
        let caps = caps("10.0.0.1", Some(80));
        for use_ in [
            SocketAddrUse::TcpConnect,
            SocketAddrUse::UdpSend,
            SocketAddrUse::UdpReceive,
        ] {
            assert!(socket_allowed(&caps, &addr("10.0.0.1:80"), use_).is_ok());
            assert!(socket_allowed(&caps, &addr("10.0.0.2:80"), use_).is_err());
            assert!(socket_allowed(&caps, &addr("10.0.0.1:81"), use_).is_err());
        }
        // The ephemeral bind of a client is allowed, a bind to a port or address is not.
        for use_ in [SocketAddrUse::TcpBind, SocketAddrUse::UdpBind] {
            assert!(socket_allowed(&caps, &addr("0.0.0.0:0"), use_).is_ok());
            assert!(socket_allowed(&caps, &addr("[::]:0"), use_).is_ok());
            assert!(socket_allowed(&caps, &addr("0.0.0.0:8080"), use_).is_err());
            assert!(socket_allowed(&caps, &addr("10.0.0.1:80"), use_).is_err());
        }
        // Listening and accepting are never allowed, even on a granted address.
        for use_ in [SocketAddrUse::TcpListen, SocketAddrUse::TcpAccept] {
            assert!(socket_allowed(&caps, &addr("0.0.0.0:0"), use_).is_err());
            assert!(socket_allowed(&caps, &addr("10.0.0.1:80"), use_).is_err());
        }
        assert!(!caps.allows_name_lookup());
    }

    #[test]
    fn without_grants_not_even_the_ephemeral_bind_is_allowed() {
        let none = CapabilitySet::deny_all("test/net/1".parse().unwrap_or_else(|e| panic!("{e}")));
        for use_ in [SocketAddrUse::TcpBind, SocketAddrUse::UdpBind] {
            assert!(socket_allowed(&none, &addr("0.0.0.0:0"), use_).is_err());
        }
        assert!(!none.allows_name_lookup());
    }

    #[test]
    fn only_a_wildcard_host_grant_allows_name_lookup() {
        assert!(caps("*", Some(443)).allows_name_lookup());
        assert!(!caps("127.0.0.1", None).allows_name_lookup());
    }
}
