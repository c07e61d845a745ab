//! `[server.limits]`: what a request head may be, with AWS-like defaults. Pingora refuses heads
//! over 1 MiB or with more than 256 header fields on its own, so the limits stay below those.
//!
//! ```toml
//! [server.limits]
//! max_uri_bytes = 8192          # request target (path and query): 414 above
//! max_header_bytes = 10240      # request line and header fields: 431 above (AWS: 10 KB)
//! max_headers = 100             # header fields: 431 above
//! head_timeout_ms = 10000       # a request head (or the next one on a kept-alive connection)
//!                               # must arrive whole within this; the connection is closed
//! ```

use std::time::Duration;

use serde::Deserialize;

/// Pingora's own cap on header fields.
const PINGORA_MAX_HEADERS: usize = 256;
/// Pingora's own cap on a request head, in bytes.
const PINGORA_MAX_HEAD_BYTES: usize = 1024 * 1024 - 1;

/// The validated limits on a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RequestLimitsFile")]
pub struct RequestLimits {
    /// Longest request target, in bytes.
    pub max_uri_bytes: usize,
    /// Largest request line plus header fields (`name: value\r\n` each), in bytes.
    pub max_header_bytes: usize,
    /// Most header fields.
    pub max_headers: usize,
    /// Deadline for a whole request head.
    pub head_timeout: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_uri_bytes: 8192,
            max_header_bytes: 10240,
            max_headers: 100,
            head_timeout: Duration::from_secs(10),
        }
    }
}

/// `[server.limits]` as written; every key optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestLimitsFile {
    max_uri_bytes: Option<usize>,
    max_header_bytes: Option<usize>,
    max_headers: Option<usize>,
    head_timeout_ms: Option<u64>,
}

impl TryFrom<RequestLimitsFile> for RequestLimits {
    type Error = String;

    fn try_from(file: RequestLimitsFile) -> Result<Self, String> {
        let defaults = Self::default();
        let limits = Self {
            max_uri_bytes: file.max_uri_bytes.unwrap_or(defaults.max_uri_bytes),
            max_header_bytes: file.max_header_bytes.unwrap_or(defaults.max_header_bytes),
            max_headers: file.max_headers.unwrap_or(defaults.max_headers),
            head_timeout: file
                .head_timeout_ms
                .map_or(defaults.head_timeout, Duration::from_millis),
        };
        if !(256..=PINGORA_MAX_HEAD_BYTES).contains(&limits.max_header_bytes) {
            return Err(format!(
                "`max_header_bytes` is from 256 to {PINGORA_MAX_HEAD_BYTES} (got {})",
                limits.max_header_bytes
            ));
        }
        if !(16..=limits.max_header_bytes).contains(&limits.max_uri_bytes) {
            return Err(format!(
                "`max_uri_bytes` is from 16 to `max_header_bytes` ({}) (got {})",
                limits.max_header_bytes, limits.max_uri_bytes
            ));
        }
        if !(1..=PINGORA_MAX_HEADERS).contains(&limits.max_headers) {
            return Err(format!(
                "`max_headers` is from 1 to {PINGORA_MAX_HEADERS} (got {})",
                limits.max_headers
            ));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(600)).contains(&limits.head_timeout) {
            return Err(format!(
                "`head_timeout_ms` is from 100 to 600000 (got {})",
                limits.head_timeout.as_millis()
            ));
        }
        Ok(limits)
    }
}
