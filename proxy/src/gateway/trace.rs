//! Request ids and W3C trace context: every request gets an id, and the `traceparent` sent to the
//! backend continues the caller's trace (or starts one) with the gateway as the parent span.
//! Both are written without `format!`: they are on every request's path.

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

/// The `traceparent` to send upstream, given the caller's (if any): written into a fixed
/// buffer, 55 bytes.
pub fn child_traceparent(incoming: Option<&str>) -> String {
    let mut out = [0u8; 55];
    out[..3].copy_from_slice(b"00-");
    let flags = match incoming.and_then(parse_traceparent) {
        Some((trace_id, flags)) => {
            out[3..35].copy_from_slice(trace_id.as_bytes());
            flags
        }
        None => {
            hex::encode_to_slice(fastrand::u128(1..).to_be_bytes(), &mut out[3..35])
                .expect("16 bytes are 32 hex digits");
            "01"
        }
    };
    out[35] = b'-';
    hex::encode_to_slice(fastrand::u64(1..).to_be_bytes(), &mut out[36..52])
        .expect("8 bytes are 16 hex digits");
    out[52] = b'-';
    out[53..].copy_from_slice(flags.as_bytes());
    String::from_utf8(out.to_vec()).expect("hex digits and dashes are ASCII")
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
