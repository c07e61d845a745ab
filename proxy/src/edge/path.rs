//! Request path normalisation, before routing: percent-encoded unreserved characters are
//! decoded (RFC 3986 §6.2.2.2) and dot segments removed (§5.2.4), so `/a/../b`, `/a/%2E%2e/b`
//! and `/b` are one path, a path never climbs above `/`, and no route parameter or greedy
//! `{proxy}` value ever holds a `.` or `..` segment a backend could resolve.
//!
//! Decided here: an encoded slash or backslash (`%2F`, `%5C`), a raw backslash and an encoded
//! NUL are refused (400) rather than passed on, since backends disagree on whether they
//! separate segments; doubled slashes are kept as sent (they climb nowhere); other
//! percent-encodings are kept as sent, with their hex digits upper-cased.

use std::borrow::Cow;

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The request target is not a path (`*`, or empty).
    #[error("the request target is not an absolute path")]
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    #[error("malformed percent-encoding in the path")]
    BadEncoding,
    /// `%2F` or `%5C`.
    #[error("encoded slashes and backslashes are not allowed in the path")]
    EncodedSeparator,
    /// A raw backslash or an encoded NUL.
    #[error("backslashes and NUL are not allowed in the path")]
    ForbiddenCharacter,
}

/// The normalised form of `path` (borrowed when it is already normal).
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if path.contains('\\') {
        return Err(PathError::ForbiddenCharacter);
    }
    let decoded = if path.contains('%') {
        Cow::Owned(decode_unreserved(path)?)
    } else {
        Cow::Borrowed(path)
    };
    if !decoded.contains("/.") {
        return Ok(decoded);
    }
    Ok(Cow::Owned(remove_dot_segments(&decoded)))
}

/// Whether some segment of `path` is `.` or `..`, in a form a backend may decode to one
/// (`%2e`). For paths the gateway builds itself, such as integration URIs.
pub fn has_dot_segment(path: &str) -> bool {
    const DOT_FORMS: [&str; 6] = [".", "..", "%2e", "%2e%2e", ".%2e", "%2e."];
    path.split('/').any(|segment| {
        segment.len() <= 6
            && DOT_FORMS
                .iter()
                .any(|dot| segment.eq_ignore_ascii_case(dot))
    })
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

fn decode_unreserved(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte != b'%' {
            let next = path[i..].find('%').map_or(bytes.len(), |at| i + at);
            out.push_str(&path[i..next]);
            i = next;
            continue;
        }
        let (Some(high), Some(low)) = (
            bytes.get(i + 1).copied().and_then(hex_value),
            bytes.get(i + 2).copied().and_then(hex_value),
        ) else {
            return Err(PathError::BadEncoding);
        };
        let value = high << 4 | low;
        match value {
            b'/' | b'\\' => return Err(PathError::EncodedSeparator),
            0 => return Err(PathError::ForbiddenCharacter),
            _ if is_unreserved(value) => out.push(value as char),
            _ => {
                out.push('%');
                out.push_str(&format!("{value:02X}"));
            }
        }
        i += 3;
    }
    Ok(out)
}

/// RFC 3986 §5.2.4 on an absolute path; `..` above the root stays at the root.
fn remove_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut segments = path[1..].split('/').peekable();
    let mut ends_in_slash = false;
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            "." => ends_in_slash = last,
            ".." => {
                kept.pop();
                ends_in_slash = last;
            }
            other => kept.push(other),
        }
    }
    let mut normal = String::with_capacity(path.len());
    for segment in kept {
        normal.push('/');
        normal.push_str(segment);
    }
    if ends_in_slash || normal.is_empty() {
        normal.push('/');
    }
    normal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_as_rfc_3986_says() {
        let cases = [
            ("/", Ok("/")),
            ("/a/b", Ok("/a/b")),
            ("/a/b/", Ok("/a/b/")),
            ("/echo/../admin", Ok("/admin")),
            ("/dev/echo/../../../x", Ok("/x")),
            ("/a/./b", Ok("/a/b")),
            ("/a/b/..", Ok("/a/")),
            ("/a/b/.", Ok("/a/b/")),
            ("/..", Ok("/")),
            ("/a/%2e%2e/b", Ok("/b")),
            ("/a/%2E./b", Ok("/b")),
            ("/a/.%2e", Ok("/")),
            ("/%61dmin", Ok("/admin")),
            ("/a%7Eb%20c", Ok("/a~b%20c")),
            ("/a%3fb", Ok("/a%3Fb")),
            ("//a//b", Ok("//a//b")),
            ("/a..b/.c", Ok("/a..b/.c")),
            ("/a%2Fb", Err(PathError::EncodedSeparator)),
            ("/a%2f..%2f..%2fetc", Err(PathError::EncodedSeparator)),
            ("/a%5Cb", Err(PathError::EncodedSeparator)),
            ("/a\\..\\b", Err(PathError::ForbiddenCharacter)),
            ("/a%00", Err(PathError::ForbiddenCharacter)),
            ("/a%zz", Err(PathError::BadEncoding)),
            ("/a%4", Err(PathError::BadEncoding)),
            ("*", Err(PathError::NotAbsolute)),
            ("", Err(PathError::NotAbsolute)),
        ];
        for (path, expected) in cases {
            assert_eq!(
                normalize(path).as_deref().map_err(|e| *e),
                expected,
                "{path}"
            );
        }
    }

    #[test]
    fn built_paths_with_dot_segments_are_found() {
        for path in ["/public/../x", "/a/.", "/%2e%2E/x", "/.%2E/", "/x/%2e"] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in ["/public/x", "/a..b", "/.well-known/x", "/%2e%2e%2e"] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }
}
