//! Integrations: where a matched route's requests go. `mock` answers from config; `http_proxy`
//! streams to a backend pool unchanged; `http` does the same with parameter mappings applied.
//! Everything here is compiled per stage at load time (stage variables already substituted).

mod mapping;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};

use crate::template::{Lookup, Template};
use crate::upstream::Pool;

pub use mapping::{RequestMapping, ResponseMapping};

/// A compiled integration.
#[derive(Debug)]
pub enum Integration {
    /// Answer from config.
    Mock(MockResponse),
    /// Proxy to a backend pool.
    Http(HttpIntegration),
}

/// A `mock` integration's response.
#[derive(Debug)]
pub struct MockResponse {
    /// Status code.
    pub status: u16,
    /// Headers as configured.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body as configured.
    pub body: Bytes,
}

/// An `http_proxy` or `http` integration.
#[derive(Debug)]
pub struct HttpIntegration {
    /// Backends to send to.
    pub pool: Arc<Pool>,
    /// The `Host` header the backend sees: the URI's authority (a `HeaderValue`, so each
    /// request shares its bytes).
    pub host_header: HeaderValue,
    /// Whether the URI is `https://`.
    pub tls: bool,
    /// Path template; `None` forwards the request's path (after the stage prefix).
    pub path: Option<Template>,
    /// Query template from the URI, sent before the request's own query parameters.
    pub query: Option<Template>,
    /// Deadline for the backend's response.
    pub timeout: Duration,
    /// Method override (`http` only).
    pub method: Option<Method>,
    /// Request mappings (`http` only; empty for `http_proxy`).
    pub request_mapping: RequestMapping,
    /// Response mappings (`http` only; empty for `http_proxy`).
    pub response_mapping: ResponseMapping,
}

/// The parts of an integration URI: `http[s]://<authority><path>?<query>`.
#[derive(Debug, PartialEq, Eq)]
pub struct UriParts<'a> {
    /// `https://`.
    pub tls: bool,
    /// `host[:port]` or an upstream name, possibly with stage-variable references.
    pub authority: &'a str,
    /// The path, empty when the URI has none.
    pub path: &'a str,
    /// The query without `?`, if any.
    pub query: Option<&'a str>,
}

/// Why an integration URI is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Any other scheme, or none.
    #[error("an integration URI starts with `http://` or `https://`")]
    NotHttp,
    /// The scheme followed by a path or nothing.
    #[error("the integration URI has no host")]
    NoHost,
}

/// Split an `http://` or `https://` integration URI.
pub fn split_uri(uri: &str) -> Result<UriParts<'_>, UriError> {
    let (tls, rest) = match (uri.strip_prefix("http://"), uri.strip_prefix("https://")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => return Err(UriError::NotHttp),
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    if authority.is_empty() {
        return Err(UriError::NoHost);
    }
    Ok(UriParts {
        tls,
        authority,
        path,
        query,
    })
}

impl HttpIntegration {
    /// The path and query to send upstream for this request. `stage_path` is the request path
    /// after the stage prefix; `request_query` the request's own raw query string.
    pub fn upstream_uri(
        &self,
        lookup: &dyn Lookup,
        stage_path: &str,
        request_query: Option<&str>,
    ) -> String {
        let mut uri = match &self.path {
            Some(template) => template.render(lookup),
            None => stage_path.to_string(),
        };
        if uri.is_empty() {
            uri.push('/');
        }
        let template_query = self.query.as_ref().map(|q| q.render(lookup));
        let mut separator = '?';
        for query in [template_query.as_deref(), request_query]
            .into_iter()
            .flatten()
        {
            if !query.is_empty() {
                uri.push(separator);
                uri.push_str(query);
                separator = '&';
            }
        }
        uri
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_integration_uris() {
        let cases = [
            ("http://pets", Ok(("pets", "", None))),
            (
                "http://127.0.0.1:9000/a/{id}?x=1",
                Ok(("127.0.0.1:9000", "/a/{id}", Some("x=1"))),
            ),
            ("http://h?x", Ok(("h", "", Some("x")))),
            ("https://h/a", Ok(("h", "/a", None))),
            ("ftp://h/", Err(())),
            ("http:///x", Err(())),
        ];
        for (uri, expected) in cases {
            let got = split_uri(uri)
                .map(|p| (p.authority, p.path, p.query))
                .map_err(|_| ());
            assert_eq!(got, expected, "{uri}");
        }
    }
}
