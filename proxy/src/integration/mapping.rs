//! Parameter mappings of `http` integrations, in AWS HTTP API syntax:
//! `"<append|overwrite|remove>:<header.name|querystring.name|path|statuscode>" = "<template>"`.
//!
//! ```toml
//! request_parameters = { "overwrite:header.x-stage" = "$context.stage", "remove:querystring.debug" = "" }
//! response_parameters = { "append:header.x-served-by" = "wasmgate", "overwrite:statuscode" = "202" }
//! ```

use http::HeaderName;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::{Error, ErrorType, Result};

use crate::template::{Lookup, Scope, Template, TemplateError};

/// Why a `request_parameters` or `response_parameters` entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// A key without `:`.
    #[error("`{0}` is not `<action>:<target>`")]
    Shape(String),
    /// Not append, overwrite or remove.
    #[error("unknown action `{0}`, expected append, overwrite or remove")]
    Action(String),
    /// A request target the gateway cannot map.
    #[error("unknown target `{0}`, expected header.<name>, querystring.<name> or overwrite:path")]
    RequestTarget(String),
    /// A response target the gateway cannot map.
    #[error("unknown target `{0}`, expected header.<name> or overwrite:statuscode")]
    ResponseTarget(String),
    /// `header.<name>` with a name that is not a header name.
    #[error("`{0}` is not a valid header name")]
    HeaderName(String),
    /// A literal status outside 100–599.
    #[error("`{0}` is not an HTTP status code")]
    Status(String),
    /// The value template does not parse.
    #[error(transparent)]
    Template(#[from] TemplateError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Append,
    Overwrite,
    Remove,
}

#[derive(Debug)]
enum RequestOp {
    Header(Action, HeaderName, Template),
    Query(Action, String, Template),
    Path(Template),
}

#[derive(Debug)]
enum ResponseOp {
    Header(Action, HeaderName, Template),
    Status(Template),
}

/// The request side of an `http` integration's mappings, applied in config order.
#[derive(Debug, Default)]
pub struct RequestMapping {
    ops: Vec<RequestOp>,
}

/// The response side of an `http` integration's mappings, applied in config order.
#[derive(Debug, Default)]
pub struct ResponseMapping {
    ops: Vec<ResponseOp>,
}

fn parse_action(key: &str) -> Result<(Action, &str), MappingError> {
    let (action, target) = key
        .split_once(':')
        .ok_or_else(|| MappingError::Shape(key.to_string()))?;
    let action = match action {
        "append" => Action::Append,
        "overwrite" => Action::Overwrite,
        "remove" => Action::Remove,
        other => return Err(MappingError::Action(other.to_string())),
    };
    Ok((action, target))
}

fn header_name(name: &str) -> Result<HeaderName, MappingError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| MappingError::HeaderName(name.to_string()))
}

/// A mapping entry's action, target and value template.
fn parse_entry<'k>(
    key: &'k str,
    value: &str,
    scope: Scope<'_>,
) -> Result<(Action, &'k str, Template), MappingError> {
    let (action, target) = parse_action(key)?;
    let template = Template::parse(value, scope)?;
    Ok((action, target, template))
}

impl RequestMapping {
    /// Parse one `request_parameters` entry and add it.
    pub fn push(&mut self, key: &str, value: &str, scope: Scope<'_>) -> Result<(), MappingError> {
        let (action, target, template) = parse_entry(key, value, scope)?;
        let op = if let Some(name) = target.strip_prefix("header.") {
            RequestOp::Header(action, header_name(name)?, template)
        } else if let Some(name) = target.strip_prefix("querystring.") {
            RequestOp::Query(action, name.to_string(), template)
        } else if target == "path" && action == Action::Overwrite {
            RequestOp::Path(template)
        } else {
            return Err(MappingError::RequestTarget(target.to_string()));
        };
        self.ops.push(op);
        Ok(())
    }
}

impl ResponseMapping {
    /// Parse one `response_parameters` entry and add it.
    pub fn push(&mut self, key: &str, value: &str, scope: Scope<'_>) -> Result<(), MappingError> {
        let (action, target, template) = parse_entry(key, value, scope)?;
        let op = if let Some(name) = target.strip_prefix("header.") {
            ResponseOp::Header(action, header_name(name)?, template)
        } else if target == "statuscode" && action == Action::Overwrite {
            if let Some(status) = template.as_literal() {
                status
                    .parse::<u16>()
                    .ok()
                    .filter(|s| (100..=599).contains(s))
                    .ok_or_else(|| MappingError::Status(status.to_string()))?;
            }
            ResponseOp::Status(template)
        } else {
            return Err(MappingError::ResponseTarget(target.to_string()));
        };
        self.ops.push(op);
        Ok(())
    }
}

/// The header methods request and response heads share (each keeps its own case map).
trait HeaderTarget {
    fn append(&mut self, name: HeaderName, value: String) -> Result<()>;
    fn overwrite(&mut self, name: HeaderName, value: String) -> Result<()>;
    fn remove(&mut self, name: &HeaderName);
}

macro_rules! header_target {
    ($($head:ty),*) => {$(
        impl HeaderTarget for $head {
            fn append(&mut self, name: HeaderName, value: String) -> Result<()> {
                self.append_header(name, value).map(|_| ())
            }
            fn overwrite(&mut self, name: HeaderName, value: String) -> Result<()> {
                self.insert_header(name, value)
            }
            fn remove(&mut self, name: &HeaderName) {
                self.remove_header(name);
            }
        }
    )*};
}

header_target!(RequestHeader, ResponseHeader);

/// Apply one header mapping to a request or response head.
fn map_header(
    head: &mut impl HeaderTarget,
    action: Action,
    name: &HeaderName,
    value: String,
) -> Result<()> {
    match action {
        Action::Append => head.append(name.clone(), value),
        Action::Overwrite => head.overwrite(name.clone(), value),
        Action::Remove => {
            head.remove(name);
            Ok(())
        }
    }
}

impl RequestMapping {
    /// Apply the mappings: headers on `request`, query parameters and path on `uri`
    /// (a path with optional query), which is rewritten in place.
    pub fn apply(
        &self,
        request: &mut RequestHeader,
        uri: &mut String,
        lookup: &dyn Lookup,
    ) -> Result<()> {
        if self.ops.is_empty() {
            return Ok(());
        }
        let (path, query) = match uri.split_once('?') {
            Some((path, query)) => (path.to_string(), query.to_string()),
            None => (uri.clone(), String::new()),
        };
        let mut path = path;
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for op in &self.ops {
            match op {
                RequestOp::Header(action, name, template) => {
                    map_header(request, *action, name, template.render(lookup))?
                }
                RequestOp::Query(action, name, template) => {
                    if *action != Action::Append {
                        pairs.retain(|(k, _)| k != name);
                    }
                    if *action != Action::Remove {
                        pairs.push((name.clone(), template.render(lookup)));
                    }
                }
                RequestOp::Path(template) => {
                    path = template.render(lookup);
                    // Built from the caller's values: refused (400) unless a plain path.
                    if let Err(e) = crate::edge::path::check_built(&path) {
                        let message = format!("mapped path `{}`: {e}", path.escape_debug());
                        return Err(Error::explain(ErrorType::HTTPStatus(400), message));
                    }
                }
            }
        }
        *uri = path;
        if !pairs.is_empty() {
            uri.push('?');
            uri.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish(),
            );
        }
        Ok(())
    }
}

impl ResponseMapping {
    /// Apply the mappings to the backend's response header.
    pub fn apply(&self, response: &mut ResponseHeader, lookup: &dyn Lookup) -> Result<()> {
        for op in &self.ops {
            match op {
                ResponseOp::Header(action, name, template) => {
                    map_header(response, *action, name, template.render(lookup))?
                }
                ResponseOp::Status(template) => {
                    if let Ok(status) = template.render(lookup).parse::<u16>() {
                        response.set_status(status)?;
                    }
                }
            }
        }
        Ok(())
    }
}
