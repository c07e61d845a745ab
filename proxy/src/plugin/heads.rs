//! The request and response heads plugins read: the gateway's views of them, and the host side
//! of the WIT `request-head` and `response-head` resources, which lend a view to one call at a
//! time. A plugin reads what it needs by method, so a call copies into the guest only that —
//! never the whole head — and sees only the headers its manifest lists, if it lists any.

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Method};
use wasmtime::component::Resource;

use super::bindings::types::{Header, HostRequestHead, HostResponseHead};
use super::host::HostState;

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
/// (`None`: every header): what the store's resource table holds meanwhile.
pub struct Lent<V> {
    view: Arc<V>,
    visible: Option<Arc<[String]>>,
}

impl<V> Lent<V> {
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
            .is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
    }
}

impl<V: HasHeaders> Lent<V> {
    /// The values of header `name` the plugin may see.
    fn values<'h>(&'h self, name: &'h str) -> impl Iterator<Item = String> + 'h {
        let seen = self.sees(name);
        self.view
            .headers()
            .iter()
            .filter(move |(n, _)| seen && n.as_str().eq_ignore_ascii_case(name))
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

/// The request head lent to one call.
pub type LentRequest = Lent<RequestView>;
/// The response head lent to one call.
pub type LentResponse = Lent<ResponseView>;

fn text(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

impl HostState {
    fn lent<V: Send + Sync + 'static>(
        &mut self,
        handle: &Resource<Lent<V>>,
    ) -> wasmtime::Result<&Lent<V>> {
        Ok(self.table().get(handle)?)
    }
}

impl HostRequestHead for HostState {
    fn method(&mut self, handle: Resource<LentRequest>) -> wasmtime::Result<String> {
        Ok(self.lent(&handle)?.view.method.to_string())
    }

    fn path(&mut self, handle: Resource<LentRequest>) -> wasmtime::Result<String> {
        Ok(self.lent(&handle)?.view.path.clone())
    }

    fn query(&mut self, handle: Resource<LentRequest>) -> wasmtime::Result<Option<String>> {
        Ok(self.lent(&handle)?.view.query.clone())
    }

    fn header(
        &mut self,
        handle: Resource<LentRequest>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(self.lent(&handle)?.values(&name).next())
    }

    fn header_values(
        &mut self,
        handle: Resource<LentRequest>,
        name: String,
    ) -> wasmtime::Result<Vec<String>> {
        Ok(self.lent(&handle)?.values(&name).collect())
    }

    fn headers(&mut self, handle: Resource<LentRequest>) -> wasmtime::Result<Vec<Header>> {
        Ok(self.lent(&handle)?.visible_headers())
    }

    fn drop(&mut self, handle: Resource<LentRequest>) -> wasmtime::Result<()> {
        self.release(handle)
    }
}

impl HostResponseHead for HostState {
    fn status(&mut self, handle: Resource<LentResponse>) -> wasmtime::Result<u16> {
        Ok(self.lent(&handle)?.view.status)
    }

    fn header(
        &mut self,
        handle: Resource<LentResponse>,
        name: String,
    ) -> wasmtime::Result<Option<String>> {
        Ok(self.lent(&handle)?.values(&name).next())
    }

    fn header_values(
        &mut self,
        handle: Resource<LentResponse>,
        name: String,
    ) -> wasmtime::Result<Vec<String>> {
        Ok(self.lent(&handle)?.values(&name).collect())
    }

    fn headers(&mut self, handle: Resource<LentResponse>) -> wasmtime::Result<Vec<Header>> {
        Ok(self.lent(&handle)?.visible_headers())
    }

    fn drop(&mut self, handle: Resource<LentResponse>) -> wasmtime::Result<()> {
        self.release(handle)
    }
}
