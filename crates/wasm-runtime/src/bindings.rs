//! The one `bindgen!` run over the top-level `wit/` contract.
//!
//! Generated types stay inside this crate: other crates speak `wasm-core` types, and
//! [`crate::convert`] moves values between the two. Only what can wait is async:
//! `sleep-millis`, and `send`, `request` and `broadcast` (a target on another host answers
//! after a network round trip); every other import is a plain synchronous host function.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "airssys:core/runtime-host",
    imports: {
        "airssys:core/host-services.sleep-millis": async | trappable,
        "airssys:core/host-messaging.send": async | trappable,
        "airssys:core/host-messaging.request": async | trappable,
        "airssys:core/host-messaging.broadcast": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

pub(crate) use airssys::core::types as wit;
pub(crate) use exports::airssys::core::component_lifecycle as lifecycle;

/// The optional `airssys:core/calls@1.1.0` import (`wit/v1.1`, world `calling`): a request
/// that waits for its answer. Linked for every component; one that does not import it is
/// unaffected.
pub(crate) mod calling {
    wasmtime::component::bindgen!({
        path: "../../wit/v1.1",
        world: "airssys:core/calling@1.1.0",
        imports: { default: async | trappable },
    });
}
