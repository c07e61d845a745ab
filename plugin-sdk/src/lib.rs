//! The wasmgate plugin SDK: write gateway plugins in Rust and build them as WebAssembly
//! components with `cargo build --target wasm32-wasip2`.
//!
//! Implement [`Plugin`] — its [`Plugin::manifest`] and the phase methods you serve; every other
//! phase keeps its default — and export it with [`export!`]:
//!
//! ```ignore
//! use wasmgate_plugin_sdk::prelude::*;
//!
//! struct OnlyAda;
//!
//! impl Plugin for OnlyAda {
//!     fn manifest() -> Result<Manifest, String> {
//!         Ok(Manifest::new(Phases::AUTHORIZER))
//!     }
//!
//!     fn authorize(request: &RequestHead, _body: Option<&[u8]>, _ctx: &RequestContext) -> Decision {
//!         match request.bearer_token().as_deref() {
//!             Some("ada-token") => Decision::allow("ada", []),
//!             Some(_) => Decision::Forbidden,
//!             None => Decision::Unauthorized,
//!         }
//!     }
//! }
//!
//! wasmgate_plugin_sdk::export!(OnlyAda);
//! ```

#![deny(unsafe_code)]

mod helpers;

/// Bindings generated from the `wasmgate:plugin` WIT package (world `gateway-plugin`).
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "gateway-plugin",
        path: "../wit",
        pub_export_macro: true,
        default_bindings_module: "wasmgate_plugin_sdk::bindings",
    });
}

pub use bindings::exports::wasmgate::plugin::authorizer::{Allow, Decision};
pub use bindings::exports::wasmgate::plugin::cache_policy::{CacheDecision, CacheRule};
pub use bindings::exports::wasmgate::plugin::plugin::{Manifest, Phases};
pub use bindings::exports::wasmgate::plugin::request_transformer::{RequestAction, RequestChanges};
pub use bindings::exports::wasmgate::plugin::response_transformer::ResponseChanges;
pub use bindings::exports::wasmgate::plugin::validator::Verdict;
pub use bindings::wasmgate::plugin::types::{
    Entry, Header, RequestContext, RequestHead, Response, ResponseHead,
};
pub use helpers::{config, log, ConfigCell};

/// Host services: logging, the key/value store, metrics and outbound HTTP.
pub mod host {
    pub use crate::bindings::wasmgate::plugin::http::{
        send, HttpError, IncomingResponse, OutgoingRequest,
    };
    pub use crate::bindings::wasmgate::plugin::kv;
    pub use crate::bindings::wasmgate::plugin::log::Level;
    pub use crate::bindings::wasmgate::plugin::metrics::{counter_add, histogram_observe};
}

/// Everything a plugin usually needs.
pub mod prelude {
    pub use crate::{
        Allow, CacheDecision, CacheRule, ConfigCell, Decision, Entry, Header, Manifest, Phases,
        Plugin, RequestAction, RequestChanges, RequestContext, RequestHead, Response,
        ResponseChanges, ResponseHead, Verdict,
    };
}

/// A gateway plugin. Implement [`Plugin::manifest`] and the methods of the phases it lists;
/// the others are never called.
pub trait Plugin {
    /// The phases served and the bodies needed. Called once when the gateway loads the plugin:
    /// check the config here ([`config`]) and return an error message if it is wrong.
    fn manifest() -> Result<Manifest, String>;

    /// Authorizer phase.
    fn authorize(_request: &RequestHead, _body: Option<&[u8]>, _ctx: &RequestContext) -> Decision {
        Decision::Forbidden
    }

    /// Request-transformer phase.
    fn transform_request(
        _request: &RequestHead,
        _body: Option<&[u8]>,
        _ctx: &RequestContext,
    ) -> RequestAction {
        RequestAction::Continue(RequestChanges::none())
    }

    /// Response-transformer phase.
    fn transform_response(
        _response: &ResponseHead,
        _body: Option<&[u8]>,
        _ctx: &RequestContext,
    ) -> ResponseChanges {
        ResponseChanges::none()
    }

    /// Validator phase.
    fn validate(_request: &RequestHead, _body: Option<&[u8]>, _ctx: &RequestContext) -> Verdict {
        Verdict::Accept
    }

    /// Cache-policy phase.
    fn cache_decision(_request: &RequestHead, _ctx: &RequestContext) -> CacheDecision {
        CacheDecision::Bypass
    }
}

/// Export a [`Plugin`] as the component's implementation of every `gateway-plugin` interface.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        const _: () = {
            use $crate::bindings::exports::wasmgate::plugin as exports;
            use $crate::bindings::wasmgate::plugin::types;

            struct Exported;

            impl exports::plugin::Guest for Exported {
                fn init() -> Result<$crate::Manifest, String> {
                    <$plugin as $crate::Plugin>::manifest()
                }
            }

            impl exports::authorizer::Guest for Exported {
                fn authorize(
                    request: &types::RequestHead,
                    body: Option<Vec<u8>>,
                    ctx: &types::RequestContext,
                ) -> $crate::Decision {
                    <$plugin as $crate::Plugin>::authorize(request, body.as_deref(), ctx)
                }
            }

            impl exports::request_transformer::Guest for Exported {
                fn transform_request(
                    request: &types::RequestHead,
                    body: Option<Vec<u8>>,
                    ctx: &types::RequestContext,
                ) -> $crate::RequestAction {
                    <$plugin as $crate::Plugin>::transform_request(request, body.as_deref(), ctx)
                }
            }

            impl exports::response_transformer::Guest for Exported {
                fn transform_response(
                    response: &types::ResponseHead,
                    body: Option<Vec<u8>>,
                    ctx: &types::RequestContext,
                ) -> $crate::ResponseChanges {
                    <$plugin as $crate::Plugin>::transform_response(response, body.as_deref(), ctx)
                }
            }

            impl exports::validator::Guest for Exported {
                fn validate(
                    request: &types::RequestHead,
                    body: Option<Vec<u8>>,
                    ctx: &types::RequestContext,
                ) -> $crate::Verdict {
                    <$plugin as $crate::Plugin>::validate(request, body.as_deref(), ctx)
                }
            }

            impl exports::cache_policy::Guest for Exported {
                fn decide(
                    request: &types::RequestHead,
                    ctx: &types::RequestContext,
                ) -> $crate::CacheDecision {
                    <$plugin as $crate::Plugin>::cache_decision(request, ctx)
                }
            }

    $crate::bindings::export!(Exported with_types_in $crate::bindings);
        };
    };
}
