//! `wasi:sockets/ip-name-lookup` with its capability check audited.
//!
//! wasmtime-wasi refuses a lookup its context does not allow, but tells no one. This
//! implementation replaces wasmtime-wasi's in the linker: a component whose grants do not
//! allow name lookup (only a wildcard host grant does) gets `access-denied` and the refusal is
//! audited like any other denial; an allowed lookup, and the address stream it returns, are
//! wasmtime-wasi's own.

use wasm_security::{Capability, Denial};
use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    self, Host, HostResolveAddressStream, ResolveAddressStream,
};
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode, IpAddress, Network};
use wasmtime_wasi::p2::{DynPollable, SocketError};
use wasmtime_wasi::sockets::WasiSocketsView;

use crate::state::ComponentState;

/// The lookup interface's view of a component's state.
pub(crate) struct Lookup<'a>(&'a mut ComponentState);

/// Names [`Lookup`] for the generated `add_to_linker`.
struct LookupData;

impl HasData for LookupData {
    type Data<'a> = Lookup<'a>;
}

/// Replaces wasmtime-wasi's `ip-name-lookup` in `linker` (added before) with this one.
pub(crate) fn add_to_linker(linker: &mut Linker<ComponentState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = ip_name_lookup::add_to_linker::<ComponentState, LookupData>(linker, view);
    linker.allow_shadowing(false);
    added
}

fn view(state: &mut ComponentState) -> Lookup<'_> {
    Lookup(state)
}

/// The error conversions the lookup interface uses, from wasmtime-wasi.
impl network::Host for Lookup<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        network::Host::convert_error_code(&mut self.0.sockets(), error)
    }

    fn network_error_code(
        &mut self,
        error: Resource<wasmtime_wasi::p2::bindings::io::error::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        network::Host::network_error_code(&mut self.0.sockets(), error)
    }
}

impl network::HostNetwork for Lookup<'_> {
    fn drop(&mut self, network: Resource<Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.0.sockets(), network)
    }
}

impl Host for Lookup<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        name: String,
    ) -> Result<Resource<ResolveAddressStream>, SocketError> {
        if !self.0.caps.allows_name_lookup() {
            let denial = Denial {
                capability: Capability::Network,
            };
            self.0.deny(denial, &format_args!("ip-name-lookup {name}"));
            return Err(ErrorCode::AccessDenied.into());
        }
        Host::resolve_addresses(&mut self.0.sockets(), network, name)
    }
}

impl HostResolveAddressStream for Lookup<'_> {
    fn resolve_next_address(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> Result<Option<IpAddress>, SocketError> {
        HostResolveAddressStream::resolve_next_address(&mut self.0.sockets(), stream)
    }

    fn subscribe(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        HostResolveAddressStream::subscribe(&mut self.0.sockets(), stream)
    }

    async fn drop(&mut self, stream: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        HostResolveAddressStream::drop(&mut self.0.sockets(), stream).await
    }
}
