//! CORS per API: which origins (exact, `https://*.example.com` patterns, or `*`), methods and
//! headers browsers may use, answered by the gateway for preflights and added to every response —
//! backend answers and the gateway's own errors alike.

use http::{HeaderName, HeaderValue};

use crate::config::CorsFile;

/// Why `[apis.<name>.cors]` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorsError {
    /// Not `scheme://host[:port]`.
    #[error("`{0}` is not an origin like `https://app.example.com` or `https://*.example.com`")]
    NotAnOrigin(String),
    /// An origin with a path.
    #[error("`{0}` is an origin: scheme and host (and port) only")]
    OriginWithPath(String),
    /// `*` inside a label or not leading.
    #[error("`{0}`: a wildcard stands for whole leading labels, as `https://*.example.com`")]
    PartialWildcard(String),
    /// `*` after the first label.
    #[error("`{0}`: `*` may only start the host")]
    InnerWildcard(String),
    /// An empty `allow_origins`.
    #[error("`allow_origins` lists at least one origin (or \"*\")")]
    NoOrigins,
    /// Credentials with any origin.
    #[error(
        "`allow_credentials = true` cannot go with the origin \"*\": browsers refuse it; list \
         the origins"
    )]
    CredentialsWithAnyOrigin,
    /// A listed header that is not a header name.
    #[error("`{0}` is not a header name")]
    HeaderName(String),
    /// A listed method that is not a method.
    #[error("`{0}` is not a method")]
    Method(String),
    /// A list that does not form a header value.
    #[error("`{0}` is not a valid header value")]
    HeaderValue(String),
}

/// An allowed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OriginPattern {
    /// `https://app.example.com`.
    Exact(String),
    /// `https://*.example.com`: the scheme and what the host must end with (`.example.com`).
    Wildcard { scheme: String, suffix: String },
}

impl OriginPattern {
    fn parse(text: &str) -> Result<Self, CorsError> {
        let lower = text.trim_end_matches('/').to_ascii_lowercase();
        let Some((scheme, rest)) = lower.split_once("://") else {
            return Err(CorsError::NotAnOrigin(text.to_string()));
        };
        if rest.is_empty() || rest.contains('/') {
            return Err(CorsError::OriginWithPath(text.to_string()));
        }
        match rest.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') && !suffix[1..].contains('*') => {
                Ok(Self::Wildcard {
                    scheme: format!("{scheme}://"),
                    suffix: suffix.to_string(),
                })
            }
            Some(_) => Err(CorsError::PartialWildcard(text.to_string())),
            None if rest.contains('*') => Err(CorsError::InnerWildcard(text.to_string())),
            None => Ok(Self::Exact(lower)),
        }
    }

    fn matches(&self, origin: &str) -> bool {
        match self {
            Self::Exact(exact) => origin.eq_ignore_ascii_case(exact),
            Self::Wildcard { scheme, suffix } => {
                let origin = origin.to_ascii_lowercase();
                origin.strip_prefix(scheme.as_str()).is_some_and(|host| {
                    let host_only = host.split(':').next().unwrap_or(host);
                    host_only.len() > suffix.len() && host_only.ends_with(suffix.as_str())
                })
            }
        }
    }
}

/// A list that may be everything.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed<T> {
    Any,
    Only(Vec<T>),
}

/// An API's compiled CORS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: Allowed<OriginPattern>,
    methods: Allowed<String>,
    headers: Allowed<String>,
    expose_headers: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    credentials: bool,
}

fn names(list: &[String], upper: bool) -> Allowed<String> {
    if list.iter().any(|item| item == "*") {
        return Allowed::Any;
    }
    Allowed::Only(
        list.iter()
            .map(|item| {
                if upper {
                    item.to_ascii_uppercase()
                } else {
                    item.to_ascii_lowercase()
                }
            })
            .collect(),
    )
}

fn joined(list: &[String]) -> Result<Option<HeaderValue>, CorsError> {
    if list.is_empty() {
        return Ok(None);
    }
    let text = list.join(", ");
    HeaderValue::from_str(&text)
        .map(Some)
        .map_err(|_| CorsError::HeaderValue(text))
}

impl CorsPolicy {
    /// Check and compile `[apis.<name>.cors]`.
    pub fn compile(file: &CorsFile) -> Result<Self, CorsError> {
        if file.allow_origins.is_empty() {
            return Err(CorsError::NoOrigins);
        }
        let origins = if file.allow_origins.iter().any(|o| o == "*") {
            if file.allow_credentials {
                return Err(CorsError::CredentialsWithAnyOrigin);
            }
            Allowed::Any
        } else {
            Allowed::Only(
                file.allow_origins
                    .iter()
                    .map(|o| OriginPattern::parse(o))
                    .collect::<Result<_, _>>()?,
            )
        };
        for header in file.allow_headers.iter().chain(&file.expose_headers) {
            if header != "*" && HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(CorsError::HeaderName(header.clone()));
            }
        }
        for method in &file.allow_methods {
            if method != "*" && http::Method::from_bytes(method.as_bytes()).is_err() {
                return Err(CorsError::Method(method.clone()));
            }
        }
        Ok(Self {
            origins,
            methods: names(&file.allow_methods, true),
            headers: names(&file.allow_headers, false),
            expose_headers: joined(&file.expose_headers)?,
            max_age: file.max_age_seconds.map(HeaderValue::from),
            credentials: file.allow_credentials,
        })
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if it may read responses.
    fn allow_origin(&self, origin: &str) -> Option<HeaderValue> {
        match &self.origins {
            Allowed::Any => Some(HeaderValue::from_static("*")),
            Allowed::Only(patterns) => patterns
                .iter()
                .any(|p| p.matches(origin))
                .then(|| HeaderValue::from_str(origin).ok())
                .flatten(),
        }
    }

    fn common(&self, origin: &str) -> Option<Vec<(HeaderName, HeaderValue)>> {
        let allow = self.allow_origin(origin)?;
        let mut headers = vec![(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, allow)];
        if self.credentials {
            headers.push((
                http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            ));
        }
        Some(headers)
    }

    /// Whether `origin` may read this API's responses.
    pub fn allows(&self, origin: &str) -> bool {
        self.allow_origin(origin).is_some()
    }

    /// Whether responses vary by `Origin` (every list but `*`).
    fn varies(&self) -> bool {
        !matches!(self.origins, Allowed::Any)
    }

    /// The headers of an actual response to a request from `origin` (none for a foreign one).
    pub fn response_headers(&self, origin: Option<&str>) -> Vec<(HeaderName, HeaderValue)> {
        let mut headers = Vec::new();
        if self.varies() {
            headers.push((http::header::VARY, HeaderValue::from_static("origin")));
        }
        if let Some(common) = origin.and_then(|origin| self.common(origin)) {
            headers.extend(common);
            if let Some(expose) = &self.expose_headers {
                headers.push((http::header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone()));
            }
        }
        headers
    }

    /// The headers answering a preflight from `origin` for `method` with `requested` headers;
    /// only `Vary` when the origin, method or a header is not allowed (the browser then refuses).
    pub fn preflight_headers(
        &self,
        origin: &str,
        method: &str,
        requested: Option<&str>,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let mut headers = Vec::new();
        if self.varies() {
            headers.push((http::header::VARY, HeaderValue::from_static("origin")));
        }
        let method_ok = match &self.methods {
            Allowed::Any => true,
            Allowed::Only(methods) => methods.iter().any(|m| m.eq_ignore_ascii_case(method)),
        };
        let requested: Vec<&str> = requested
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        let headers_ok = match &self.headers {
            Allowed::Any => true,
            Allowed::Only(allowed) => requested
                .iter()
                .all(|h| allowed.iter().any(|a| a.eq_ignore_ascii_case(h))),
        };
        let Some(common) = self.common(origin).filter(|_| method_ok && headers_ok) else {
            return headers;
        };
        headers.extend(common);
        let methods = match &self.methods {
            Allowed::Any => method.to_ascii_uppercase(),
            Allowed::Only(methods) => methods.join(", "),
        };
        let allowed_headers = match &self.headers {
            Allowed::Any => requested.join(", "),
            Allowed::Only(allowed) => allowed.join(", "),
        };
        for (name, value) in [
            (http::header::ACCESS_CONTROL_ALLOW_METHODS, methods),
            (http::header::ACCESS_CONTROL_ALLOW_HEADERS, allowed_headers),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                if !value.is_empty() {
                    headers.push((name, value));
                }
            }
        }
        if let Some(max_age) = &self.max_age {
            headers.push((http::header::ACCESS_CONTROL_MAX_AGE, max_age.clone()));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str], credentials: bool) -> Result<CorsPolicy, CorsError> {
        CorsPolicy::compile(&CorsFile {
            allow_origins: origins.iter().map(|o| o.to_string()).collect(),
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["x-custom".into(), "content-type".into()],
            expose_headers: vec!["x-request-id".into()],
            max_age_seconds: Some(600),
            allow_credentials: credentials,
        })
    }

    fn value<'a>(headers: &'a [(HeaderName, HeaderValue)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .and_then(|(_, v)| v.to_str().ok())
    }

    #[test]
    fn exact_and_wildcard_origins_match_and_others_do_not() {
        let cors = policy(&["https://app.example.com", "https://*.example.org"], true).unwrap();
        for allowed in [
            "https://app.example.com",
            "https://a.example.org",
            "https://b.c.example.org:8443",
        ] {
            let headers = cors.response_headers(Some(allowed));
            assert_eq!(
                value(&headers, "access-control-allow-origin"),
                Some(allowed)
            );
            assert_eq!(
                value(&headers, "access-control-allow-credentials"),
                Some("true")
            );
        }
        for refused in [
            "https://example.org",
            "http://a.example.org",
            "https://evil-example.org",
            "https://app.example.com.evil.net",
        ] {
            let headers = cors.response_headers(Some(refused));
            assert_eq!(
                value(&headers, "access-control-allow-origin"),
                None,
                "{refused}"
            );
            assert_eq!(value(&headers, "vary"), Some("origin"));
        }
    }

    #[test]
    fn preflights_check_method_and_headers() {
        let cors = policy(&["https://app.example.com"], false).unwrap();
        let ok = cors.preflight_headers("https://app.example.com", "POST", Some("X-Custom"));
        assert_eq!(
            value(&ok, "access-control-allow-methods"),
            Some("GET, POST")
        );
        assert_eq!(
            value(&ok, "access-control-allow-headers"),
            Some("x-custom, content-type")
        );
        assert_eq!(value(&ok, "access-control-max-age"), Some("600"));
        let bad_method = cors.preflight_headers("https://app.example.com", "DELETE", None);
        assert_eq!(value(&bad_method, "access-control-allow-origin"), None);
        let bad_header = cors.preflight_headers("https://app.example.com", "GET", Some("x-other"));
        assert_eq!(value(&bad_header, "access-control-allow-origin"), None);
    }

    #[test]
    fn credentials_never_go_with_any_origin_and_patterns_are_checked() {
        assert_eq!(
            policy(&["*"], true).unwrap_err(),
            CorsError::CredentialsWithAnyOrigin
        );
        assert!(policy(&["*"], false).is_ok());
        assert!(policy(&["app.example.com"], false).is_err());
        assert!(policy(&["https://a.*.example.com"], false).is_err());
        assert!(policy(&["https://example.com/path"], false).is_err());
    }
}
