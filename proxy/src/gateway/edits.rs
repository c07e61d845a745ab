//! What request transformers change: collected as they run (each sees the request as the one
//! before left it) and applied when the request goes upstream.

use http::{HeaderName, HeaderValue, Method};
use pingora::http::RequestHeader;
use pingora::Result;

use super::outcome::header_pair;
use crate::plugin::{
    Fault, Plugin, RequestChanges, RequestView, MAX_TOTAL_HEADERS, MAX_TOTAL_HEADER_BYTES,
};

/// Request changes collected from request transformers, applied when the request goes upstream.
#[derive(Debug, Default)]
pub struct RequestEdits {
    /// New method.
    pub method: Option<Method>,
    /// New path after the stage.
    pub path: Option<String>,
    /// New raw query (`Some("")` removes it).
    pub query: Option<String>,
    /// Headers to set, in order.
    pub set_headers: Vec<(HeaderName, HeaderValue)>,
    /// Headers to remove.
    pub remove_headers: Vec<HeaderName>,
}

impl RequestEdits {
    /// Take in the changes of transformer `plugin` (already checked against the bounds of one
    /// answer), applying them to `head` for the plugins after it.
    pub fn merge(
        &mut self,
        plugin: &Plugin,
        changes: RequestChanges,
        head: &mut RequestView,
    ) -> Result<(), Fault> {
        if let Some(method) = changes.method {
            let method = Method::from_bytes(method.as_bytes())
                .map_err(|_| Fault::Invalid(format!("method `{method}`")))?;
            head.method = method.clone();
            self.method = Some(method);
        }
        if let Some(path) = changes.path {
            head.path = path.clone();
            self.path = Some(path);
        }
        if let Some(query) = changes.query {
            head.query = (!query.is_empty()).then(|| query.clone());
            self.query = Some(query);
        }
        for name in changes.remove_headers {
            let parsed = plugin
                .header_name(&name)
                .map_err(|_| Fault::Invalid(format!("header name `{name}`")))?;
            head.headers.retain(|(n, _)| *n != parsed);
            self.set_headers.retain(|(n, _)| *n != parsed);
            if !self.remove_headers.contains(&parsed) {
                self.remove_headers.push(parsed);
            }
        }
        // A name set twice in one answer keeps both values.
        let mut set: Vec<HeaderName> = Vec::with_capacity(changes.set_headers.len());
        for header in changes.set_headers {
            let pair = header_pair(header, |name| plugin.header_name(name))?;
            if !set.contains(&pair.0) {
                head.headers.retain(|(n, _)| *n != pair.0);
                self.set_headers.retain(|(n, _)| *n != pair.0);
                set.push(pair.0.clone());
            }
            head.headers.push(pair.clone());
            self.set_headers.push(pair);
        }
        self.check_totals()
    }

    /// The headers all transformers so far set, within the bounds for a whole request.
    fn check_totals(&self) -> Result<(), Fault> {
        let bytes: usize = self
            .set_headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if self.set_headers.len() > MAX_TOTAL_HEADERS || bytes > MAX_TOTAL_HEADER_BYTES {
            return Err(Fault::Invalid(format!(
                "the route's transformers set {} headers of {bytes} bytes together (at most \
                 {MAX_TOTAL_HEADERS} and {MAX_TOTAL_HEADER_BYTES})",
                self.set_headers.len()
            )));
        }
        Ok(())
    }

    /// Apply the header and method changes to the upstream request.
    pub fn apply(&self, upstream: &mut RequestHeader) -> Result<()> {
        if let Some(method) = &self.method {
            upstream.set_method(method.clone());
        }
        for name in &self.remove_headers {
            upstream.remove_header(name);
        }
        let mut set: Vec<&HeaderName> = Vec::with_capacity(self.set_headers.len());
        for (name, value) in &self.set_headers {
            if set.contains(&name) {
                upstream.append_header(name.clone(), value.clone())?;
            } else {
                set.push(name);
                upstream.insert_header(name.clone(), value.clone())?;
            }
        }
        Ok(())
    }
}
