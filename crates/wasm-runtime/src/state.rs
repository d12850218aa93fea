//! The per-instance store data: WASI context, resource table, capabilities, services, limits.

use std::fmt;
use std::sync::Arc;

use wasm_core::{ComponentId, StorageTxn, TraceContext};
use wasm_security::{CapabilitySet, Denial, audit_denial};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::airssys::core::{errors, types};
use crate::cpu::CpuMeter;
use crate::http::HttpGate;
use crate::limits::Limiter;
use crate::services::HostServices;
use crate::wasi::StderrTail;

/// Everything one component instance's host functions need. One per store.
pub struct ComponentState {
    pub(crate) id: ComponentId,
    pub(crate) caps: Arc<CapabilitySet>,
    pub(crate) services: HostServices,
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    /// Checks every outgoing `wasi:http` request against the origin grants.
    pub(crate) http_gate: HttpGate,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) stderr: StderrTail,
    /// The CPU meter of the current call: blocking host work is taken off the guest's time.
    pub(crate) meter: Arc<CpuMeter>,
    /// The storage writes of the call in progress; `None` until it writes.
    pub(crate) txn: Option<StorageTxn>,
    /// The trace its `calls.call` requests carry when the router has none of its own: the
    /// HTTP request's, for a handler instance.
    pub(crate) trace: Option<TraceContext>,
}

impl fmt::Debug for ComponentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentState")
            .field("id", &self.id)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl ComponentState {
    /// Audits a denial and returns the message the guest sees: it names the capability, the
    /// component and the resource.
    pub(crate) fn deny(&self, denial: Denial, resource: &dyn fmt::Display) -> String {
        let resource = resource.to_string();
        audit_denial(self.services.audit.as_ref(), &self.id, denial, &resource);
        format!("{denial} to {} (for {resource})", self.id)
    }
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ComponentState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_gate,
        }
    }
}

impl types::Host for ComponentState {}
impl errors::Host for ComponentState {}
