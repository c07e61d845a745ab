//! AWS Lambda-authorizer semantics for authorizer plugins (`[plugins.X] authorizer = {...}`):
//! identity sources read before the plugin is called (a missing one is 401 without a call), a
//! validation regex for `token` authorizers, and the plugin's decisions — allow and deny — cached
//! per identity for a TTL, so a repeated identity does not call the plugin.

use std::time::Duration;

use pingora::http::RequestHeader;
use regex::Regex;

use crate::config::{AuthorizerFile, AuthorizerKind};
use crate::plugin::Decision;

/// Longest TTL, as AWS.
pub const MAX_TTL_SECONDS: u64 = 3600;

/// Most identities remembered per authorizer.
const MAX_CACHED: u64 = 100_000;

/// Why `[plugins.X] authorizer` is refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthorizerError {
    /// `header.<name>` with a name that is not a header name.
    #[error("`{0}` is not a header name")]
    HeaderName(String),
    /// Not `header.`, `querystring.` or `stageVariables.`.
    #[error(
        "`{0}` is not an identity source: use `header.<name>`, `querystring.<name>` or \
         `stageVariables.<name>`"
    )]
    UnknownSource(String),
    /// `identity_sources` on a `token` authorizer.
    #[error(
        "a `token` authorizer has one `identity_source` (a header); `identity_sources` are for \
         `request` authorizers"
    )]
    TokenWithSources,
    /// A `token` authorizer reading a query or stage variable.
    #[error("a `token` authorizer's identity source is a header")]
    TokenNotHeader,
    /// `identity_source` or `validation_regex` on a `request` authorizer.
    #[error(
        "a `request` authorizer lists `identity_sources`; `identity_source` and \
         `validation_regex` are for `token` ones"
    )]
    RequestWithTokenFields,
    /// A `request` authorizer without sources.
    #[error(
        "a `request` authorizer needs `identity_sources`, e.g. [\"header.x-user\", \
         \"querystring.tenant\"]"
    )]
    RequestWithoutSources,
    /// A `validation_regex` that does not compile.
    #[error("`validation_regex` is invalid: {0}")]
    Regex(#[from] regex::Error),
    /// A TTL over an hour.
    #[error("`ttl_seconds` is at most {MAX_TTL_SECONDS} (0 turns the cache off)")]
    TtlTooLong,
}

/// Where an identity value is read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Header(http::HeaderName),
    Query(String),
    StageVariable(String),
}

impl Source {
    fn parse(text: &str) -> Result<Self, AuthorizerError> {
        let short = text.strip_prefix("method.request.").unwrap_or(text);
        let source = match short.split_once('.') {
            Some(("header", name)) => http::HeaderName::from_bytes(name.as_bytes())
                .map(Source::Header)
                .map_err(|_| AuthorizerError::HeaderName(name.to_string()))?,
            Some(("querystring", name)) if !name.is_empty() => Source::Query(name.to_string()),
            Some(("stageVariables", name)) if !name.is_empty() => {
                Source::StageVariable(name.to_string())
            }
            _ => return Err(AuthorizerError::UnknownSource(text.to_string())),
        };
        Ok(source)
    }

    fn read<'a>(
        &self,
        request: &'a RequestHeader,
        variables: &'a [(String, String)],
    ) -> Option<String> {
        let value = match self {
            Source::Header(name) => request.headers.get(name)?.to_str().ok()?.to_string(),
            Source::Query(name) => crate::query::param(request.uri.query(), name)?,
            Source::StageVariable(name) => variables
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())?,
        };
        (!value.is_empty()).then_some(value)
    }
}

/// An authorizer plugin's identity sources and decision cache.
pub struct IdentityRule {
    sources: Vec<Source>,
    validation: Option<Regex>,
    cache: Option<moka::sync::Cache<String, Decision>>,
}

impl std::fmt::Debug for IdentityRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityRule")
            .field("sources", &self.sources)
            .field("validation", &self.validation)
            .field("cached", &self.cache.is_some())
            .finish()
    }
}

impl IdentityRule {
    /// Check and compile `[plugins.X] authorizer`.
    pub fn compile(file: &AuthorizerFile) -> Result<Self, AuthorizerError> {
        let sources = match file.kind {
            AuthorizerKind::Token => {
                if !file.identity_sources.is_empty() {
                    return Err(AuthorizerError::TokenWithSources);
                }
                let source = file
                    .identity_source
                    .as_deref()
                    .unwrap_or("header.authorization");
                match Source::parse(source)? {
                    header @ Source::Header(_) => vec![header],
                    _ => return Err(AuthorizerError::TokenNotHeader),
                }
            }
            AuthorizerKind::Request => {
                if file.identity_source.is_some() || file.validation_regex.is_some() {
                    return Err(AuthorizerError::RequestWithTokenFields);
                }
                if file.identity_sources.is_empty() {
                    return Err(AuthorizerError::RequestWithoutSources);
                }
                file.identity_sources
                    .iter()
                    .map(|s| Source::parse(s))
                    .collect::<Result<_, _>>()?
            }
        };
        let validation = file
            .validation_regex
            .as_deref()
            .map(Regex::new)
            .transpose()?;
        if file.ttl_seconds > MAX_TTL_SECONDS {
            return Err(AuthorizerError::TtlTooLong);
        }
        let cache = (file.ttl_seconds > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(MAX_CACHED)
                .time_to_live(Duration::from_secs(file.ttl_seconds))
                .build()
        });
        Ok(Self {
            sources,
            validation,
            cache,
        })
    }

    /// The request's identity (its sources' values), or `None` when one is missing or the token
    /// does not match the validation regex: the request is then unauthorized, the plugin not
    /// called.
    pub fn identity(
        &self,
        request: &RequestHeader,
        variables: &[(String, String)],
    ) -> Option<String> {
        let mut identity = String::new();
        for (index, source) in self.sources.iter().enumerate() {
            let value = source.read(request, variables)?;
            if let Some(pattern) = &self.validation {
                if !pattern.is_match(&value) {
                    return None;
                }
            }
            if index > 0 {
                identity.push('\0');
            }
            identity.push_str(&value);
        }
        Some(identity)
    }

    /// The decision cached for `identity`.
    pub fn cached(&self, identity: &str) -> Option<Decision> {
        self.cache.as_ref()?.get(identity)
    }

    /// Remember an allow or deny for `identity` (a plugin's own response is not cached).
    pub fn remember(&self, identity: String, decision: &Decision) {
        if let (Some(cache), false) = (&self.cache, matches!(decision, Decision::Respond(_))) {
            cache.insert(identity, decision.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        kind: AuthorizerKind,
        sources: &[&str],
        regex: Option<&str>,
    ) -> Result<IdentityRule, AuthorizerError> {
        IdentityRule::compile(&AuthorizerFile {
            kind,
            identity_source: None,
            identity_sources: sources.iter().map(|s| s.to_string()).collect(),
            validation_regex: regex.map(str::to_string),
            ttl_seconds: 300,
        })
    }

    fn request(uri: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut request = RequestHeader::build("GET", uri.as_bytes(), None).unwrap();
        for (name, value) in headers {
            request.insert_header(name.to_string(), *value).unwrap();
        }
        request
    }

    #[test]
    fn request_identities_join_every_source_and_need_all_of_them() {
        let rule = rule(
            AuthorizerKind::Request,
            &[
                "header.x-user",
                "method.request.querystring.tenant",
                "stageVariables.env",
            ],
            None,
        )
        .unwrap();
        let vars = vec![("env".to_string(), "prod".to_string())];
        let full = request("/x?tenant=acme", &[("x-user", "ada")]);
        assert_eq!(rule.identity(&full, &vars).unwrap(), "ada\0acme\0prod");
        let no_query = request("/x", &[("x-user", "ada")]);
        assert_eq!(rule.identity(&no_query, &vars), None);
        assert_eq!(rule.identity(&full, &[]), None);
    }

    #[test]
    fn token_identities_are_one_header_checked_by_the_regex() {
        let rule = rule(AuthorizerKind::Token, &[], Some("^Bearer [a-z]+$")).unwrap();
        let good = request("/", &[("authorization", "Bearer abc")]);
        assert_eq!(rule.identity(&good, &[]).unwrap(), "Bearer abc");
        let bad = request("/", &[("authorization", "Bearer ABC")]);
        assert_eq!(rule.identity(&bad, &[]), None);
        assert_eq!(rule.identity(&request("/", &[]), &[]), None);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(rule(AuthorizerKind::Request, &[], None).is_err());
        assert!(rule(AuthorizerKind::Request, &["cookie.x"], None).is_err());
        assert!(rule(AuthorizerKind::Token, &["header.a"], None).is_err());
        assert!(rule(AuthorizerKind::Token, &[], Some("(")).is_err());
    }
}
