//! Routes given before the host exists ([`crate::HostBuilder::http`]): a handler is named by
//! its file and compiled on the host's engine when the host is built.

use std::path::PathBuf;

use wasm_core::{ComponentId, ResourceLimits};
use wasm_security::Grants;

use super::{HandlerSpec, HttpRoute, HttpTarget};
use crate::error::Result;

/// A handler component by its file, for [`IngressRoute::handler`].
#[derive(Debug, Clone)]
pub struct HandlerFile {
    /// The id its instances run under (grants and audit name it).
    pub id: ComponentId,
    /// The component file.
    pub path: PathBuf,
    /// What it may do; nothing by default.
    pub grants: Grants,
    /// Its limits per request; `None` takes the host's default limits.
    pub limits: Option<ResourceLimits>,
}

impl HandlerFile {
    /// The handler in `path`, run as `id` with no grants and the host's default limits.
    pub fn new(id: ComponentId, path: impl Into<PathBuf>) -> Self {
        Self {
            id,
            path: path.into(),
            grants: Grants::default(),
            limits: None,
        }
    }
}

/// Where a route given to the builder leads.
#[derive(Debug, Clone)]
enum Leads {
    Actor(ComponentId),
    Handler(Box<HandlerFile>),
}

/// A route for [`crate::HostBuilder::http`], in Spin's syntax.
#[derive(Debug, Clone)]
pub struct IngressRoute {
    route: String,
    leads: Leads,
}

impl IngressRoute {
    /// `route` leads to the actor `id`: the body is a request's payload, the reply the
    /// response. The actor need not run yet; until it does, the route answers `503`.
    pub fn actor(route: impl Into<String>, id: ComponentId) -> Self {
        Self {
            route: route.into(),
            leads: Leads::Actor(id),
        }
    }

    /// `route` leads to a handler component, given by its file.
    pub fn handler(route: impl Into<String>, handler: HandlerFile) -> Self {
        Self {
            route: route.into(),
            leads: Leads::Handler(Box::new(handler)),
        }
    }

    /// The route, compiled on `engine`: a handler's file is read and compiled now.
    pub(crate) fn compile(
        self,
        engine: &wasm_runtime::WasmEngine,
        default_limits: ResourceLimits,
    ) -> Result<HttpRoute> {
        let target = match self.leads {
            Leads::Actor(id) => HttpTarget::Actor(id),
            Leads::Handler(file) => {
                let HandlerFile {
                    id,
                    path,
                    grants,
                    limits,
                } = *file;
                HttpTarget::Handler(Box::new(HandlerSpec {
                    handler: engine.load_handler_file(&path)?,
                    id,
                    grants,
                    limits: limits.unwrap_or(default_limits),
                }))
            }
        };
        Ok(HttpRoute {
            route: self.route,
            target,
        })
    }
}
