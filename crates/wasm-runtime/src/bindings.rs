//! The one `bindgen!` run over the top-level `wit/` contract.
//!
//! Generated types stay inside this crate: other crates speak `wasm-core` types, and
//! [`crate::convert`] moves values between the two. Only `sleep-millis` is async (it waits);
//! every other import is a plain synchronous host function, so the common calls pay nothing
//! for async machinery.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "airssys:core/runtime-host",
    imports: {
        "airssys:core/host-services.sleep-millis": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

pub(crate) use airssys::core::types as wit;
pub(crate) use exports::airssys::core::component_lifecycle as lifecycle;
