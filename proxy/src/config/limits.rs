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

/// A `[server.limits]` value outside its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` is from {low} to {high} (got {got})")]
pub struct OutOfRange {
    key: &'static str,
    low: u128,
    high: String,
    got: u128,
}

fn within(key: &'static str, low: u128, high: u128, got: u128) -> Result<(), OutOfRange> {
    within_named(key, low, (high, high.to_string()), got)
}

fn within_named(
    key: &'static str,
    low: u128,
    (high, shown): (u128, String),
    got: u128,
) -> Result<(), OutOfRange> {
    if (low..=high).contains(&got) {
        Ok(())
    } else {
        Err(OutOfRange {
            key,
            low,
            high: shown,
            got,
        })
    }
}

impl TryFrom<RequestLimitsFile> for RequestLimits {
    type Error = OutOfRange;

    fn try_from(file: RequestLimitsFile) -> Result<Self, OutOfRange> {
        let defaults = Self::default();
        let limits = Self {
            max_uri_bytes: file.max_uri_bytes.unwrap_or(defaults.max_uri_bytes),
            max_header_bytes: file.max_header_bytes.unwrap_or(defaults.max_header_bytes),
            max_headers: file.max_headers.unwrap_or(defaults.max_headers),
            head_timeout: file
                .head_timeout_ms
                .map_or(defaults.head_timeout, Duration::from_millis),
        };
        let header_bytes = limits.max_header_bytes as u128;
        within(
            "max_header_bytes",
            256,
            PINGORA_MAX_HEAD_BYTES as u128,
            header_bytes,
        )?;
        within_named(
            "max_uri_bytes",
            16,
            (header_bytes, format!("`max_header_bytes` ({header_bytes})")),
            limits.max_uri_bytes as u128,
        )?;
        within(
            "max_headers",
            1,
            PINGORA_MAX_HEADERS as u128,
            limits.max_headers as u128,
        )?;
        within(
            "head_timeout_ms",
            100,
            600_000,
            limits.head_timeout.as_millis(),
        )?;
        Ok(limits)
    }
}
