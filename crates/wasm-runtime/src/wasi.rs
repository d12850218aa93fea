//! WASI 0.2 for a component, granted only as far as its capabilities allow.
//!
//! Environment variables and preopened directories come from the grants; sockets are denied
//! unless a network grant names the address (every refused address is audited); stdin is
//! empty; stdout and stderr become `tracing` events tagged with the component id.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;
use wasm_core::ComponentId;
use wasm_security::{AuditSink, CapabilitySet, FsAccess, audit_denial};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
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
    builder.allow_ip_name_lookup(network);
    let caps = Arc::clone(caps);
    let audit = Arc::clone(audit);
    builder.socket_addr_check(move |addr, _use| {
        let allowed = match caps.check_network(&addr) {
            Ok(()) => true,
            Err(denial) => {
                audit_denial(audit.as_ref(), caps.component(), denial, &addr.to_string());
                false
            }
        };
        Box::pin(async move { allowed })
    });
    Ok(builder.build())
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
}

impl LineWriter {
    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        tracing::info!(target: "airssys::guest", component = %self.component, stream = self.stream, "{text}");
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
