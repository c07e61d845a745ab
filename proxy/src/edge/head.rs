//! Checks on a request head as pingora parsed it, before routing: the configured limits on
//! its size, RFC 9112's rule of exactly one `Host`, the body's framing narrowed to what the
//! gateway speaks, and the path normalised in place (see [`super::path`]) so routing, plugins,
//! logs and backends all see the same path.

use http::Version;
use pingora::http::RequestHeader;

use crate::config::RequestLimits;
use crate::gateway_response::ErrorKind;

/// Why a request head was refused: the error to answer with and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadRefusal {
    /// The gateway error.
    pub kind: ErrorKind,
    /// What was wrong, for the client.
    pub message: String,
}

impl HeadRefusal {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Check `request` against `limits` and normalise its path in place.
pub fn check_head(request: &mut RequestHeader, limits: &RequestLimits) -> Result<(), HeadRefusal> {
    check_limits(request, limits)?;
    normalize_path(request)
}

/// Check `request` against `limits`, `Host` and framing rules, leaving its path as sent.
pub fn check_limits(
    request: &mut RequestHeader,
    limits: &RequestLimits,
) -> Result<(), HeadRefusal> {
    let target_bytes = request.raw_path().len();
    if target_bytes > limits.max_uri_bytes {
        return Err(HeadRefusal::new(
            ErrorKind::UriTooLong,
            format!(
                "Request-URI Too Long: {target_bytes} bytes, at most {}",
                limits.max_uri_bytes
            ),
        ));
    }
    let field_count = request.headers.len();
    if field_count > limits.max_headers {
        return Err(HeadRefusal::new(
            ErrorKind::RequestHeaderFieldsTooLarge,
            format!(
                "Request Header Fields Too Large: {field_count} fields, at most {}",
                limits.max_headers
            ),
        ));
    }
    let fields = HeadFields::count(request);
    let line_bytes = request.method.as_str().len() + target_bytes + " HTTP/1.1\r\n".len() + 1;
    let head_bytes = line_bytes + fields.bytes;
    if head_bytes > limits.max_header_bytes {
        return Err(HeadRefusal::new(
            ErrorKind::RequestHeaderFieldsTooLarge,
            format!(
                "Request Header Fields Too Large: {head_bytes} bytes, at most {}",
                limits.max_header_bytes
            ),
        ));
    }
    if request.version == Version::HTTP_11 && fields.hosts != 1 {
        let message = if fields.hosts == 0 {
            "Bad Request: HTTP/1.1 requests need a Host header"
        } else {
            "Bad Request: more than one Host header"
        };
        return Err(HeadRefusal::new(ErrorKind::BadRequest, message));
    }
    if fields.framing {
        check_framing(request)?;
    }
    Ok(())
}

/// What one pass over the header fields finds: their bytes on the wire, how many `Host`s, and
/// whether the body's framing needs a closer look (any `Transfer-Encoding`, or more than one
/// `Content-Length` or a listed one).
struct HeadFields {
    bytes: usize,
    hosts: usize,
    framing: bool,
}

impl HeadFields {
    fn count(request: &RequestHeader) -> Self {
        let mut fields = Self {
            bytes: 0,
            hosts: 0,
            framing: false,
        };
        let mut lengths = 0;
        for (name, value) in &request.headers {
            fields.bytes += name.as_str().len() + value.len() + ": \r\n".len();
            if name == http::header::HOST {
                fields.hosts += 1;
            } else if name == http::header::TRANSFER_ENCODING {
                fields.framing = true;
            } else if name == http::header::CONTENT_LENGTH {
                lengths += 1;
                fields.framing |= lengths > 1 || value.as_bytes().contains(&b',');
            }
        }
        fields
    }
}

/// Pingora refuses conflicting framing; what it lets through is narrowed here: `chunked` is the
/// only transfer coding the gateway speaks (a coding before it would reach the backend as if the
/// body were plain), and a `Content-Length` sent as a list of equal values or repeated goes on
/// as one value (strict backends refuse the list).
fn check_framing(request: &mut RequestHeader) -> Result<(), HeadRefusal> {
    let codings: Vec<&str> = request
        .headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .collect();
    if !codings.is_empty()
        && !matches!(codings[..], [coding] if coding.eq_ignore_ascii_case("chunked"))
    {
        return Err(HeadRefusal::new(
            ErrorKind::BadRequest,
            "Bad Request: `chunked` is the only transfer coding accepted",
        ));
    }
    let lengths = request.headers.get_all(http::header::CONTENT_LENGTH);
    let listed =
        lengths.iter().count() > 1 || lengths.iter().any(|value| value.as_bytes().contains(&b','));
    if listed {
        let first = lengths
            .iter()
            .next()
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                HeadRefusal::new(ErrorKind::BadRequest, "Bad Request: invalid Content-Length")
            })?;
        request
            .insert_header(http::header::CONTENT_LENGTH, first)
            .map_err(|e| HeadRefusal::new(ErrorKind::BadRequest, format!("Bad Request: {e}")))?;
    }
    Ok(())
}

fn normalize_path(request: &mut RequestHeader) -> Result<(), HeadRefusal> {
    let normal = match super::path::normalize(request.uri.path()) {
        Ok(std::borrow::Cow::Borrowed(_)) => return Ok(()),
        Ok(std::borrow::Cow::Owned(normal)) => normal,
        Err(e) => {
            return Err(HeadRefusal::new(
                ErrorKind::BadRequest,
                format!("Bad Request: {e}"),
            ))
        }
    };
    let target = match request.uri.query() {
        Some(query) => format!("{normal}?{query}"),
        None => normal,
    };
    let invalid = |e: &dyn std::fmt::Display| {
        HeadRefusal::new(ErrorKind::BadRequest, format!("Bad Request: {e}"))
    };
    let mut parts = request.uri.clone().into_parts();
    parts.path_and_query = Some(target.parse().map_err(|e| invalid(&e))?);
    let uri = http::Uri::from_parts(parts).map_err(|e| invalid(&e))?;
    request.set_uri(uri);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(target: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut request = RequestHeader::build("GET", target.as_bytes(), None).unwrap();
        for (name, value) in headers {
            request.append_header(name.to_string(), *value).unwrap();
        }
        request
    }

    #[test]
    fn heads_over_the_limits_are_refused_with_their_status() {
        let limits = RequestLimits {
            max_uri_bytes: 64,
            max_header_bytes: 300,
            max_headers: 4,
            ..RequestLimits::default()
        };
        let host = [("host", "h")];
        let long_target = format!("/{}", "a".repeat(64));
        let big_value = "v".repeat(300);
        let cases: Vec<(RequestHeader, Option<u16>)> = vec![
            (head("/ok", &host), None),
            (head(&long_target, &host), Some(414)),
            (
                head(
                    "/ok",
                    &[
                        ("host", "h"),
                        ("a", "1"),
                        ("b", "2"),
                        ("c", "3"),
                        ("d", "4"),
                    ],
                ),
                Some(431),
            ),
            (head("/ok", &[("host", "h"), ("x", &big_value)]), Some(431)),
            (head("/ok", &[]), Some(400)),
            (head("/ok", &[("host", "a"), ("host", "b")]), Some(400)),
            (head("/a/%2fb", &host), Some(400)),
        ];
        for (mut request, expected) in cases {
            let target = request.uri.to_string();
            let got = check_head(&mut request, &limits)
                .err()
                .map(|r| r.kind.status());
            assert_eq!(got, expected, "{target}");
        }
    }

    #[test]
    fn the_path_is_normalised_in_place_and_the_query_kept() {
        let mut request = head("/dev/echo/../%61dmin/./x?a=1&b=..%2F", &[("host", "h")]);
        check_head(&mut request, &RequestLimits::default()).unwrap();
        assert_eq!(request.uri.path(), "/dev/admin/x");
        assert_eq!(request.uri.query(), Some("a=1&b=..%2F"));
    }
}
