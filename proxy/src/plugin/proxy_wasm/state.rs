//! The host side of one proxy-wasm instance: what all instances of a filter share (its
//! configuration, upstreams, VM data and metrics), and the store data of one instance — the
//! exchange its callbacks act on (header maps, bodies, a local response, `proxy_http_call`s
//! to make), bounded as every plugin answer is.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use wasmtime::{Memory, StoreLimits, TypedFunc};

use super::abi::{BufferType, MapType, Pairs, Status};
use super::shared::{Metrics, Vm};
use crate::plugin::context::RequestContext;
use crate::plugin::engine::{memory_limits, Sandboxed};
use crate::plugin::output::{MAX_BODY, MAX_TOTAL_HEADERS, MAX_TOTAL_HEADER_BYTES};

/// Most `proxy_http_call`s one callback may start.
pub const MAX_CALLS_PER_CALLBACK: usize = 16;

/// What every instance of one filter shares.
pub struct FilterShared {
    /// The filter's name in the config.
    pub name: String,
    /// The root id the filter is configured with (`plugin_root_id`).
    pub root_id: String,
    /// The VM id, which scopes shared data and queues.
    pub vm_id: String,
    /// What `proxy_on_configure` reads.
    pub configuration: Vec<u8>,
    /// What `proxy_on_vm_start` reads.
    pub vm_configuration: Vec<u8>,
    /// `proxy_http_call` upstream names and the `host:port` each stands for.
    pub upstreams: HashMap<String, String>,
    /// Every `host:port` the filter may call: the allow-list and the upstreams.
    pub allowed_hosts: Vec<String>,
    /// The memory cap of each instance, in bytes.
    pub memory_bytes: usize,
    /// The VM's shared data and queues.
    pub vm: Arc<Vm>,
    /// The metrics the filter defined.
    pub metrics: Metrics,
}

/// A `proxy_http_call` to make once the callback that started it returns.
pub struct PendingCall {
    /// The token the filter was given.
    pub token: u32,
    /// The `host:port` to send it to.
    pub host: String,
    /// The request: method, path, headers and body.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers other than the pseudo-headers.
    pub headers: Pairs,
    /// Body.
    pub body: Vec<u8>,
    /// Its own timeout.
    pub timeout: Duration,
}

/// A response a filter sent with `proxy_send_local_response`.
#[derive(Debug, Clone)]
pub struct LocalResponse {
    /// Status code.
    pub status: u32,
    /// Headers.
    pub headers: Pairs,
    /// Body.
    pub body: Vec<u8>,
}

/// The response to a `proxy_http_call`, readable during `proxy_on_http_call_response`.
#[derive(Default)]
pub struct CallResponse {
    /// Headers, with `:status`.
    pub headers: Pairs,
    /// Body.
    pub body: Vec<u8>,
}

/// What the callbacks of one HTTP stream (or the root context) act on.
#[derive(Default)]
pub struct Exchange {
    /// The request's headers, once the request phase started.
    pub request_headers: Option<Pairs>,
    /// The request body, when the filter gets it.
    pub request_body: Option<Vec<u8>>,
    /// Whether a callback changed the request body.
    pub request_body_changed: bool,
    /// Whether a callback changed the request's headers.
    pub request_headers_changed: bool,
    /// The response's headers, once the response phase started.
    pub response_headers: Option<Pairs>,
    /// Whether a callback changed the response's headers.
    pub response_headers_changed: bool,
    /// The response body, when the filter gets it.
    pub response_body: Option<Vec<u8>>,
    /// Whether a callback changed the response body.
    pub response_body_changed: bool,
    /// Trailers (HTTP/1.1 requests through wasmgate carry none the filter may see).
    pub trailers: Pairs,
    /// The response of the `proxy_http_call` being delivered.
    pub call_response: Option<CallResponse>,
    /// The local response a callback sent.
    pub local_response: Option<LocalResponse>,
    /// Calls to make after the callback.
    pub pending_calls: Vec<PendingCall>,
    /// `proxy_continue_stream` was called for the request (0) or the response (1).
    pub resumed: [bool; 2],
    /// `proxy_close_stream` was called.
    pub closed: bool,
    /// Properties the filter set on this stream.
    pub properties: HashMap<Vec<u8>, Vec<u8>>,
    /// What the gateway knows of the request.
    pub context: Option<Arc<RequestContext>>,
}

/// The data of one instance's store.
pub struct FilterHost {
    /// What all instances of the filter share.
    pub shared: Arc<FilterShared>,
    /// The memory cap.
    pub limits: StoreLimits,
    /// When the current callback must end.
    pub deadline: Instant,
    /// The instance's exported memory.
    pub memory: Option<Memory>,
    /// Its `proxy_on_memory_allocate` (or `malloc`).
    pub allocate: Option<TypedFunc<u32, u32>>,
    /// The exchange the callbacks act on.
    pub exchange: Exchange,
    /// The next `proxy_http_call` token.
    pub next_token: u32,
    /// The tick period the filter asked for (honoured on the root instance).
    pub tick_period: Option<Duration>,
    /// Where the root instance hears of items in the queues it registered.
    pub queue_listener: Option<UnboundedSender<u32>>,
    /// Whether the instance registered a queue.
    pub registered_queue: bool,
}

impl FilterHost {
    /// A fresh instance's data, for a callback ending at `deadline`.
    pub fn new(shared: Arc<FilterShared>, deadline: Instant) -> Self {
        Self {
            limits: memory_limits(shared.memory_bytes),
            shared,
            deadline,
            memory: None,
            allocate: None,
            exchange: Exchange::default(),
            next_token: 1,
            tick_period: None,
            queue_listener: None,
            registered_queue: false,
        }
    }

    /// The header map `map`, if the current callback has it.
    pub fn map(&self, map: MapType) -> Option<&Pairs> {
        let exchange = &self.exchange;
        match map {
            MapType::RequestHeaders => exchange.request_headers.as_ref(),
            MapType::ResponseHeaders => exchange.response_headers.as_ref(),
            MapType::RequestTrailers | MapType::ResponseTrailers => Some(&exchange.trailers),
            MapType::CallResponseHeaders => exchange.call_response.as_ref().map(|r| &r.headers),
            MapType::CallResponseTrailers => {
                exchange.call_response.as_ref().map(|_| &exchange.trailers)
            }
        }
    }

    /// Change the header map `map` with `change`, which grows it by at most `growth`, if the
    /// current callback has the map and it stays within the bounds of a whole message's
    /// headers (checked before the change, without copying the map).
    pub fn change_map(
        &mut self,
        map: MapType,
        growth: Growth,
        change: impl FnOnce(&mut Pairs),
    ) -> Status {
        let exchange = &mut self.exchange;
        let (pairs, flag) = match map {
            // The request went upstream: as in Envoy, its headers can no longer change.
            MapType::RequestHeaders if exchange.response_headers.is_some() => {
                return Status::BadArgument
            }
            MapType::RequestHeaders => (
                exchange.request_headers.as_mut(),
                &mut exchange.request_headers_changed,
            ),
            MapType::ResponseHeaders => (
                exchange.response_headers.as_mut(),
                &mut exchange.response_headers_changed,
            ),
            _ => return Status::BadArgument,
        };
        let Some(pairs) = pairs else {
            return Status::NotFound;
        };
        let (count, bytes) = match growth {
            Growth::Adds(bytes) => (pairs.len() + 1, pair_bytes(pairs) + bytes),
            Growth::Shrinks => (0, 0),
            Growth::Becomes(count, bytes) => (count, bytes),
        };
        if count > MAX_TOTAL_HEADERS || bytes > MAX_TOTAL_HEADER_BYTES {
            return Status::BadArgument;
        }
        change(pairs);
        *flag = true;
        Status::Ok
    }

    /// The buffer `buffer`, if the current callback has it.
    pub fn buffer(&self, buffer: BufferType) -> Option<&[u8]> {
        let exchange = &self.exchange;
        match buffer {
            BufferType::RequestBody => exchange.request_body.as_deref(),
            BufferType::ResponseBody => exchange.response_body.as_deref(),
            BufferType::CallResponseBody => exchange.call_response.as_ref().map(|r| &r.body[..]),
            BufferType::VmConfiguration => Some(&self.shared.vm_configuration),
            BufferType::PluginConfiguration => Some(&self.shared.configuration),
        }
    }

    /// Replace `size` bytes from `start` of a body with `data`, keeping it within
    /// [`MAX_BODY`].
    pub fn splice_body(
        &mut self,
        buffer: BufferType,
        start: usize,
        size: usize,
        data: &[u8],
    ) -> Status {
        let exchange = &mut self.exchange;
        let (body, changed) = match buffer {
            BufferType::RequestBody => (
                &mut exchange.request_body,
                &mut exchange.request_body_changed,
            ),
            BufferType::ResponseBody => (
                &mut exchange.response_body,
                &mut exchange.response_body_changed,
            ),
            _ => return Status::BadArgument,
        };
        let Some(body) = body else {
            return Status::NotFound;
        };
        let start = start.min(body.len());
        let end = start.saturating_add(size).min(body.len());
        if body.len() - (end - start) + data.len() > MAX_BODY {
            return Status::BadArgument;
        }
        body.splice(start..end, data.iter().copied());
        *changed = true;
        Status::Ok
    }
}

/// How a change may grow a header map.
pub enum Growth {
    /// By one header of this many bytes (name and value) at most.
    Adds(usize),
    /// Not at all.
    Shrinks,
    /// To this many headers of this many bytes.
    Becomes(usize, usize),
}

/// The bytes of the names and values of `pairs`.
pub fn pair_bytes(pairs: &Pairs) -> usize {
    pairs.iter().map(|(n, v)| n.len() + v.len()).sum()
}

impl Sandboxed for FilterHost {
    fn limits(&mut self) -> &mut StoreLimits {
        &mut self.limits
    }

    fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// The first value of header `name` (any case) in `pairs`.
pub fn value_of<'a>(pairs: &'a Pairs, name: &[u8]) -> Option<&'a [u8]> {
    pairs
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| &v[..])
}

/// Set header `name` to `value` alone, where its first value was (or at the end).
pub fn replace(pairs: &mut Pairs, name: &[u8], value: &[u8]) {
    let name = name.to_ascii_lowercase();
    match pairs.iter().position(|(n, _)| *n == name) {
        Some(first) => {
            pairs[first].1 = value.to_vec();
            let mut i = 0;
            pairs.retain(|(n, _)| {
                i += 1;
                i - 1 == first || *n != name
            });
        }
        None => pairs.push((name, value.to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_a_header_keeps_its_place_and_drops_its_other_values() {
        let mut pairs: Pairs = [("a", "1"), ("b", "2"), ("a", "3")]
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        replace(&mut pairs, b"A", b"x");
        assert_eq!(
            pairs,
            vec![
                (b"a".to_vec(), b"x".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ]
        );
        replace(&mut pairs, b"c", b"y");
        assert_eq!(value_of(&pairs, b"C"), Some(&b"y"[..]));
    }
}
