//! The request, the response and the request context of the phase call in progress, as the
//! phase methods of [`crate::Plugin`] receive them: each method reads one thing from the
//! gateway when it is called (the `request-head`, `response-head` and `request-context`
//! imports), so a plugin pays only for what it reads. Only [`crate::export!`] makes them.

use crate::bindings::wasmgate::plugin::{request_context, request_head, response_head};
use crate::{Entry, Header};

/// The request of the call in progress, with the changes of the request transformers before
/// this plugin. When the manifest lists the request headers the plugin reads, it sees no
/// others.
pub struct RequestHead(());

impl RequestHead {
    #[doc(hidden)]
    pub const IN_CALL: Self = Self(());

    /// `GET`, `POST`, ...
    pub fn method(&self) -> String {
        request_head::method()
    }

    /// The path as received, percent-encoded, including any stage prefix.
    pub fn path(&self) -> String {
        request_head::path()
    }

    /// The raw query string without `?`, if there is one.
    pub fn query(&self) -> Option<String> {
        request_head::query()
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<String> {
        request_head::header(name)
    }

    /// Every value of header `name` (any case), in order.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        request_head::header_values(name)
    }

    /// Every header the plugin may see; names are lower-case, one entry per value.
    pub fn headers(&self) -> Vec<Header> {
        request_head::headers()
    }
}

/// The integration's response in the response phase.
pub struct ResponseHead(());

impl ResponseHead {
    #[doc(hidden)]
    pub const IN_CALL: Self = Self(());

    /// Status code.
    pub fn status(&self) -> u16 {
        response_head::status()
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<String> {
        response_head::header(name)
    }

    /// Every value of header `name` (any case), in order.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        response_head::header_values(name)
    }

    /// Every header the plugin may see.
    pub fn headers(&self) -> Vec<Header> {
        response_head::headers()
    }
}

/// What the gateway knows about the request, in every phase.
pub struct RequestContext(());

impl RequestContext {
    #[doc(hidden)]
    pub const IN_CALL: Self = Self(());

    /// The API's name.
    pub fn api(&self) -> String {
        request_context::api()
    }

    /// The stage's name.
    pub fn stage(&self) -> String {
        request_context::stage()
    }

    /// The matched route key, e.g. `GET /pets/{id}`.
    pub fn route(&self) -> String {
        request_context::route()
    }

    /// One path parameter of the route, raw.
    pub fn path_parameter(&self, name: &str) -> Option<String> {
        request_context::path_parameter(name)
    }

    /// Every path parameter of the route, raw.
    pub fn path_parameters(&self) -> Vec<Entry> {
        request_context::path_parameters()
    }

    /// One of the stage's variables.
    pub fn stage_variable(&self, name: &str) -> Option<String> {
        request_context::stage_variable(name)
    }

    /// Every variable of the stage.
    pub fn stage_variables(&self) -> Vec<Entry> {
        request_context::stage_variables()
    }

    /// The client's IP address.
    pub fn source_ip(&self) -> String {
        request_context::source_ip()
    }

    /// The gateway's request id (`x-request-id`).
    pub fn request_id(&self) -> String {
        request_context::request_id()
    }

    /// The principal an authorizer allowed, once one has.
    pub fn principal(&self) -> Option<String> {
        request_context::principal()
    }

    /// One value of the context that authorizer returned.
    pub fn authorizer_value(&self, key: &str) -> Option<String> {
        request_context::authorizer_value(key)
    }

    /// The whole context that authorizer returned.
    pub fn authorizer_context(&self) -> Vec<Entry> {
        request_context::authorizer_context()
    }

    /// `https` or `http`: how the client reached the gateway.
    pub fn scheme(&self) -> String {
        request_context::scheme()
    }

    /// The certificate the client presented over mutual TLS.
    pub fn client_cert(&self) -> Option<request_context::Certificate> {
        request_context::client_cert()
    }
}
