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
    /// Not a path starting with one `/` (`*`, empty, `//host`, a URL).
    #[error("the path is not an absolute path")]
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
    /// A byte that is not a path character (space, control, non-ASCII, `?`, `#`, `"`).
    #[error("the path holds a character that is not allowed in a URI path")]
    InvalidCharacter,
    /// A `.` or `..` segment with parameters (`..;x`), or one the gateway did not build away.
    #[error("dot segments are not allowed in the path")]
    DotSegment,
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
    let normal = remove_dot_segments(&decoded);
    if normal.split('/').any(is_dot_segment) {
        return Err(PathError::DotSegment);
    }
    Ok(Cow::Owned(normal))
}

/// Check a path the gateway built itself (an integration URI after templates, mappings and
/// plugins, from values a caller may control): an absolute path of RFC 3986 path characters
/// and percent-encodings, not `//` first (an authority to some parsers), without encoded
/// slashes, backslashes or NUL, and without dot segments in any form a backend may resolve.
pub fn check_built(path: &str) -> Result<(), PathError> {
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(PathError::NotAbsolute);
    }
    if let Some(bad) = path.bytes().find(|b| !is_path_byte(*b)) {
        return Err(if bad == b'\\' {
            PathError::ForbiddenCharacter
        } else {
            PathError::InvalidCharacter
        });
    }
    let decoded = if path.contains('%') {
        Cow::Owned(decode_unreserved(path)?)
    } else {
        Cow::Borrowed(path)
    };
    if decoded.split('/').any(is_dot_segment) {
        return Err(PathError::DotSegment);
    }
    Ok(())
}

/// Bytes a path may hold as they are (RFC 3986 `pchar` and `/`; `%` starts an encoding), as a
/// table: every built path's every byte is looked up.
const PATH_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric();
        byte += 1;
    }
    let others = b"-._~!$&'()*+,;=:@/%";
    let mut i = 0;
    while i < others.len() {
        table[others[i] as usize] = true;
        i += 1;
    }
    table
};

fn is_path_byte(byte: u8) -> bool {
    PATH_BYTES[usize::from(byte)]
}

/// `.` or `..`, also with `;parameters` after it (which Tomcat and Spring resolve as one).
fn is_dot_segment(segment: &str) -> bool {
    let name = segment.split(';').next().unwrap_or(segment);
    name == "." || name == ".."
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
            ("/a/..;/b", Err(PathError::DotSegment)),
            ("/a/.;x/b", Err(PathError::DotSegment)),
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
    fn built_paths_are_checked_for_every_way_out() {
        let refused = [
            ("/public/../x", PathError::DotSegment),
            ("/a/.", PathError::DotSegment),
            ("/%2e%2E/x", PathError::DotSegment),
            ("/.%2E/", PathError::DotSegment),
            ("/x/..;/y", PathError::DotSegment),
            ("/a%2fb", PathError::EncodedSeparator),
            ("/a?b", PathError::InvalidCharacter),
            ("/a#b", PathError::InvalidCharacter),
            ("/a b", PathError::InvalidCharacter),
            ("/é", PathError::InvalidCharacter),
            ("/a\\b", PathError::ForbiddenCharacter),
            ("//evil.com/x", PathError::NotAbsolute),
            ("http://evil.com/x", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
        ];
        for (path, error) in refused {
            assert_eq!(check_built(path), Err(error), "{path}");
        }
        for path in [
            "/public/x",
            "/a..b",
            "/.well-known/x",
            "/%2e%2e%2e",
            "/a;b=c/d",
            "/%C3%A9",
        ] {
            assert_eq!(check_built(path), Ok(()), "{path}");
        }
    }
}
