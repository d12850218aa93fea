//! The admin endpoint: HTTP on one address, serving metrics, health, the component inventory
//! and the operations (request, send, stop, start, upgrade).
//!
//! Served by hyper's HTTP/1 server, already in the tree (wasmtime-wasi-http's client is
//! hyper): a dozen fixed routes need no framework. The server holds the host weakly: a host
//! dropped or shut down ends it.

mod inventory;
mod metrics;
mod routes;

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::state::Core;

/// The largest request body the admin endpoint reads by default: 64 MiB (an upgrade's
/// `.wasm` file; a request payload is further limited by the messaging layer).
pub const DEFAULT_MAX_BODY: usize = 64 << 20;

/// Where and how a host serves its admin endpoint.
///
/// Mutating routes (`POST`) need `Authorization: Bearer <token>` when a token is set, and a
/// token must be set when the address is not a loopback address: the host refuses to start
/// otherwise. Reads (`GET`) are open to whoever reaches the address.
#[derive(Clone)]
pub struct AdminConfig {
    /// The address to listen on (port 0 picks a free one; see [`crate::Host::admin_addr`]).
    pub addr: SocketAddr,
    /// The bearer token of mutating routes.
    pub token: Option<String>,
    /// The largest request body read, in bytes.
    pub max_body: usize,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("max_body", &self.max_body)
            .finish()
    }
}

impl AdminConfig {
    /// Serves on `addr`, with no token and the default body limit.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            token: None,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// Requires this bearer token on mutating routes.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets the largest request body read.
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }
}

/// A running admin endpoint.
#[derive(Debug)]
pub(crate) struct AdminServer {
    serving: crate::serving::Serving,
}

/// What every connection's handler shares.
#[derive(Debug)]
struct Shared {
    core: Weak<Core>,
    token: Option<String>,
    max_body: usize,
}

impl AdminServer {
    /// Binds the address and starts serving.
    pub(crate) fn start(config: AdminConfig, core: &Arc<Core>) -> Result<Self> {
        let failed = |reason: String| Error::Admin {
            addr: config.addr,
            reason,
        };
        if config.token.as_deref().is_some_and(str::is_empty) {
            return Err(failed("the admin token is empty".to_owned()));
        }
        if !config.addr.ip().is_loopback() && config.token.is_none() {
            return Err(failed(
                "it is not a loopback address, so mutating routes need a bearer token: set one \
                 (--admin-token, AIRSSYS_ADMIN_TOKEN, or AdminConfig::with_token)"
                    .to_owned(),
            ));
        }
        let (listener, addr) = crate::serving::bind(config.addr).map_err(failed)?;
        let shared = Arc::new(Shared {
            core: Arc::downgrade(core),
            token: config.token,
            max_body: config.max_body,
        });
        let serving =
            crate::serving::Serving::spawn(addr, |stopped| serve(listener, shared, stopped));
        tracing::info!(target: "airssys::admin", %addr, "admin endpoint listening");
        Ok(Self { serving })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.serving.addr()
    }

    /// Stops accepting, ends every connection, and waits for the server task.
    pub(crate) async fn stop(&self) {
        self.serving.stop().await;
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |request| {
                            let shared = shared.clone();
                            async move { Ok::<_, std::convert::Infallible>(routes::handle(&shared, request).await) }
                        });
                        if let Err(e) = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                        {
                            tracing::debug!(target: "airssys::admin", error = %e, "admin connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(target: "airssys::admin", error = %e, "admin endpoint cannot accept");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}
