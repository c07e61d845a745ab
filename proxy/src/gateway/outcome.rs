//! What a step of the pipeline decides — go on, or answer — and the one place that writes the
//! answers the gateway gives itself: gateway errors (customised per API), plugins' own
//! responses, and whole responses (mocks, cache hits) after the response transformers.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::context::RequestCtx;
use super::{respond, responses};
use crate::gateway_response::ErrorKind;
use crate::plugin::{Fault, Header, Plugin};

/// How a step ended.
pub enum Outcome {
    /// On to the next step.
    Continue,
    /// The request is answered; no later step runs.
    Answer(Answer),
}

/// An answer the gateway gives without (or instead of) the integration's.
pub enum Answer {
    /// A gateway error.
    Refused(Refusal),
    /// A plugin's own response, written as it is.
    Plugin(crate::plugin::Response),
    /// A whole response (a mock integration, a cache hit), through the response transformers.
    Whole(Box<ResponseHeader>, Bytes),
}

/// Why the gateway refused a request: the error kind (AWS's gateway response type), a message
/// replacing the kind's own, and for throttles how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The error.
    pub kind: ErrorKind,
    /// A message instead of the kind's own.
    pub message: Option<String>,
    /// Seconds to wait, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl Refusal {
    /// A refusal with the kind's own message.
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            message: None,
            retry_after: None,
        }
    }

    /// A refusal with its own message.
    pub fn with_message(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            message: Some(message.into()),
            ..Self::new(kind)
        }
    }

    /// 429 `Too Many Requests`: come back after `wait` (rounded up to whole seconds).
    pub fn throttled(wait: Duration) -> Self {
        Self {
            retry_after: Some(crate::throttle::retry_after_seconds(wait)),
            ..Self::new(ErrorKind::Throttled)
        }
    }
}

impl From<ErrorKind> for Refusal {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

impl From<Refusal> for Outcome {
    fn from(refusal: Refusal) -> Self {
        Outcome::Answer(Answer::Refused(refusal))
    }
}

impl From<ErrorKind> for Outcome {
    fn from(kind: ErrorKind) -> Self {
        Refusal::new(kind).into()
    }
}

/// Write `answer` to the client.
pub async fn write(session: &mut Session, ctx: &mut RequestCtx, answer: Answer) -> Result<()> {
    match answer {
        Answer::Refused(refusal) => respond::refuse(session, ctx, &refusal).await.map(|_| ()),
        Answer::Plugin(response) => {
            let headers: Result<Vec<_>, Fault> = response
                .headers
                .into_iter()
                .map(|header| header_pair(header, |name| HeaderName::from_bytes(name.as_bytes())))
                .collect();
            match headers {
                Ok(headers) => {
                    let body = response.body.into();
                    respond::write(session, ctx, response.status, &headers, None, body).await
                }
                Err(fault) => {
                    log::warn!("plugin response: {fault}");
                    respond::refuse(session, ctx, &ErrorKind::InternalError.into())
                        .await
                        .map(|_| ())
                }
            }
        }
        Answer::Whole(head, body) => {
            responses::write_whole_response(session, ctx, *head, body).await
        }
    }
}

/// A header a plugin returned, its name parsed by `parse_name`; the value keeps the text's
/// buffer instead of copying it.
pub fn header_pair(
    header: Header,
    parse_name: impl Fn(&str) -> Result<HeaderName, http::header::InvalidHeaderName>,
) -> Result<(HeaderName, HeaderValue), Fault> {
    let name = parse_name(&header.name)
        .map_err(|_| Fault::Invalid(format!("header name `{}`", header.name)))?;
    let value = HeaderValue::try_from(header.value)
        .map_err(|_| Fault::Invalid(format!("value of header `{name}`")))?;
    Ok((name, value))
}

/// What to do after a plugin fault: `None` to go on (fail open), or the error to answer.
pub fn on_fault(plugin: &Plugin, closed: ErrorKind) -> Option<ErrorKind> {
    (!plugin.settings.failure_mode.is_open()).then_some(closed)
}
