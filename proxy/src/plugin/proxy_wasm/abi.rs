//! The numbers of the proxy-wasm ABI 0.2 (statuses, map and buffer types, actions, stream and
//! metric types) as the `proxy-wasm` SDKs define them, and the wire format of header maps.

/// `proxy_status_t`: what every host function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    /// Done.
    Ok = 0,
    /// No such key, map, buffer, queue or metric.
    NotFound = 1,
    /// An argument out of range, or a bound of the gateway's reached.
    BadArgument = 2,
    /// A map or path that could not be decoded.
    ParseFailure = 4,
    /// A pointer or length outside the module's memory.
    InvalidMemoryAccess = 6,
    /// A queue with nothing in it.
    Empty = 7,
    /// Shared data changed since its compare-and-swap value was read.
    CasMismatch = 8,
    /// The host failed.
    InternalFailure = 10,
    /// A function wasmgate does not provide (gRPC, foreign functions).
    Unimplemented = 12,
}

/// `proxy_map_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapType {
    /// The request's headers (with `:method`, `:path`, `:authority`, `:scheme`).
    RequestHeaders,
    /// The request's trailers.
    RequestTrailers,
    /// The response's headers (with `:status`).
    ResponseHeaders,
    /// The response's trailers.
    ResponseTrailers,
    /// The headers of a `proxy_http_call` response.
    CallResponseHeaders,
    /// The trailers of a `proxy_http_call` response.
    CallResponseTrailers,
}

impl MapType {
    /// The map type with ABI number `n` (gRPC metadata maps are not provided).
    pub fn from_abi(n: u32) -> Option<Self> {
        Some(match n {
            0 => Self::RequestHeaders,
            1 => Self::RequestTrailers,
            2 => Self::ResponseHeaders,
            3 => Self::ResponseTrailers,
            6 => Self::CallResponseHeaders,
            7 => Self::CallResponseTrailers,
            _ => return None,
        })
    }
}

/// `proxy_buffer_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferType {
    /// The request body.
    RequestBody,
    /// The response body.
    ResponseBody,
    /// The body of a `proxy_http_call` response.
    CallResponseBody,
    /// The VM's configuration (`vm_configuration`).
    VmConfiguration,
    /// The filter's configuration.
    PluginConfiguration,
}

impl BufferType {
    /// The buffer type with ABI number `n` (TCP data and gRPC buffers are not provided).
    pub fn from_abi(n: u32) -> Option<Self> {
        Some(match n {
            0 => Self::RequestBody,
            1 => Self::ResponseBody,
            4 => Self::CallResponseBody,
            6 => Self::VmConfiguration,
            7 => Self::PluginConfiguration,
            _ => return None,
        })
    }
}

/// What a header or body callback returns: `Continue` (0) or `Pause` (1, stop iteration).
pub const ACTION_PAUSE: u32 = 1;

/// `proxy_stream_type_t` of `proxy_continue_stream`: the request (the index of
/// `Exchange::resumed`).
pub const STREAM_REQUEST: u32 = 0;
/// `proxy_stream_type_t` of `proxy_continue_stream`: the response.
pub const STREAM_RESPONSE: u32 = 1;

/// `proxy_metric_type_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Only grows.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Records observations.
    Histogram,
}

impl MetricType {
    /// The metric type with ABI number `n`.
    pub fn from_abi(n: u32) -> Option<Self> {
        Some(match n {
            0 => Self::Counter,
            1 => Self::Gauge,
            2 => Self::Histogram,
            _ => return None,
        })
    }
}

/// Header pairs as the ABI moves them: names and values are bytes.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Encode `pairs` in the ABI's map format: the count, each name's and value's length (all
/// little-endian `u32`), then each name and value followed by a NUL.
pub fn encode_pairs<'a>(
    pairs: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + Clone,
) -> Vec<u8> {
    let bytes: usize = pairs.clone().map(|(n, v)| n.len() + v.len() + 10).sum();
    let mut out = Vec::with_capacity(4 + bytes);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (name, value) in pairs.clone() {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    }
    for (name, value) in pairs {
        out.extend_from_slice(name);
        out.push(0);
        out.extend_from_slice(value);
        out.push(0);
    }
    out
}

/// Decode a map in the ABI's format; `None` when it is malformed (lengths past its end).
pub fn decode_pairs(bytes: &[u8]) -> Option<Pairs> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let word = |at: usize| -> Option<usize> {
        let raw: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(u32::from_le_bytes(raw) as usize)
    };
    let count = word(0)?;
    let mut data = count.checked_mul(8)?.checked_add(4)?;
    if data > bytes.len() {
        return None;
    }
    let mut pairs = Vec::with_capacity(count);
    for i in 0..count {
        let (name_len, value_len) = (word(4 + i * 8)?, word(8 + i * 8)?);
        let name = bytes.get(data..data.checked_add(name_len)?)?.to_vec();
        data += name_len + 1;
        let value = bytes.get(data..data.checked_add(value_len)?)?.to_vec();
        data += value_len + 1;
        pairs.push((name, value));
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_round_trip_in_the_abi_format() {
        let pairs: Pairs = vec![
            (b":path".to_vec(), b"/".to_vec()),
            (b"x-empty".to_vec(), Vec::new()),
        ];
        let encoded = encode_pairs(pairs.iter().map(|(n, v)| (&n[..], &v[..])));
        assert_eq!(&encoded[..4], &2u32.to_le_bytes());
        assert_eq!(decode_pairs(&encoded), Some(pairs));
        assert_eq!(decode_pairs(&[]), Some(Vec::new()));
    }

    #[test]
    fn malformed_maps_are_refused_not_read_past_their_end() {
        assert_eq!(decode_pairs(&[1, 0, 0, 0]), None);
        let mut lying = 1u32.to_le_bytes().to_vec();
        lying.extend_from_slice(&100u32.to_le_bytes());
        lying.extend_from_slice(&0u32.to_le_bytes());
        lying.extend_from_slice(b"ab\0\0");
        assert_eq!(decode_pairs(&lying), None);
        assert_eq!(decode_pairs(&u32::MAX.to_le_bytes()), None);
    }
}
