//! Gateway-generated errors: the kinds of error, their AWS status and message, and the per-API
//! "gateway responses" that override status, headers and body per kind (falling back to
//! `DEFAULT_4XX` / `DEFAULT_5XX`, then to the built-in `{"message": "..."}`).

use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

use crate::template::{ContextVar, Lookup, Template};

/// The header naming the AWS error type of a gateway error (`x-amzn-ErrorType`).
pub const AWS_ERROR_TYPE: &str = "x-amzn-errortype";

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
    /// A malformed request head (path, `Host`, framing): 400. Not an AWS type.
    BadRequest,
    /// The request target is over the limit: 414. Not an AWS type.
    UriTooLong,
    /// The request's header fields are over the limits: 431. Not an AWS type.
    RequestHeaderFieldsTooLarge,
    /// A method the gateway never serves (`CONNECT`): 405. Not an AWS type.
    MethodNotAllowed,
    /// The TLS server name and the `Host` name different domains (no domain fronting).
    MisdirectedRequest,
}

impl ErrorKind {
    /// Every kind, for parsing config keys.
    pub const ALL: [ErrorKind; 19] = [
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
        Self::BadRequest,
        Self::UriTooLong,
        Self::RequestHeaderFieldsTooLarge,
        Self::MethodNotAllowed,
        Self::MisdirectedRequest,
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
            Self::BadRequest => "BAD_REQUEST",
            Self::UriTooLong => "URI_TOO_LONG",
            Self::RequestHeaderFieldsTooLarge => "REQUEST_HEADER_FIELDS_TOO_LARGE",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::MisdirectedRequest => "MISDIRECTED_REQUEST",
        }
    }

    /// The `x-amzn-ErrorType` AWS sends with this kind, which AWS SDKs and clients read.
    pub fn aws_error_type(self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::ResourceNotFound => "NotFoundException",
            Self::Unauthorized => "UnauthorizedException",
            Self::AccessDenied => "AccessDeniedException",
            Self::RequestTooLarge => "RequestTooLargeException",
            Self::BadRequestBody | Self::BadRequestParameters | Self::BadRequest => {
                "BadRequestException"
            }
            Self::IntegrationTimeout | Self::IntegrationFailure | Self::InternalError => {
                "InternalServerErrorException"
            }
            Self::ServiceUnavailable => "ServiceUnavailableException",
            Self::Throttled => "TooManyRequestsException",
            Self::InvalidApiKey => "ForbiddenException",
            Self::QuotaExceeded => "LimitExceededException",
            Self::UriTooLong => "UriTooLongException",
            Self::RequestHeaderFieldsTooLarge => "RequestHeaderFieldsTooLargeException",
            Self::MethodNotAllowed => "MethodNotAllowedException",
            Self::MisdirectedRequest => "MisdirectedRequestException",
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
            Self::BadRequest => 400,
            Self::UriTooLong => 414,
            Self::RequestHeaderFieldsTooLarge => 431,
            Self::MethodNotAllowed => 405,
            Self::MisdirectedRequest => 421,
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
            Self::BadRequest => "Bad Request",
            Self::UriTooLong => "Request-URI Too Long",
            Self::RequestHeaderFieldsTooLarge => "Request Header Fields Too Large",
            Self::MethodNotAllowed => "Method Not Allowed",
            Self::MisdirectedRequest => "Misdirected Request",
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

    /// The response for `kind`, rendering body templates with `request`'s values (its
    /// `$context`, headers and parameters) and the error's; `message` replaces the kind's own
    /// message (e.g. a validator's reason).
    pub fn render(
        &self,
        kind: ErrorKind,
        message: Option<&str>,
        request: &dyn Lookup,
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
            request,
        };
        let body = match custom.and_then(|c| c.body.as_ref()) {
            Some(template) => Bytes::from(template.render(&lookup)),
            None => default_body(message),
        };
        let mut headers = custom.map(|c| c.headers.clone()).unwrap_or_default();
        if !headers.iter().any(|(name, _)| name == AWS_ERROR_TYPE) {
            headers.push((
                HeaderName::from_static(AWS_ERROR_TYPE),
                HeaderValue::from_static(kind.aws_error_type()),
            ));
        }
        RenderedError {
            status: custom.and_then(|c| c.status).unwrap_or(kind.status()),
            headers,
            body,
        }
    }
}

/// `{"message":"<message>"}`.
pub fn default_body(message: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "message": message }).to_string())
}

/// An error's own `$context.error.*` values in front of the request's.
struct ErrorValues<'a> {
    kind: ErrorKind,
    message: &'a str,
    request: &'a dyn Lookup,
}

impl Lookup for ErrorValues<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.request.header(name)
    }
    fn query(&self, name: &str) -> Option<String> {
        self.request.query(name)
    }
    fn path_param(&self, name: &str) -> Option<&str> {
        self.request.path_param(name)
    }
    fn context(&self, var: ContextVar) -> Option<String> {
        Some(match var {
            ContextVar::ErrorMessage => self.message.to_string(),
            ContextVar::ErrorMessageString => serde_json::Value::from(self.message).to_string(),
            ContextVar::ErrorResponseType => self.kind.response_type().to_string(),
            other => return self.request.context(other),
        })
    }
    fn authorizer(&self, key: Option<&str>) -> Option<String> {
        self.request.authorizer(key)
    }
}
