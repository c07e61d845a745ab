//! Mapping pingora's errors to the gateway's error kinds: timeouts are 504 (pingora would say
//! 502), refused or broken backends 502, no healthy backend 503, body over the limit 413, an
//! integration path with dot segments 400.

use pingora::{Error, ErrorSource, ErrorType};

use crate::gateway_response::ErrorKind;

/// Status used inside the gateway to signal "no healthy backend" through pingora's error path.
pub const NO_HEALTHY_BACKEND: u16 = 503;
/// Status used inside the gateway to signal "request body over the limit".
pub const BODY_TOO_LARGE: u16 = 413;
/// Status used inside the gateway to signal "the integration path is refused" (a dot segment, a
/// character no path may hold); `integration::mapping` raises it for a mapped path too.
pub const BAD_UPSTREAM_PATH: u16 = 400;

/// The error of a closed plugin's fault on a streamed response: a 500, already logged (as a
/// warning naming the plugin) where it happened.
pub const PLUGIN_FAULT: ErrorType = ErrorType::Custom("plugin fault");

/// What to answer for a fatal proxy error; `None` when the client is gone and nothing can be sent.
pub fn classify(error: &Error) -> Option<ErrorKind> {
    use ErrorType::*;
    let kind = match (error.esource(), error.etype()) {
        (_, HTTPStatus(BODY_TOO_LARGE)) => ErrorKind::RequestTooLarge,
        (_, HTTPStatus(BAD_UPSTREAM_PATH)) => ErrorKind::BadRequest,
        (_, HTTPStatus(NO_HEALTHY_BACKEND)) => ErrorKind::ServiceUnavailable,
        (ErrorSource::Upstream, ConnectTimedout | ReadTimedout | WriteTimedout) => {
            ErrorKind::IntegrationTimeout
        }
        (ErrorSource::Upstream, _) => ErrorKind::IntegrationFailure,
        (ErrorSource::Downstream, ReadError | WriteError | ConnectionClosed) => return None,
        (ErrorSource::Downstream, _) => ErrorKind::BadRequestBody,
        (ErrorSource::Internal | ErrorSource::Unset, _) => ErrorKind::InternalError,
    };
    Some(kind)
}

/// Whether a connect error means the backend should be skipped for a while. A failed TLS
/// handshake does not: it says how the gateway trusts the backend (a CA, a server name), and
/// health is kept per address, so it would take the backend away from every upstream naming it.
pub fn is_backend_failure(error: &Error) -> bool {
    matches!(
        error.etype(),
        ErrorType::ConnectTimedout
            | ErrorType::ConnectRefused
            | ErrorType::ConnectNoRoute
            | ErrorType::ConnectError
    )
}

/// The longest URI the `http` crate parses (a longer one is an "invalid uri" to pingora).
const MAX_URI_PARSED: usize = u16::MAX as usize - 1;

/// What to answer for a request head pingora refused before any phase ran: 431 when it was
/// over pingora's own caps (more than 256 header fields, or over 1 MiB), 414 for a target the
/// URI parser refuses as too long (over 64 KiB), 405 for a `CONNECT`, else 400.
pub fn refused_head_kind(error: &Error) -> ErrorKind {
    if error.etype() == &ErrorType::HTTPStatus(405) {
        return ErrorKind::MethodNotAllowed;
    }
    let text = error.to_string().to_ascii_lowercase();
    if text.contains("too many headers") || text.contains("request header larger than") {
        ErrorKind::RequestHeaderFieldsTooLarge
    } else if text
        .split_once("invalid uri ")
        .is_some_and(|(_, uri)| uri.len() > MAX_URI_PARSED)
    {
        ErrorKind::UriTooLong
    } else {
        ErrorKind::BadRequest
    }
}
