//! The [`Host`]'s HTTP ingress: serving routes, their address and listing.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::error::Result;
use crate::manifest::Manifest;

use super::Host;

impl Host {
    /// Serves HTTP ingress on `config.addr` with `routes` (see [`crate::ingress`]); returns
    /// the address it listens on. Replaces the routes served before, if any.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Http`] naming the address: a malformed or duplicate route, grants that
    /// do not compile, an address it cannot listen on.
    pub async fn serve_http(
        &self,
        config: crate::ingress::HttpConfig,
        routes: Vec<crate::ingress::HttpRoute>,
    ) -> Result<SocketAddr> {
        let (addr, old) = self.start_http(config, routes)?;
        if let Some(old) = old {
            old.stop().await;
        }
        Ok(addr)
    }

    /// Starts serving HTTP ingress; returns its address and the server it replaced.
    pub(crate) fn start_http(
        &self,
        config: crate::ingress::HttpConfig,
        routes: Vec<crate::ingress::HttpRoute>,
    ) -> Result<(SocketAddr, Option<Arc<crate::ingress::IngressServer>>)> {
        let server = crate::ingress::IngressServer::start(
            config,
            routes,
            &self.core.system,
            self.core.request_timeout,
        )?;
        let addr = server.addr();
        let old = self.core.ingress.lock().replace(Arc::new(server));
        Ok((addr, old))
    }

    /// Serves the manifest's `[[http]]` routes on `addr` (its handlers compiled here; its
    /// actors must be running, on this host or in its cluster), with the manifest's caps.
    ///
    /// # Errors
    ///
    /// As [`Manifest::check_handlers`] and [`Host::serve_http`].
    pub async fn serve_manifest_http(
        &self,
        manifest: &Manifest,
        addr: SocketAddr,
    ) -> Result<SocketAddr> {
        let handlers = manifest.check_handlers(self.core.system.engine())?;
        let http = manifest.http();
        let mut routes = Vec::with_capacity(http.routes.len());
        for route in &http.routes {
            let target = match http
                .handlers
                .iter()
                .zip(&handlers)
                .find(|(entry, _)| entry.id == route.component)
            {
                Some((entry, handler)) => {
                    crate::ingress::HttpTarget::Handler(Box::new(crate::ingress::HandlerSpec {
                        id: entry.id.clone(),
                        handler: handler.clone(),
                        grants: entry.grants.clone(),
                        limits: entry
                            .limits
                            .or(&manifest.host().limits)
                            .apply(self.core.limits),
                    }))
                }
                None => crate::ingress::HttpTarget::Actor(route.component.clone()),
            };
            routes.push(crate::ingress::HttpRoute {
                route: route.route.clone(),
                target,
            });
        }
        let mut config = crate::ingress::HttpConfig::new(addr);
        if let Some(max) = manifest.host().http_max_body {
            config.max_body = max;
        }
        if let Some(cap) = manifest.host().http_concurrency {
            config.max_concurrency = cap;
        }
        self.serve_http(config, routes).await
    }

    /// Where HTTP ingress listens, if it serves.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.core.ingress.lock().as_ref().map(|s| s.addr())
    }

    /// The HTTP routes served, in the order given, each with what it leads to
    /// (`handler <id>` or `actor <id>`).
    pub fn http_routes(&self) -> Vec<(String, String)> {
        self.core
            .ingress
            .lock()
            .as_ref()
            .map(|s| {
                s.routes()
                    .iter()
                    .map(|l| (l.route.clone(), format!("{} {}", l.kind, l.id)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Compiles a handler component (one that exports `wasi:http/incoming-handler`) on this
    /// host's engine, for an [`crate::ingress::HttpTarget::Handler`] route.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Runtime`] if the file cannot be read or is not such a component.
    pub fn load_handler_file(&self, path: impl AsRef<Path>) -> Result<wasm_runtime::LoadedHandler> {
        Ok(self.core.system.engine().load_handler_file(path.as_ref())?)
    }
}
