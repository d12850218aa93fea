//! HTTP ingress: components reached from outside over HTTP/1.1 and HTTP/2 (hyper-util's
//! auto builder), routed by path with Spin's route syntax. A route leads to a handler
//! component (one that exports `wasi:http/incoming-handler`, run in a fresh instance per
//! request under its limits) or to an actor (the body is a request's payload, the reply the
//! response). Each route has a cap on requests in flight (`503` beyond it) and every request
//! a cap on its body (`413`). TLS is not served: put a proxy in front.

mod given;
mod route;
mod serve;
mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use wasm_actor::ActorSystem;
use wasm_core::{ComponentId, ResourceLimits};
use wasm_runtime::LoadedHandler;
use wasm_security::{CapabilitySet, Grants};

pub use given::{HandlerFile, IngressRoute};
pub use route::{Matched, Pattern, RouteError, RouteTable};
pub(crate) use stats::{RouteSnapshot, RouteStats};

use crate::error::{Error, Result};

/// The largest request body by default: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
/// Requests in flight per route by default.
pub const DEFAULT_MAX_CONCURRENCY: usize = 256;

/// Where and how HTTP ingress listens.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The address (port 0 picks a free one; see [`crate::Host::http_addr`]).
    pub addr: SocketAddr,
    /// The largest request body, in bytes (`413` beyond it).
    pub max_body: usize,
    /// Requests in flight per route (`503` beyond it).
    pub max_concurrency: usize,
    /// How long a shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl HttpConfig {
    /// Listens on `addr` with the default caps and a 5 s shutdown grace.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            max_body: DEFAULT_MAX_BODY,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// A handler component a route leads to: its code, id, grants and limits.
#[derive(Debug, Clone)]
pub struct HandlerSpec {
    /// The id its instances run under (grants and audit name it).
    pub id: ComponentId,
    /// Its compiled code ([`crate::Host::load_handler_file`]).
    pub handler: LoadedHandler,
    /// What it may do.
    pub grants: Grants,
    /// Its limits, per request.
    pub limits: ResourceLimits,
}

/// What a route leads to.
#[derive(Debug, Clone)]
pub enum HttpTarget {
    /// A handler component.
    Handler(Box<HandlerSpec>),
    /// An actor: the body is a request's payload, the reply is the response.
    Actor(ComponentId),
}

/// One route.
#[derive(Debug, Clone)]
pub struct HttpRoute {
    /// The route, in Spin's syntax (`/api/orders`, `/users/:id`, `/static/...`).
    pub route: String,
    /// Where it leads.
    pub target: HttpTarget,
}

/// A route's target, ready to serve.
#[derive(Debug)]
pub(crate) enum Ready {
    Handler {
        spec: Box<HandlerSpec>,
        caps: Arc<CapabilitySet>,
    },
    Actor(ComponentId),
}

/// A route as served: its target and its cap on requests in flight.
#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) target: Ready,
    pub(crate) permits: Semaphore,
    pub(crate) cap: usize,
    pub(crate) stats: Arc<RouteStats>,
}

/// A running ingress server.
#[derive(Debug)]
pub(crate) struct IngressServer {
    serving: crate::serving::Serving,
    routes: Vec<Listed>,
    stats: Vec<Arc<RouteStats>>,
}

/// A served route, for listings: the route, `handler` or `actor`, and the component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub(crate) route: String,
    pub(crate) kind: &'static str,
    pub(crate) id: ComponentId,
}

impl IngressServer {
    /// Checks the routes, binds the address and starts serving.
    pub(crate) fn start(
        config: HttpConfig,
        routes: Vec<HttpRoute>,
        system: &Arc<ActorSystem>,
        request_timeout: Duration,
    ) -> Result<Self> {
        let failed = |reason: String| Error::Http {
            addr: config.addr,
            reason,
        };
        let mut listed = Vec::with_capacity(routes.len());
        let mut stats = Vec::with_capacity(routes.len());
        let mut ready = Vec::with_capacity(routes.len());
        for route in routes {
            let (target, what) = match route.target {
                HttpTarget::Actor(id) => (Ready::Actor(id.clone()), ("actor", id)),
                HttpTarget::Handler(spec) => {
                    let caps = CapabilitySet::compile(spec.id.clone(), &spec.grants)
                        .map_err(|e| failed(format!("route `{}`: {e}", route.route)))?;
                    let what = ("handler", spec.id.clone());
                    (
                        Ready::Handler {
                            spec,
                            caps: Arc::new(caps),
                        },
                        what,
                    )
                }
            };
            listed.push(Listed {
                route: route.route.clone(),
                kind: what.0,
                id: what.1,
            });
            let counters = Arc::new(RouteStats::new(&route.route));
            stats.push(counters.clone());
            ready.push((
                route.route,
                Served {
                    target,
                    permits: Semaphore::new(config.max_concurrency),
                    cap: config.max_concurrency,
                    stats: counters,
                },
            ));
        }
        let table = RouteTable::new(ready).map_err(|e| failed(e.reason))?;
        let (listener, addr) = crate::serving::bind(config.addr).map_err(failed)?;
        let shared = Arc::new(serve::Shared {
            system: Arc::downgrade(system),
            request_timeout,
            table,
            max_body: config.max_body,
        });
        let grace = config.shutdown_grace;
        let serving = crate::serving::Serving::spawn(addr, |stopped| {
            serve::serve(listener, shared, stopped, grace)
        });
        tracing::info!(target: "airssys::http", %addr, routes = listed.len(), "HTTP ingress listening");
        Ok(Self {
            serving,
            routes: listed,
            stats,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.serving.addr()
    }

    /// The routes and what each leads to, in the order given.
    pub(crate) fn routes(&self) -> &[Listed] {
        &self.routes
    }

    /// Each route's counters now.
    pub(crate) fn snapshot(&self) -> Vec<RouteSnapshot> {
        self.stats.iter().map(|s| s.snapshot()).collect()
    }

    /// Stops accepting, lets requests in flight finish (within the grace), and waits.
    pub(crate) async fn stop(&self) {
        self.serving.stop().await;
    }
}
