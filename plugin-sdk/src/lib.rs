//! The wasmgate plugin SDK: write gateway plugins in Rust and build them as WebAssembly
//! components with `cargo build --target wasm32-wasip2`.
//!
//! Implement [`Plugin`] — its [`Plugin::manifest`] and the phase methods you serve; every other
//! phase keeps its default — and export it with [`export!`]:
//!
//! ```no_run
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
//!             Some("ada-token") => Decision::allow("ada", [("via", "token")]),
//!             Some(_) => Decision::Forbidden,
//!             None => Decision::Unauthorized,
//!         }
//!     }
//! }
//!
//! wasmgate_plugin_sdk::export!(OnlyAda);
//! ```

#![deny(unsafe_code)]

mod call;
mod helpers;
#[cfg(any(test, all(feature = "small-blocks", target_family = "wasm")))]
mod small_blocks;

/// The allocator of plugins built with the SDK for WebAssembly (single-threaded): see
/// [`small_blocks::SmallBlocks`]. Turn the default `small-blocks` feature off to bring your own.
#[cfg(all(
    feature = "small-blocks",
    target_family = "wasm",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: small_blocks::SmallBlocks = small_blocks::SmallBlocks::new();

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
pub use bindings::wasmgate::plugin::types::{Entry, Header, Response};
pub use call::{RequestContext, RequestHead, ResponseHead};
pub use helpers::{config, log, ConfigCell, Pairs};

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
        Allow, CacheDecision, CacheRule, ConfigCell, Decision, Entry, Header, Manifest, Pairs,
        Phases, Plugin, RequestAction, RequestChanges, RequestContext, RequestHead, Response,
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

    /// Cache-policy phase (`cache-policy.decide`): how to cache the request, if at all.
    fn decide(_request: &RequestHead, _ctx: &RequestContext) -> CacheDecision {
        CacheDecision::Bypass
    }
}

/// Export a [`Plugin`] as the component's implementation of every `gateway-plugin` interface.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        const _: () = {
            use $crate::bindings::exports::wasmgate::plugin as exports;

            struct Exported;

            impl exports::plugin::Guest for Exported {
                fn init() -> Result<$crate::Manifest, String> {
                    <$plugin as $crate::Plugin>::manifest()
                }
            }

            impl exports::authorizer::Guest for Exported {
                fn authorize(body: Option<Vec<u8>>) -> $crate::Decision {
                    <$plugin as $crate::Plugin>::authorize(
                        &$crate::RequestHead::IN_CALL,
                        body.as_deref(),
                        &$crate::RequestContext::IN_CALL,
                    )
                }
            }

            impl exports::request_transformer::Guest for Exported {
                fn transform_request(body: Option<Vec<u8>>) -> $crate::RequestAction {
                    <$plugin as $crate::Plugin>::transform_request(
                        &$crate::RequestHead::IN_CALL,
                        body.as_deref(),
                        &$crate::RequestContext::IN_CALL,
                    )
                }
            }

            impl exports::response_transformer::Guest for Exported {
                fn transform_response(body: Option<Vec<u8>>) -> $crate::ResponseChanges {
                    <$plugin as $crate::Plugin>::transform_response(
                        &$crate::ResponseHead::IN_CALL,
                        body.as_deref(),
                        &$crate::RequestContext::IN_CALL,
                    )
                }
            }

            impl exports::validator::Guest for Exported {
                fn validate(body: Option<Vec<u8>>) -> $crate::Verdict {
                    <$plugin as $crate::Plugin>::validate(
                        &$crate::RequestHead::IN_CALL,
                        body.as_deref(),
                        &$crate::RequestContext::IN_CALL,
                    )
                }
            }

            impl exports::cache_policy::Guest for Exported {
                fn decide() -> $crate::CacheDecision {
                    <$plugin as $crate::Plugin>::decide(
                        &$crate::RequestHead::IN_CALL,
                        &$crate::RequestContext::IN_CALL,
                    )
                }
            }

    $crate::bindings::export!(Exported with_types_in $crate::bindings);
        };
    };
}
