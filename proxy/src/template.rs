//! Value templates: text with `$request.header.x`, `$request.querystring.x`, `$request.path.x`,
//! `$context.<field>` and `${stageVariables.x}` references (braces optional), used by integration
//! URIs, parameter mappings and gateway responses. Stage variables are resolved when the config is
//! compiled; everything else is looked up per request through [`Lookup`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// A per-request value a template can reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    /// `$request.header.<name>` (name lower-cased).
    Header(String),
    /// `$request.querystring.<name>`.
    Query(String),
    /// `$request.path.<name>`, or `{name}` in an integration URI.
    PathParam(String),
    /// `$context.<field>`.
    Context(ContextVar),
    /// `$context.authorizer.principalId` (`None`) or `$context.authorizer.<key>`: what the
    /// authorizer returned.
    Authorizer(Option<String>),
}

/// The `$context` fields, named as in AWS API Gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextVar {
    /// `$context.requestId`.
    RequestId,
    /// `$context.apiId`: the API's name.
    ApiId,
    /// `$context.stage`.
    Stage,
    /// `$context.routeKey`.
    RouteKey,
    /// `$context.httpMethod`.
    HttpMethod,
    /// `$context.path`: the request path as received.
    Path,
    /// `$context.identity.sourceIp`.
    SourceIp,
    /// `$context.error.message`.
    ErrorMessage,
    /// `$context.error.messageString`: the message as a quoted JSON string.
    ErrorMessageString,
    /// `$context.error.responseType`.
    ErrorResponseType,
    /// `$context.protocol`: `HTTP/1.1` or `HTTP/2.0`.
    Protocol,
    /// `$context.domainName`: the host the request was sent to.
    DomainName,
    /// `$context.identity.clientCert.*`: the mutual TLS client certificate.
    ClientCert(CertField),
}

/// A field of `$context.identity.clientCert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertField {
    /// `clientCertPem`.
    Pem,
    /// `subjectDN`.
    SubjectDn,
    /// `issuerDN`.
    IssuerDn,
    /// `serialNumber`.
    SerialNumber,
    /// `validity.notBefore`.
    NotBefore,
    /// `validity.notAfter`.
    NotAfter,
}

/// What a template may reference where it is used.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The stage's variables, substituted at compile time.
    pub stage_variables: &'a BTreeMap<String, String>,
    /// Whether `$request.*` is available (not in gateway responses).
    pub request: bool,
    /// Whether `$context.error.*` is available (gateway responses only).
    pub error: bool,
    /// Whether `{name}` means a path parameter (integration URIs only).
    pub braced_path_params: bool,
}

/// Why a template was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A reference names nothing this template can see.
    #[error("unknown reference `${0}`")]
    Unknown(String),
    /// A stage variable that the stage does not define.
    #[error("stage variable `{0}` is not defined in this stage")]
    UndefinedStageVariable(String),
    /// `${` without its `}`.
    #[error("unclosed `${{` in template")]
    Unclosed,
}

/// Per-request values for rendering.
pub trait Lookup {
    /// A request header's value.
    fn header(&self, name: &str) -> Option<&str>;
    /// A query-string parameter's value.
    fn query(&self, name: &str) -> Option<String>;
    /// A path parameter's raw value.
    fn path_param(&self, name: &str) -> Option<&str>;
    /// A `$context` field; `None` renders as empty.
    fn context(&self, var: ContextVar) -> Option<String>;
    /// The authorizer's principal (`None`) or a value of its context.
    fn authorizer(&self, _key: Option<&str>) -> Option<String> {
        None
    }
}

impl Template {
    /// Compile `text` for `scope`.
    pub fn parse(text: &str, scope: Scope<'_>) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            let reference = match c {
                '$' => match take_reference(&rest[1..])? {
                    Some((name, consumed)) => Some((resolve(name, scope)?, consumed)),
                    None => None,
                },
                '{' if scope.braced_path_params => take_path_param(rest).map(|(name, consumed)| {
                    (Part::Var(Var::PathParam(name.to_string())), consumed)
                }),
                _ => None,
            };
            let Some((part, consumed)) = reference else {
                literal.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            };
            match part {
                Part::Text(text) => literal.push_str(&text),
                var => {
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(var);
                }
            }
            rest = &rest[consumed..];
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self { parts })
    }

    /// A template that is only this text.
    pub fn literal(text: &str) -> Self {
        Self {
            parts: vec![Part::Text(text.to_string())],
        }
    }

    /// The text, if the template references nothing per request.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }

    /// The path parameters the template references.
    pub fn path_params(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(Var::PathParam(name)) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Render with per-request values; missing values render as empty.
    pub fn render(&self, lookup: &dyn Lookup) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(Var::Header(name)) => out.push_str(lookup.header(name).unwrap_or("")),
                Part::Var(Var::Query(name)) => {
                    let _ = write!(out, "{}", lookup.query(name).unwrap_or_default());
                }
                Part::Var(Var::PathParam(name)) => {
                    out.push_str(lookup.path_param(name).unwrap_or(""));
                }
                Part::Var(Var::Context(var)) => {
                    out.push_str(&lookup.context(*var).unwrap_or_default());
                }
                Part::Var(Var::Authorizer(key)) => {
                    out.push_str(&lookup.authorizer(key.as_deref()).unwrap_or_default());
                }
            }
        }
        out
    }
}

/// Substitute only the `${stageVariables.<name>}` references of `text`, leaving everything else
/// as written (for integration URIs, whose host must be known before the rest is compiled).
pub fn substitute_stage_variables(
    text: &str,
    variables: &BTreeMap<String, String>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar..];
        let variable = take_reference(&rest[1..])?
            .and_then(|(name, consumed)| Some((name.strip_prefix("stageVariables.")?, consumed)));
        match variable {
            Some((name, consumed)) => {
                let value = variables
                    .get(name)
                    .ok_or_else(|| TemplateError::UndefinedStageVariable(name.to_string()))?;
                out.push_str(value);
                rest = &rest[consumed..];
            }
            None => {
                out.push('$');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// After a `$`: `{name}` or a bare dotted name (`$5` is just text). Returns the name and the
/// bytes consumed from the `$`.
fn take_reference(after_dollar: &str) -> Result<Option<(&str, usize)>, TemplateError> {
    if let Some(inner) = after_dollar.strip_prefix('{') {
        let end = inner.find('}').ok_or(TemplateError::Unclosed)?;
        return Ok(Some((&inner[..end], end + 3)));
    }
    let len = after_dollar
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .unwrap_or(after_dollar.len());
    let name = after_dollar[..len].trim_end_matches('.');
    if !name.contains('.') {
        return Ok(None);
    }
    Ok(Some((name, name.len() + 1)))
}

/// At a `{` in an integration URI: `{name}` or `{name+}` names a path parameter.
fn take_path_param(text: &str) -> Option<(&str, usize)> {
    let end = text.find('}')?;
    let inner = &text[1..end];
    let name = inner.strip_suffix('+').unwrap_or(inner);
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some((name, end + 1))
}

fn resolve(name: &str, scope: Scope<'_>) -> Result<Part, TemplateError> {
    let unknown = || TemplateError::Unknown(name.to_string());
    if let Some(var) = name.strip_prefix("stageVariables.") {
        return scope
            .stage_variables
            .get(var)
            .map(|value| Part::Text(value.clone()))
            .ok_or_else(|| TemplateError::UndefinedStageVariable(var.to_string()));
    }
    if let Some(request) = name.strip_prefix("request.") {
        if !scope.request {
            return Err(unknown());
        }
        let var = match request.split_once('.') {
            Some(("header", h)) => Var::Header(h.to_ascii_lowercase()),
            Some(("querystring", q)) => Var::Query(q.to_string()),
            Some(("path", p)) => Var::PathParam(p.to_string()),
            _ => return Err(unknown()),
        };
        return Ok(Part::Var(var));
    }
    if let Some(key) = name.strip_prefix("context.authorizer.") {
        if !scope.request || key.is_empty() {
            return Err(unknown());
        }
        let key = (key != "principalId").then(|| key.to_string());
        return Ok(Part::Var(Var::Authorizer(key)));
    }
    let context = match name {
        "context.requestId" => ContextVar::RequestId,
        "context.apiId" => ContextVar::ApiId,
        "context.stage" => ContextVar::Stage,
        "context.routeKey" if scope.request => ContextVar::RouteKey,
        "context.httpMethod" => ContextVar::HttpMethod,
        "context.path" => ContextVar::Path,
        "context.identity.sourceIp" => ContextVar::SourceIp,
        "context.protocol" => ContextVar::Protocol,
        "context.domainName" => ContextVar::DomainName,
        "context.identity.clientCert.clientCertPem" => ContextVar::ClientCert(CertField::Pem),
        "context.identity.clientCert.subjectDN" => ContextVar::ClientCert(CertField::SubjectDn),
        "context.identity.clientCert.issuerDN" => ContextVar::ClientCert(CertField::IssuerDn),
        "context.identity.clientCert.serialNumber" => {
            ContextVar::ClientCert(CertField::SerialNumber)
        }
        "context.identity.clientCert.validity.notBefore" => {
            ContextVar::ClientCert(CertField::NotBefore)
        }
        "context.identity.clientCert.validity.notAfter" => {
            ContextVar::ClientCert(CertField::NotAfter)
        }
        "context.error.message" if scope.error => ContextVar::ErrorMessage,
        "context.error.messageString" if scope.error => ContextVar::ErrorMessageString,
        "context.error.responseType" if scope.error => ContextVar::ErrorResponseType,
        _ => return Err(unknown()),
    };
    Ok(Part::Var(Var::Context(context)))
}

#[cfg(test)]
mod tests;
