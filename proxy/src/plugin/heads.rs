//! The request and response heads plugins read: the gateway's views of them, and the host side
//! of the WIT `request-head` and `response-head` imports, which read the view lent to the call
//! in progress. A plugin reads what it needs by function, so a call copies into the guest only
//! that — never the whole head — and sees only the headers its manifest lists, if it lists any.

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Method};

use super::bindings::types::Header;
use super::bindings::{request_head, response_head};
use super::host::HostState;
use super::names::same_name;

/// Headers as the gateway holds them: names lower-case, one entry per value.
pub type Headers = Vec<(HeaderName, HeaderValue)>;

/// A request's head as plugins see it, with the changes of the request transformers so far.
#[derive(Debug, Clone)]
pub struct RequestView {
    /// The method.
    pub method: Method,
    /// The path as received, percent-encoded.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The headers some plugin of the route reads.
    pub headers: Headers,
}

/// A response's head as plugins see it.
#[derive(Debug, Clone)]
pub struct ResponseView {
    /// The status code.
    pub status: u16,
    /// The headers some plugin of the route reads.
    pub headers: Headers,
}

/// The headers of a view.
pub trait HasHeaders {
    /// The headers the view holds.
    fn headers(&self) -> &Headers;
}

impl HasHeaders for RequestView {
    fn headers(&self) -> &Headers {
        &self.headers
    }
}

impl HasHeaders for ResponseView {
    fn headers(&self) -> &Headers {
        &self.headers
    }
}

/// A view lent to the call running in a store, with the header names its plugin declared
/// (`None`: every header).
pub struct LentHead<V> {
    view: Arc<V>,
    visible: Option<Arc<[String]>>,
}

impl<V> LentHead<V> {
    /// Lend `view` to a plugin that sees the headers `visible` names (`None`: every header).
    pub fn new(view: &Arc<V>, visible: &Option<Arc<[String]>>) -> Self {
        Self {
            view: view.clone(),
            visible: visible.clone(),
        }
    }

    fn sees(&self, name: &str) -> bool {
        self.visible
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| same_name(n, name)))
    }
}

impl<V: HasHeaders> LentHead<V> {
    /// The values of header `name` the plugin may see.
    fn values<'h>(&'h self, name: &'h str) -> impl Iterator<Item = String> + 'h {
        let seen = self.sees(name);
        self.view
            .headers()
            .iter()
            .filter(move |(n, _)| seen && same_name(n.as_str(), name))
            .map(|(_, value)| text(value))
    }

    /// Every header the plugin may see.
    fn visible_headers(&self) -> Vec<Header> {
        self.view
            .headers()
            .iter()
            .filter(|(name, _)| self.sees(name.as_str()))
            .map(|(name, value)| Header {
                name: name.as_str().to_string(),
                value: text(value),
            })
            .collect()
    }
}

fn text(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

impl HostState {
    fn request(&self) -> wasmtime::Result<&LentHead<RequestView>> {
        self.lent().request.as_ref().ok_or_else(|| {
            wasmtime::format_err!("`request-head` was read outside a request phase call")
        })
    }

    fn response(&self) -> wasmtime::Result<&LentHead<ResponseView>> {
        self.lent().response.as_ref().ok_or_else(|| {
            wasmtime::format_err!("`response-head` was read outside a response phase call")
        })
    }
}

impl request_head::Host for HostState {
    fn method(&mut self) -> wasmtime::Result<String> {
        Ok(self.request()?.view.method.to_string())
    }

    fn path(&mut self) -> wasmtime::Result<String> {
        Ok(self.request()?.view.path.clone())
    }

    fn query(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.request()?.view.query.clone())
    }

    fn header(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.request()?.values(&name).next())
    }

    fn header_values(&mut self, name: String) -> wasmtime::Result<Vec<String>> {
        Ok(self.request()?.values(&name).collect())
    }

    fn headers(&mut self) -> wasmtime::Result<Vec<Header>> {
        Ok(self.request()?.visible_headers())
    }
}

impl response_head::Host for HostState {
    fn status(&mut self) -> wasmtime::Result<u16> {
        Ok(self.response()?.view.status)
    }

    fn header(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.response()?.values(&name).next())
    }

    fn header_values(&mut self, name: String) -> wasmtime::Result<Vec<String>> {
        Ok(self.response()?.values(&name).collect())
    }

    fn headers(&mut self) -> wasmtime::Result<Vec<Header>> {
        Ok(self.response()?.visible_headers())
    }
}
