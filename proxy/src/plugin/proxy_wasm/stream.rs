//! One request's streams through proxy-wasm filters: the request side opens a stream (an
//! instance and a stream context) and runs the request callbacks, the response side runs the
//! response callbacks on the same stream, and the end of the request runs `proxy_on_log`,
//! `proxy_on_done` and `proxy_on_delete` and gives the instance back.

use std::sync::Arc;
use std::time::Instant;

use super::abi::{self, Pairs};
use super::changes::{
    header_changes, local_response, request_changes, request_pairs, response_changes,
    response_pairs,
};
use super::instance::{Hook, Live};
use super::state::LocalResponse;
use super::Filter;
use crate::plugin::bindings::types::Header;
use crate::plugin::context::RequestContext;
use crate::plugin::heads::{Headers, RequestView};
use crate::plugin::output;
use crate::plugin::ticker::Ticking;
use crate::plugin::{Fault, Phase, Plugin, RequestAction, ResponseChanges};

/// The streams of one request: the instance and stream context of each filter whose request
/// phase ran, until the request ends.
#[derive(Default)]
pub struct Streams(Vec<(Arc<Plugin>, Stream)>);

/// One filter's stream: its instance, its context id.
pub struct Stream {
    live: Live,
    context: u32,
}

impl Streams {
    /// Whether no filter has a stream.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn take(&mut self, plugin: &Arc<Plugin>) -> Option<Stream> {
        let at = self.0.iter().position(|(p, _)| Arc::ptr_eq(p, plugin))?;
        Some(self.0.swap_remove(at).1)
    }

    /// End every stream (`proxy_on_log`, `proxy_on_done`, `proxy_on_delete`), giving healthy
    /// warm instances back.
    pub async fn end(&mut self) {
        for (plugin, mut stream) in self.0.drain(..) {
            let Some(filter) = plugin.filter() else {
                continue;
            };
            let _ticking = Ticking::start();
            stream.live.arm(Instant::now());
            match stream.live.end(stream.context).await {
                Ok(()) if plugin.settings.isolation.reuses() => {
                    stream.live.host().exchange = Default::default();
                    filter.warm.give_back(stream.live);
                }
                Ok(()) => {}
                Err(fault) => log::warn!("filter `{}` on_log/on_done: {fault}", plugin.name),
            }
        }
    }
}

impl Plugin {
    /// A started instance: a warm one, or a new one started within the deadline.
    async fn filter_instance(&self, filter: &Filter, started: Instant) -> Result<Live, Fault> {
        if self.settings.isolation.reuses() {
            if let Some(mut live) = filter.warm.take() {
                live.arm(started);
                return Ok(live);
            }
        }
        let left = (started + self.settings.timeout).saturating_duration_since(Instant::now());
        let mut live = Live::start(&filter.pre, filter.shared.clone(), left, None).await?;
        live.arm(started);
        Ok(live)
    }

    /// The request side of proxy-wasm filter `self`: a new stream on an instance, its request
    /// callbacks run on `request` (and `body`, when the route buffers it), and their outcome as
    /// a request transformer's action. The stream is kept in `streams` for the response.
    pub async fn filter_request(
        self: &Arc<Self>,
        request: &RequestView,
        body: Option<&[u8]>,
        ctx: &Arc<RequestContext>,
        streams: &mut Streams,
    ) -> Result<RequestAction, Fault> {
        let Some(filter) = self.filter() else {
            return Err(Fault::Trap("not a proxy-wasm filter".into()));
        };
        let _ticking = Ticking::start();
        let started = Instant::now();
        let result = async {
            let mut live = self.filter_instance(filter, started).await?;
            let context = live.new_context().await?;
            let pairs = request_pairs(request, ctx.scheme);
            let count = pairs.len();
            let body = body.filter(|_| self.needs_request_body);
            let exchange = &mut live.host().exchange;
            exchange.request_headers = Some(pairs);
            exchange.request_body = body.map(<[u8]>::to_vec);
            exchange.context = Some(ctx.clone());
            let action = run_hooks(
                &mut live,
                context,
                Hook::RequestHeaders,
                count,
                body,
                has_body(request),
                abi::STREAM_REQUEST,
            )
            .await;
            let action = action.and_then(|outcome| match outcome {
                Some(local) => local_response(local).map(RequestAction::Respond),
                None => request_changes(&mut live, request).map(RequestAction::Continue),
            });
            action.and_then(|action| {
                output::check_request_action(&action).map(|()| (action, Stream { live, context }))
            })
        }
        .await;
        self.count_call(
            Phase::RequestTransformer,
            started,
            result.as_ref().map(|_| ()),
        );
        let (action, stream) = result?;
        streams.0.push((self.clone(), stream));
        Ok(action)
    }

    /// The response side of filter `self` on the stream its request side opened (`None` when
    /// it has none: an earlier step answered): its response callbacks run on `status` and
    /// `headers` (and `body`, when the route buffers it), and their outcome as a response
    /// transformer's changes.
    pub async fn filter_response(
        self: &Arc<Self>,
        status: u16,
        headers: &Headers,
        body: Option<&[u8]>,
        streams: &mut Streams,
    ) -> Option<Result<ResponseChanges, Fault>> {
        let mut stream = streams.take(self)?;
        let _ticking = Ticking::start();
        let started = Instant::now();
        stream.live.arm(started);
        let pairs = response_pairs(status, headers);
        let count = pairs.len();
        let body = body.filter(|_| self.needs_response_body);
        let exchange = &mut stream.live.host().exchange;
        exchange.response_headers = Some(pairs);
        exchange.response_body = body.map(<[u8]>::to_vec);
        let outcome = run_hooks(
            &mut stream.live,
            stream.context,
            Hook::ResponseHeaders,
            count,
            body,
            true,
            abi::STREAM_RESPONSE,
        )
        .await;
        let result = outcome.and_then(|outcome| match outcome {
            Some(local) => {
                let response = local_response(local)?;
                let before = response_pairs(status, headers);
                let (set_headers, removed) = header_changes(&before, &pairs_of(&response.headers))?;
                Ok(ResponseChanges {
                    status: Some(response.status),
                    set_headers,
                    remove_headers: removed,
                    body: Some(response.body),
                })
            }
            None => response_changes(&mut stream.live, status, headers),
        });
        let result =
            result.and_then(|changes| output::check_response_changes(&changes).map(|()| changes));
        self.count_call(
            Phase::ResponseTransformer,
            started,
            result.as_ref().map(|_| ()),
        );
        if result.is_ok() {
            streams.0.push((self.clone(), stream));
        }
        Some(result)
    }
}

fn pairs_of(headers: &[Header]) -> Pairs {
    headers
        .iter()
        .map(|h| (h.name.as_bytes().to_vec(), h.value.as_bytes().to_vec()))
        .collect()
}

/// Whether a request without a buffered body has one coming (its framing says so).
fn has_body(request: &RequestView) -> bool {
    request.headers.iter().any(|(n, v)| {
        n == http::header::TRANSFER_ENCODING
            || (n == http::header::CONTENT_LENGTH && v.as_bytes() != b"0")
    })
}

/// Run a side's header callback, then its body callback when the body is there; `Some` local
/// response if one was sent. A stream paused with nothing to resume it is a fault (under Envoy
/// it would hang until the stream's timeout).
async fn run_hooks(
    live: &mut Live,
    context: u32,
    headers_hook: Hook,
    header_count: usize,
    body: Option<&[u8]>,
    body_expected: bool,
    side: u32,
) -> Result<Option<LocalResponse>, Fault> {
    let end_at_headers = body.map_or(!body_expected, <[u8]>::is_empty);
    let mut paused = live
        .hook(headers_hook, context, header_count, end_at_headers)
        .await?;
    if let Some(local) = stopped(live)? {
        return Ok(Some(local));
    }
    if let (Some(body), false) = (body, end_at_headers) {
        let body_hook = match headers_hook {
            Hook::RequestHeaders => Hook::RequestBody,
            _ => Hook::ResponseBody,
        };
        paused = live.hook(body_hook, context, body.len(), true).await?;
        if let Some(local) = stopped(live)? {
            return Ok(Some(local));
        }
    }
    if paused && !live.host().exchange.resumed[side as usize] {
        return Err(Fault::Invalid(
            "paused the stream and never resumed it".into(),
        ));
    }
    Ok(None)
}

/// The local response a callback sent, if any; a closed stream is a fault.
fn stopped(live: &mut Live) -> Result<Option<LocalResponse>, Fault> {
    let exchange = &mut live.host().exchange;
    if exchange.closed {
        return Err(Fault::Invalid("closed the stream".into()));
    }
    Ok(exchange.local_response.take())
}
