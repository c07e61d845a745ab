//! Host bindings generated from the `wasmgate:plugin` WIT package (world `gateway-plugin`).
//! Exports are called asynchronously (epoch deadlines yield); `http.send` is an async import;
//! the other imports may trap.
#![allow(missing_docs, unsafe_code)] // the generated code calls typed functions unchecked

wasmtime::component::bindgen!({
    world: "gateway-plugin",
    path: "../wit",
    imports: {
        "wasmgate:plugin/http.send": async,
        default: trappable,
    },
    exports: { default: async },
});

pub use self::exports::wasmgate::plugin::{
    authorizer, cache_policy, plugin as manifest, request_transformer, response_transformer,
    validator,
};
pub use self::wasmgate::plugin::{request_context, request_head, response_head, types};
