//! HTTP handler components: components that export `wasi:http/incoming-handler@0.2.x` (any
//! `wasi:http` proxy, built with the `wasi` crate, wit-bindgen or componentize-js) instead of
//! the actor lifecycle. Each request gets a fresh instance of a pre-instantiated component,
//! with the same host functions, grants and limits as an actor's instance: the CPU deadline,
//! the wall-clock timeout, the memory limit and fuel hold per request.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body::Body;
use http_body_util::BodyExt;
use wasm_core::TraceContext;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::engine::WasmEngine;
use crate::error::{Error, Result, boxed};
use crate::instance::{InstanceSpec, Runner};
use crate::loader::{ComponentShape, compile_checked};
use crate::state::ComponentState;

/// The export a handler component has (any 0.2 patch version).
pub const INCOMING_HANDLER_EXPORT: &str = "wasi:http/incoming-handler@0.2";

/// What a request's handling is called in errors.
const HANDLE: &str = "wasi:http/incoming-handler.handle";

/// A compiled handler component, ready to be instantiated once per request. Cheap to clone.
#[derive(Clone)]
pub struct LoadedHandler {
    inner: Arc<Handler>,
}

struct Handler {
    name: String,
    pre: ProxyPre<ComponentState>,
}

impl fmt::Debug for LoadedHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedHandler")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl LoadedHandler {
    /// The name it was loaded under (its file, usually).
    pub fn name(&self) -> &str {
        &self.inner.name
    }
}

/// Whether a component's exports make it an HTTP handler.
pub fn is_handler(shape: &ComponentShape) -> bool {
    shape
        .exports
        .iter()
        .any(|e| e.starts_with(INCOMING_HANDLER_EXPORT))
}

impl WasmEngine {
    /// Validates, compiles (through the engine's cache) and links a handler component.
    ///
    /// # Errors
    ///
    /// As [`crate::ComponentLoader::load_bytes`], with [`Error::MissingExport`] naming
    /// `wasi:http/incoming-handler@0.2` when it does not export it.
    pub fn load_handler_bytes(&self, name: &str, bytes: &[u8]) -> Result<LoadedHandler> {
        let (_, _, component) =
            compile_checked(self, name, bytes, INCOMING_HANDLER_EXPORT, is_handler)?;
        let pre = self
            .linker()
            .instantiate_pre(&component)
            .and_then(ProxyPre::new)
            .map_err(|e| Error::Invalid {
                name: name.to_owned(),
                detail: format!("it cannot be linked as a `wasi:http` proxy: {e:#}"),
            })?;
        Ok(LoadedHandler {
            inner: Arc::new(Handler {
                name: name.to_owned(),
                pre,
            }),
        })
    }

    /// As [`WasmEngine::load_handler_bytes`], reading the file.
    ///
    /// # Errors
    ///
    /// [`Error::Read`] if the file cannot be read, and as [`WasmEngine::load_handler_bytes`].
    pub fn load_handler_file(&self, path: &Path) -> Result<LoadedHandler> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        self.load_handler_bytes(&path.display().to_string(), &bytes)
    }
}

/// Serves one request with a fresh instance of `handler` built from `spec`; the requests the
/// handler makes with `airssys:core/calls` carry `trace`. Returns the response once the guest
/// has set it (its body streams on while the guest writes it, under
/// the same limits).
///
/// # Errors
///
/// [`Error::Timeout`] if no response was set within the wall-clock limit;
/// [`Error::LimitExceeded`] for the CPU deadline, memory or fuel; [`Error::Trapped`] if the
/// guest trapped, returned without setting a response, or set an error; the errors of
/// instantiation.
pub async fn serve_http<B>(
    engine: &WasmEngine,
    handler: &LoadedHandler,
    spec: InstanceSpec,
    request: http::Request<B>,
    trace: Option<TraceContext>,
) -> Result<http::Response<HyperOutgoingBody>>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: fmt::Display,
{
    let request = request.map(|body| {
        body.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())))
    });
    let mut runner = Runner::new(engine, spec)?;
    runner.store.data_mut().trace = trace;
    let id = runner.id.clone();
    let bad = |e: wasmtime::Error| Error::Instantiate {
        component: id.clone(),
        source: boxed(e),
    };
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let view = &mut runner.store.data_mut().http();
    let incoming = view
        .new_incoming_request(Scheme::Http, request)
        .map_err(bad)?;
    let out = view.new_response_outparam(sender).map_err(bad)?;
    let pre = handler.inner.pre.clone();
    // The guest runs in its own task: it may go on writing the body after the response's
    // head is sent.
    let task = tokio::spawn(async move {
        let (started, timeout) = runner.begin(runner.call_timeout())?;
        let store = &mut runner.store;
        let call = async {
            let proxy = pre.instantiate_async(&mut *store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut *store, incoming, out)
                .await
        };
        let outcome = runner.meter.metered(call, started, timeout).await;
        runner.complete(HANDLE, timeout, outcome).await
    });
    let failed = |message: String| Error::Trapped {
        component: id.clone(),
        export: HANDLE,
        message,
    };
    match receiver.await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => Err(failed(format!(
            "the handler answered with an error: {code:?}"
        ))),
        Err(_) => match task.await {
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => Err(failed("it returned without setting a response".to_owned())),
            Err(join) => Err(failed(format!("its task ended: {join}"))),
        },
    }
}
