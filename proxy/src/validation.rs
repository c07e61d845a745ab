//! Request validation, as AWS's request validators: required query string and header parameters,
//! and the body against the JSON Schema model its content type selects. Models are compiled once
//! per config load; a schema names its draft with `$schema`, and is draft-04 (AWS's) otherwise.

use std::sync::Arc;

use http::HeaderName;
use pingora::http::RequestHeader;
use serde_json::Value;

/// The content-type key of the model for any type without its own.
pub const DEFAULT_MODEL: &str = "$default";

/// A model's schema that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid JSON Schema: {0}")]
pub struct InvalidSchema(String);

/// Why a required parameter is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequiredError {
    /// `header.<name>` with a name that is not a header name.
    #[error("`{0}` is not a header name")]
    HeaderName(String),
    /// Not `header.`, `path.` or `querystring.`.
    #[error(
        "`{0}`: a required parameter is `header.<name>`, `path.<name>` or `querystring.<name>`"
    )]
    Shape(String),
    /// `path.<name>` where the route has no such parameter.
    #[error("`{name}` is not a path parameter of `{route}`")]
    NotARouteParameter {
        /// The parameter.
        name: String,
        /// The route key.
        route: String,
    },
}

/// A compiled model.
pub struct Model {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").finish_non_exhaustive()
    }
}

impl Model {
    /// Compile a schema.
    pub fn compile(schema: &Value) -> Result<Model, InvalidSchema> {
        let options = jsonschema::options();
        let options = if schema.get("$schema").is_some() {
            options
        } else {
            options.with_draft(jsonschema::Draft::Draft4)
        };
        let validator = options
            .build(schema)
            .map_err(|e| InvalidSchema(e.to_string()))?;
        Ok(Model { validator })
    }

    /// The first error of `instance`, as `<path>: <message>`.
    pub fn check(&self, instance: &Value) -> Result<(), Invalid> {
        self.validator.validate(instance).map_err(|e| {
            let path = e.instance_path().to_string();
            Invalid::Body(if path.is_empty() {
                e.to_string()
            } else {
                format!("{path}: {e}")
            })
        })
    }
}

/// A parameter that must be present.
#[derive(Debug, PartialEq, Eq)]
pub enum Required {
    /// `header.<name>`.
    Header(HeaderName),
    /// `path.<name>`: a path parameter of the route (present whenever the route matched, as
    /// routing needs a non-empty segment; declared for AWS compatibility).
    Path(String),
    /// `querystring.<name>`.
    Query(String),
}

impl Required {
    /// Parse `header.<name>`, `path.<name>` or `querystring.<name>`.
    pub fn parse(text: &str) -> Result<Required, RequiredError> {
        match text.split_once('.') {
            Some(("querystring", name)) if !name.is_empty() => Ok(Required::Query(name.into())),
            Some(("path", name)) if !name.is_empty() => Ok(Required::Path(name.into())),
            Some(("header", name)) => HeaderName::from_bytes(name.as_bytes())
                .map(Required::Header)
                .map_err(|_| RequiredError::HeaderName(name.to_string())),
            _ => Err(RequiredError::Shape(text.to_string())),
        }
    }

    /// Where AWS lists a missing parameter of this kind: headers, then path, then query string.
    pub fn kind_order(&self) -> u8 {
        match self {
            Required::Header(_) => 0,
            Required::Path(_) => 1,
            Required::Query(_) => 2,
        }
    }

    fn name(&self) -> &str {
        match self {
            Required::Header(name) => name.as_str(),
            Required::Path(name) | Required::Query(name) => name,
        }
    }

    fn present(&self, request: &RequestHeader, path_params: &[(Arc<str>, String)]) -> bool {
        match self {
            Required::Header(name) => request.headers.contains_key(name),
            Required::Path(name) => path_params
                .iter()
                .any(|(param, value)| &**param == name && !value.is_empty()),
            Required::Query(name) => crate::query::param(request.uri.query(), name).is_some(),
        }
    }
}

/// Why a request is invalid.
#[derive(Debug, PartialEq)]
pub enum Invalid {
    /// `Missing required request parameters: [a, b]`: headers, then path, then query string
    /// parameters, as AWS lists them.
    Parameters(String),
    /// The body is not JSON or does not match its model: the detail.
    Body(String),
}

/// What one route checks.
#[derive(Debug, Default)]
pub struct RequestValidation {
    /// Models by lower-case media type, or [`DEFAULT_MODEL`].
    pub models: Vec<(String, Arc<Model>)>,
    /// Parameters that must be present, in the order AWS reports them
    /// ([`Required::kind_order`]).
    pub required: Vec<Required>,
}

impl RequestValidation {
    /// Whether the route checks anything.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty() && self.required.is_empty()
    }

    /// Whether the route must read the whole body before its integration.
    pub fn needs_body(&self) -> bool {
        !self.models.is_empty()
    }

    /// Check the parameters, then the body (when the route reads it).
    pub fn check(
        &self,
        request: &RequestHeader,
        path_params: &[(Arc<str>, String)],
        body: Option<&[u8]>,
    ) -> Result<(), Invalid> {
        let missing: Vec<&str> = self
            .required
            .iter()
            .filter(|required| !required.present(request, path_params))
            .map(Required::name)
            .collect();
        if !missing.is_empty() {
            return Err(Invalid::Parameters(format!(
                "Missing required request parameters: [{}]",
                missing.join(", ")
            )));
        }
        let Some(model) = self.model_for(request) else {
            return Ok(());
        };
        let instance: Value = serde_json::from_slice(body.unwrap_or_default())
            .map_err(|e| Invalid::Body(format!("the body is not JSON: {e}")))?;
        model.check(&instance)
    }

    fn model_for(&self, request: &RequestHeader) -> Option<&Model> {
        let media_type = request
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let find = |key: &str| {
            self.models
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, m)| m.as_ref())
        };
        find(&media_type).or_else(|| find(DEFAULT_MODEL))
    }
}
