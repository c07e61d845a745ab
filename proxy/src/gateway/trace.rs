//! Request ids and W3C trace context: every request gets an id, and the `traceparent` sent to the
//! backend continues the caller's trace (or starts one) with the gateway as the parent span.
//! Both are written digit by digit, without `format!`: they are on every request's path.

use uuid::{Builder, Uuid};

/// A random version-4 UUID from a thread-local generator: no system call per request. Ids need
/// to be unique, not unpredictable.
fn random_uuid() -> Uuid {
    Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid()
}

/// A new request id.
pub fn request_id() -> String {
    String::from(
        &*random_uuid()
            .hyphenated()
            .encode_lower(&mut Uuid::encode_buffer()),
    )
}

/// Append the low `digits` hex digits of `value`, lower-case.
fn push_hex(out: &mut String, value: u128, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..digits).rev() {
        out.push(HEX[((value >> (shift * 4)) & 0xf) as usize] as char);
    }
}

/// The `traceparent` to send upstream, given the caller's (if any).
pub fn child_traceparent(incoming: Option<&str>) -> String {
    let mut traceparent = String::with_capacity(55);
    traceparent.push_str("00-");
    let flags = match incoming.and_then(parse_traceparent) {
        Some((trace_id, flags)) => {
            traceparent.push_str(trace_id);
            flags
        }
        None => {
            push_hex(&mut traceparent, fastrand::u128(1..), 32);
            "01"
        }
    };
    traceparent.push('-');
    push_hex(&mut traceparent, fastrand::u64(1..).into(), 16);
    traceparent.push('-');
    traceparent.push_str(flags);
    traceparent
}

/// `(trace-id, flags)` of a valid version-00 `traceparent`.
fn parse_traceparent(value: &str) -> Option<(&str, &str)> {
    let mut parts = value.trim().split('-');
    let (version, trace_id, parent_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = version == "00"
        && parts.next().is_none()
        && hex(trace_id, 32)
        && hex(parent_id, 16)
        && hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0')
        && parent_id.bytes().any(|b| b != b'0');
    valid.then_some((trace_id, flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continues_a_valid_trace_with_a_new_span() {
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let child = child_traceparent(Some(incoming));
        assert!(child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(child.ends_with("-01"));
        assert_ne!(child, incoming);
        assert_eq!(
            parse_traceparent(&child).map(|(t, _)| t),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }

    #[test]
    fn starts_a_new_trace_for_missing_or_invalid_headers() {
        for incoming in [
            None,
            Some("garbage"),
            Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        ] {
            let child = child_traceparent(incoming);
            assert!(parse_traceparent(&child).is_some(), "{child}");
        }
    }
}
