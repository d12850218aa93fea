//! Outgoing `wasi:http`, allowed only to the origins a component's grants name.
//!
//! wasmtime-wasi-http builds the request from the guest's resources; before it is sent, the
//! gate checks its scheme, host and port against the component's `http_outbound` origins. A
//! request to any other origin is refused with `HTTP-request-denied` (the guest's `fetch`
//! rejects) and the denial is audited like every other. An allowed request is sent by
//! wasmtime-wasi-http's own client, within the call's limits: its wait is not CPU time, but it
//! counts against the call's wall-clock cap, and an instance stopped mid-request drops it.

use std::future::Future;
use std::sync::Arc;

use wasm_security::{AuditSink, CapabilitySet, HttpScheme, audit_denial};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// What a guest's outgoing request future resolves to.
type Sent = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
>;

/// The hooks of one component's `wasi:http`: its grants and where denials go.
pub(crate) struct HttpGate {
    caps: Arc<CapabilitySet>,
    audit: Arc<dyn AuditSink>,
}

impl HttpGate {
    pub(crate) fn new(caps: Arc<CapabilitySet>, audit: Arc<dyn AuditSink>) -> Self {
        Self { caps, audit }
    }

    /// Checks a request's origin; a refusal is audited and says which error the guest gets.
    fn check(&self, request: &http::Request<WasiBody>) -> Result<(), HttpError> {
        let uri = request.uri();
        let scheme = uri.scheme_str().and_then(HttpScheme::parse);
        // As written (`[::1]` for IPv6), for the audit; the check takes it without brackets.
        let (Some(scheme), Some(written)) = (scheme, uri.host()) else {
            return Err(HttpError::HttpRequestUriInvalid);
        };
        let host = written.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or_else(|| scheme.default_port());
        self.caps.check_http(scheme, host, port).map_err(|denial| {
            let origin = format!(
                "{} {}://{written}:{port}",
                request.method(),
                scheme.as_str()
            );
            audit_denial(self.audit.as_ref(), self.caps.component(), denial, &origin);
            HttpError::HttpRequestDenied
        })
    }
}

impl WasiHttpHooks for HttpGate {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        match self.check(&request) {
            // wasmtime-wasi-http's own client (the hooks' default, which `[(); 0]` keeps).
            Ok(()) => WasiHttpHooks::send_request(&mut [(); 0], request, options, fut),
            Err(refused) => Box::new(async move { Err(refused) }),
        }
    }
}
