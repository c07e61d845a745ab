//! The hardened edge: what a connection and a request head must be before the pipeline sees
//! them.
//!
//! ```text
//! connection ─► HTTP/1.1 pipelining on (each pipelined request answered, in order)
//!            ─► head deadline: the request head must arrive whole within `head_timeout_ms`
//!               (both through hooks of the vendored pingora-proxy, set by the gateway)
//! request head (as pingora parsed it) ─► limits: target length (414), header count and
//!            bytes (431) ─► exactly one `Host` on HTTP/1.1 (400)
//!            ─► path normalised: unreserved escapes decoded, dot segments removed; encoded
//!               slashes, backslashes and NUL refused (400)
//! ```
//!
//! Pingora itself refuses what it cannot parse (malformed heads, duplicate or mismatched
//! `Content-Length`, `Transfer-Encoding` that is not chunked last, more than 256 header
//! fields or a head over 1 MiB); the gateway's `invalid_request_response` hook turns those
//! refusals into its JSON.

mod head;
pub mod path;

pub use head::{check_head, check_limits, HeadRefusal};

/// Hop-by-hop headers: they describe one connection, so they are never forwarded by the
/// buffered exchange nor replayed from the response cache.
pub const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];
