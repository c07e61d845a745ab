//! Gateway-generated errors: the kinds of error, their AWS status and message, and the per-API
//! "gateway responses" that override status, headers and body per kind (falling back to
//! `DEFAULT_4XX` / `DEFAULT_5XX`, then to the built-in `{"message": "..."}`).

use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

use crate::template::{ContextVar, Lookup, Template};

/// A kind of error the gateway answers itself, named as AWS gateway response types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No route matched on a REST API: 403.
    MissingAuthenticationToken,
    /// No route matched on an HTTP API, or no API at all: 404.
    ResourceNotFound,
    /// An authorizer found no or invalid credentials: 401.
    Unauthorized,
    /// An authorizer refused the request (or failed, when failing closed): 403.
    AccessDenied,
    /// Request body over the limit: 413.
    RequestTooLarge,
    /// The request body could not be read, is malformed, or does not match its model: 400.
    BadRequestBody,
    /// A required request parameter is missing: 400.
    BadRequestParameters,
    /// The backend did not answer within the integration timeout: 504.
    IntegrationTimeout,
    /// The backend refused the connection or broke the exchange: 502.
    IntegrationFailure,
    /// Every backend of the pool is marked down: 503.
    ServiceUnavailable,
    /// A fault inside the gateway: 500.
    InternalError,
    /// A throttle refused the request: 429.
    Throttled,
    /// No API key, or one that is unknown, disabled or without a plan for the stage: 403.
    InvalidApiKey,
    /// The API key's usage-plan quota is used up: 429.
    QuotaExceeded,
}

impl ErrorKind {
    /// Every kind, for parsing config keys.
    pub const ALL: [ErrorKind; 14] = [
        Self::MissingAuthenticationToken,
        Self::ResourceNotFound,
        Self::Unauthorized,
        Self::AccessDenied,
        Self::RequestTooLarge,
        Self::BadRequestBody,
        Self::BadRequestParameters,
        Self::IntegrationTimeout,
        Self::IntegrationFailure,
        Self::ServiceUnavailable,
        Self::InternalError,
        Self::Throttled,
        Self::InvalidApiKey,
        Self::QuotaExceeded,
    ];

    /// The AWS gateway response type name, used as the config key.
    pub fn response_type(self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            Self::ResourceNotFound => "RESOURCE_NOT_FOUND",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::AccessDenied => "ACCESS_DENIED",
            Self::RequestTooLarge => "REQUEST_TOO_LARGE",
            Self::BadRequestBody => "BAD_REQUEST_BODY",
            Self::BadRequestParameters => "BAD_REQUEST_PARAMETERS",
            Self::IntegrationTimeout => "INTEGRATION_TIMEOUT",
            Self::IntegrationFailure => "INTEGRATION_FAILURE",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::InternalError => "INTERNAL_ERROR",
            Self::Throttled => "THROTTLED",
            Self::InvalidApiKey => "INVALID_API_KEY",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
        }
    }

    /// The default status.
    pub fn status(self) -> u16 {
        match self {
            Self::MissingAuthenticationToken => 403,
            Self::ResourceNotFound => 404,
            Self::Unauthorized => 401,
            Self::AccessDenied => 403,
            Self::RequestTooLarge => 413,
            Self::BadRequestBody | Self::BadRequestParameters => 400,
            Self::IntegrationTimeout => 504,
            Self::IntegrationFailure => 502,
            Self::ServiceUnavailable => 503,
            Self::InternalError => 500,
            Self::Throttled | Self::QuotaExceeded => 429,
            Self::InvalidApiKey => 403,
        }
    }

    /// The default message.
    pub fn message(self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "Missing Authentication Token",
            Self::ResourceNotFound => "Not Found",
            Self::Unauthorized => "Unauthorized",
            Self::AccessDenied => "Forbidden",
            Self::RequestTooLarge => "Request Too Long",
            Self::BadRequestBody | Self::BadRequestParameters => "Bad Request",
            Self::IntegrationTimeout => "Endpoint request timed out",
            Self::IntegrationFailure => "Bad Gateway",
            Self::ServiceUnavailable => "Service Unavailable",
            Self::InternalError => "Internal server error",
            Self::Throttled => "Too Many Requests",
            Self::InvalidApiKey => "Forbidden",
            Self::QuotaExceeded => "Limit Exceeded",
        }
    }
}

/// Which overrides a config key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseType {
    /// One error kind.
    Kind(ErrorKind),
    /// Every 4xx kind without its own override.
    Default4xx,
    /// Every 5xx kind without its own override.
    Default5xx,
}

impl ResponseType {
    /// Parse a `gateway_responses` key.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "DEFAULT_4XX" => Some(Self::Default4xx),
            "DEFAULT_5XX" => Some(Self::Default5xx),
            _ => ErrorKind::ALL
                .into_iter()
                .find(|k| k.response_type() == name)
                .map(Self::Kind),
        }
    }
}

/// One customised gateway response.
#[derive(Debug, Clone)]
pub struct CustomResponse {
    /// Status to use instead of the kind's own.
    pub status: Option<u16>,
    /// Headers to add.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body template instead of `{"message": ...}`.
    pub body: Option<Template>,
}

/// An API's gateway responses.
#[derive(Debug, Clone, Default)]
pub struct GatewayResponses {
    overrides: HashMap<ResponseType, CustomResponse>,
}

/// An error response ready to write.
#[derive(Debug, Clone)]
pub struct RenderedError {
    /// Status code.
    pub status: u16,
    /// Extra headers (content type and length are added by the writer).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// JSON body.
    pub body: Bytes,
}

impl GatewayResponses {
    /// Set the override for `response_type`.
    pub fn insert(&mut self, response_type: ResponseType, response: CustomResponse) {
        self.overrides.insert(response_type, response);
    }

    /// The response for `kind`, rendering body templates with `request_id`; `message` replaces
    /// the kind's own message (e.g. a validator's reason).
    pub fn render(
        &self,
        kind: ErrorKind,
        message: Option<&str>,
        request_id: &str,
    ) -> RenderedError {
        let fallback = if kind.status() < 500 {
            ResponseType::Default4xx
        } else {
            ResponseType::Default5xx
        };
        let custom = self
            .overrides
            .get(&ResponseType::Kind(kind))
            .or_else(|| self.overrides.get(&fallback));
        let message = message.unwrap_or(kind.message());
        let lookup = ErrorValues {
            kind,
            message,
            request_id,
        };
        let body = match custom.and_then(|c| c.body.as_ref()) {
            Some(template) => Bytes::from(template.render(&lookup)),
            None => default_body(message),
        };
        RenderedError {
            status: custom.and_then(|c| c.status).unwrap_or(kind.status()),
            headers: custom.map(|c| c.headers.clone()).unwrap_or_default(),
            body,
        }
    }
}

/// `{"message":"<message>"}`.
pub fn default_body(message: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "message": message }).to_string())
}

struct ErrorValues<'a> {
    kind: ErrorKind,
    message: &'a str,
    request_id: &'a str,
}

impl Lookup for ErrorValues<'_> {
    fn header(&self, _: &str) -> Option<&str> {
        None
    }
    fn query(&self, _: &str) -> Option<String> {
        None
    }
    fn path_param(&self, _: &str) -> Option<&str> {
        None
    }
    fn context(&self, var: ContextVar) -> Option<String> {
        Some(match var {
            ContextVar::RequestId => self.request_id.to_string(),
            ContextVar::ErrorMessage => self.message.to_string(),
            ContextVar::ErrorMessageString => serde_json::Value::from(self.message).to_string(),
            ContextVar::ErrorResponseType => self.kind.response_type().to_string(),
            _ => return None,
        })
    }
}
