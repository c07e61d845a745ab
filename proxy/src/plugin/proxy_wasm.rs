//! proxy-wasm filters (ABI 0.2.x, the ABI of Envoy, Istio and APISIX filters) in a route's
//! chain, in the same sandbox as component plugins: the same engine, memory cap, deadline
//! (every 250 µs the filter yields to the worker's other requests), failure modes and output
//! bounds. A filter joins the chain as a request and response transformer: its request
//! callbacks (`proxy_on_request_headers`, then `proxy_on_request_body` with the whole body
//! when the route buffers it) run where request transformers run, its response callbacks where
//! response transformers run, and `proxy_on_log`/`proxy_on_done`/`proxy_on_delete` when the
//! request ends — all on one instance and one stream context per request. What the callbacks
//! leave in the header maps and bodies becomes the changes of a transformer's answer, checked
//! against the same bounds; a local response answers the request.
//!
//! Instances are kept warm by default (`isolation = "reuse"`, as a filter's root context
//! expects to live); each has its root context started and configured. Ticks and queue
//! notifications go to one root instance per filter, run on a thread of its own.

mod abi;
mod imports;
mod instance;
mod memory;
mod properties;
mod shared;
mod state;
mod wasi;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use wasmtime::{InstancePre, Module};

use self::abi::Pairs;
use self::instance::{Hook, Live};
use self::state::{FilterShared, LocalResponse};
use super::bindings::types::{Header, Response};
use super::context::RequestContext;
use super::engine::{runtime, Ticking};
use super::heads::{Headers, RequestView};
use super::load_error::LoadError;
use super::output::{self, MAX_BODY};
use super::pool::WarmPool;
use super::{Fault, Phase, Plugin, RequestAction, RequestChanges, ResponseChanges};
use crate::config::PluginFile;

/// How long the root instance may take to start (once per load).
const START_DEADLINE: Duration = Duration::from_secs(5);

/// A loaded proxy-wasm filter.
pub struct Filter {
    shared: Arc<FilterShared>,
    pre: InstancePre<FilterHost>,
    warm: WarmPool<Live>,
    /// Ends the root instance's thread when the filter is dropped (a reload).
    _alive: Arc<()>,
}

pub use self::state::FilterHost;

/// Whether `bytes` is a core WebAssembly module (a proxy-wasm filter) rather than a component.
pub fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

/// Compile and link the filter declared as `name` by `file`, start its root instance (a
/// config error when its VM start or configuration fails), and keep that instance ticking if
/// it asked for ticks or registered queues.
pub fn load(
    name: &str,
    file: &PluginFile,
    path: &std::path::Path,
    bytes: &[u8],
) -> Result<Filter, LoadError> {
    let runtime = runtime()?;
    let module = Module::new(&runtime.engine, bytes).map_err(|error| LoadError::Link {
        path: path.to_path_buf(),
        error,
    })?;
    let exports: Vec<&str> = module.exports().map(|e| e.name()).collect();
    if !exports
        .iter()
        .any(|e| e.starts_with("proxy_abi_version_0_2_"))
    {
        return Err(LoadError::NotProxyWasm(path.to_path_buf()));
    }
    let mut linker = imports::linker(&runtime.engine).map_err(|e| {
        LoadError::Runtime(super::RuntimeError::new(
            "cannot link the proxy-wasm ABI",
            e,
        ))
    })?;
    imports::stub_unknown(&mut linker, &module);
    let pre = linker
        .instantiate_pre(&module)
        .map_err(|error| LoadError::Link {
            path: path.to_path_buf(),
            error,
        })?;
    let mut upstreams: HashMap<String, String> = file.upstreams.clone();
    upstreams.retain(|_, target| !target.is_empty());
    let mut allowed_hosts = file.allowed_hosts.clone();
    allowed_hosts.extend(upstreams.values().cloned());
    let vm_id = file.vm_id.clone().unwrap_or_else(|| name.to_string());
    let shared = Arc::new(FilterShared {
        name: name.to_string(),
        root_id: file.root_id.clone().unwrap_or_default(),
        vm: shared::vm(&vm_id),
        vm_id,
        configuration: configuration(file),
        vm_configuration: file
            .vm_configuration
            .clone()
            .unwrap_or_default()
            .into_bytes(),
        upstreams,
        allowed_hosts,
        memory_bytes: (file.memory_mb as usize) << 20,
        metrics: Default::default(),
    });
    let alive = Arc::new(());
    start_root(&pre, &shared, Arc::downgrade(&alive))?;
    Ok(Filter {
        shared,
        pre,
        warm: WarmPool::default(),
        _alive: alive,
    })
}

/// What `proxy_on_configure` reads: `configuration` as written, else the `config` table as
/// JSON (nothing when it is empty).
fn configuration(file: &PluginFile) -> Vec<u8> {
    match &file.configuration {
        Some(text) => text.clone().into_bytes(),
        None if file.config.is_empty() => Vec::new(),
        None => serde_json::Value::Object(file.config.clone())
            .to_string()
            .into_bytes(),
    }
}

/// Start the root instance on a thread of its own (loading runs outside the proxy's runtime):
/// an error starting it is the filter's config error. If it asked for ticks or registered a
/// queue, the thread keeps it, ticking and delivering queue items, until `alive` is gone.
fn start_root(
    pre: &InstancePre<FilterHost>,
    shared: &Arc<FilterShared>,
    alive: Weak<()>,
) -> Result<(), LoadError> {
    let (pre, shared) = (pre.clone(), shared.clone());
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let name = shared.name.clone();
    std::thread::Builder::new()
        .name(format!("filter-{name}"))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = started_tx.send(Err(LoadError::InitRuntime(e)));
                    return;
                }
            };
            runtime.block_on(async move {
                let (queue_tx, queue_rx) = tokio::sync::mpsc::unbounded_channel();
                let started = {
                    let _ticking = Ticking::start();
                    Live::start(&pre, shared, START_DEADLINE, Some(queue_tx)).await
                };
                let mut live = match started {
                    Ok(live) => live,
                    Err(fault) => {
                        let _ = started_tx.send(Err(LoadError::Rejected(format!(
                            "the filter did not start: {fault}"
                        ))));
                        return;
                    }
                };
                let _ = started_tx.send(Ok(()));
                run_root(&mut live, queue_rx, alive).await;
            });
        })
        .map_err(LoadError::InitRuntime)?;
    started_rx.recv().unwrap_or(Err(LoadError::InitPanicked))
}

/// Tick the root instance at the period it asked for and tell it of queue items, until the
/// filter is dropped or the instance faults.
async fn run_root(
    live: &mut Live,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<u32>,
    alive: Weak<()>,
) {
    let name = live.host().shared.name.clone();
    const IDLE: Duration = Duration::from_secs(1);
    while alive.strong_count() > 0 {
        let period = live.host().tick_period;
        let result = tokio::select! {
            _ = tokio::time::sleep(period.unwrap_or(IDLE)) => match period {
                Some(_) => {
                    let _ticking = Ticking::start();
                    live.arm(Instant::now());
                    live.tick().await
                }
                None => Ok(()),
            },
            Some(id) = queue.recv() => {
                let _ticking = Ticking::start();
                live.arm(Instant::now());
                live.queue_ready(id).await
            }
        };
        if let Err(fault) = result {
            log::warn!(
                "filter `{name}`: its root context faulted ({fault}); it gets no more ticks"
            );
            return;
        }
    }
}

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

/// The request head as a filter sees it: the pseudo-headers first, then the headers (`host`
/// is `:authority`).
fn request_pairs(view: &RequestView) -> Pairs {
    let target = match &view.query {
        Some(query) => format!("{}?{query}", view.path),
        None => view.path.clone(),
    };
    let authority = view
        .headers
        .iter()
        .find(|(n, _)| n == http::header::HOST)
        .map_or_else(Vec::new, |(_, v)| v.as_bytes().to_vec());
    let mut pairs = vec![
        (b":authority".to_vec(), authority),
        (b":path".to_vec(), target.into_bytes()),
        (
            b":method".to_vec(),
            view.method.as_str().as_bytes().to_vec(),
        ),
        (b":scheme".to_vec(), b"http".to_vec()),
    ];
    pairs.extend(
        view.headers
            .iter()
            .filter(|(n, _)| n != http::header::HOST)
            .map(|(n, v)| (n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec())),
    );
    pairs
}

fn text(bytes: &[u8], what: &str) -> Result<String, Fault> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Fault::Invalid(format!("a {what} that is not UTF-8")))
}

/// The header changes from `before` to `after` as a transformer's answer: each header whose
/// values changed is set to its new values (or removed). Pseudo-headers are left to the caller;
/// framing headers (`content-length`, `transfer-encoding`, ...) are the gateway's and a
/// filter's changes to them are ignored, as it frames the message itself.
fn header_changes(before: &Pairs, after: &Pairs) -> Result<(Vec<Header>, Vec<String>), Fault> {
    let values = |pairs: &Pairs, name: &[u8]| -> Vec<Vec<u8>> {
        pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut names: Vec<&[u8]> = Vec::new();
    for (name, _) in after.iter().chain(before) {
        if !name.starts_with(b":") && !names.contains(&&name[..]) {
            names.push(name);
        }
    }
    let (mut set, mut removed) = (Vec::new(), Vec::new());
    for name in names {
        let new = values(after, name);
        if new == values(before, name) || output::gateway_owned(&String::from_utf8_lossy(name)) {
            continue;
        }
        let name = text(name, "header name")?;
        if new.is_empty() {
            removed.push(name);
            continue;
        }
        for value in new {
            set.push(Header {
                name: name.clone(),
                value: text(&value, "header value")?,
            });
        }
    }
    Ok((set, removed))
}

/// A local response as a plugin's response, checked; like Envoy's local replies, a body
/// without a `content-type` is `text/plain`.
fn local_response(local: LocalResponse) -> Result<Response, Fault> {
    let status = u16::try_from(local.status)
        .map_err(|_| Fault::Invalid(format!("status {}", local.status)))?;
    let mut headers: Vec<Header> = local
        .headers
        .iter()
        .filter(|(n, _)| !output::gateway_owned(&String::from_utf8_lossy(n)))
        .map(|(n, v)| {
            Ok(Header {
                name: text(n, "header name")?,
                value: text(v, "header value")?,
            })
        })
        .collect::<Result<_, Fault>>()?;
    if !local.body.is_empty() && !headers.iter().any(|h| h.name == "content-type") {
        headers.push(Header {
            name: "content-type".into(),
            value: "text/plain".into(),
        });
    }
    let response = Response {
        status,
        headers,
        body: local.body,
    };
    output::check_response(&response)?;
    Ok(response)
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
            let before = request_pairs(request);
            let body = body.filter(|_| self.needs_request_body);
            let exchange = &mut live.host().exchange;
            exchange.request_headers = Some(before.clone());
            exchange.request_body = body.map(<[u8]>::to_vec);
            exchange.context = Some(ctx.clone());
            let action = run_hooks(
                &mut live,
                context,
                Hook::RequestHeaders,
                before.len(),
                body,
                has_body(request),
                abi::STREAM_REQUEST,
            )
            .await;
            let action = action.and_then(|outcome| match outcome {
                Some(local) => local_response(local).map(RequestAction::Respond),
                None => request_changes(&mut live, &before).map(RequestAction::Continue),
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
        let mut before = vec![(b":status".to_vec(), status.to_string().into_bytes())];
        before.extend(
            headers
                .iter()
                .map(|(n, v)| (n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec())),
        );
        let body = body.filter(|_| self.needs_response_body);
        let exchange = &mut stream.live.host().exchange;
        exchange.response_headers = Some(before.clone());
        exchange.response_body = body.map(<[u8]>::to_vec);
        let outcome = run_hooks(
            &mut stream.live,
            stream.context,
            Hook::ResponseHeaders,
            before.len(),
            body,
            true,
            abi::STREAM_RESPONSE,
        )
        .await;
        let result = outcome.and_then(|outcome| match outcome {
            Some(local) => {
                let response = local_response(local)?;
                let (set_headers, removed) = header_changes(&before, &pairs_of(&response.headers))?;
                Ok(ResponseChanges {
                    status: Some(response.status),
                    set_headers,
                    remove_headers: removed,
                    body: Some(response.body),
                })
            }
            None => response_changes(&mut stream.live, &before, status),
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

/// What the request callbacks changed, as request-transformer changes.
fn request_changes(live: &mut Live, before: &Pairs) -> Result<RequestChanges, Fault> {
    let exchange = &mut live.host().exchange;
    let after = exchange.request_headers.take().unwrap_or_default();
    let (mut set_headers, remove_headers) = header_changes(before, &after)?;
    let pseudo = |pairs: &Pairs, name: &[u8]| state::value_of(pairs, name).map(<[u8]>::to_vec);
    let changed = |name: &[u8]| {
        let new = pseudo(&after, name);
        (new != pseudo(before, name)).then_some(new).flatten()
    };
    let method = changed(b":method")
        .map(|m| text(&m, "method"))
        .transpose()?;
    let (mut path, mut query) = (None, None);
    if let Some(target) = changed(b":path") {
        let target = text(&target, "path")?;
        let (p, q) = target.split_once('?').unwrap_or((&target, ""));
        path = Some(p.to_string());
        query = Some(q.to_string());
    }
    if let Some(authority) = changed(b":authority") {
        set_headers.push(Header {
            name: "host".into(),
            value: text(&authority, "authority")?,
        });
    }
    let body = exchange
        .request_body_changed
        .then(|| exchange.request_body.take())
        .flatten();
    Ok(RequestChanges {
        method,
        path,
        query,
        set_headers,
        remove_headers,
        body,
    })
}

/// What the response callbacks changed, as response-transformer changes.
fn response_changes(
    live: &mut Live,
    before: &Pairs,
    status: u16,
) -> Result<ResponseChanges, Fault> {
    let exchange = &mut live.host().exchange;
    let after = exchange.response_headers.take().unwrap_or_default();
    let (set_headers, remove_headers) = header_changes(before, &after)?;
    let new_status = match state::value_of(&after, b":status") {
        Some(value) => {
            let value: u16 = text(value, "status")?
                .parse()
                .map_err(|_| Fault::Invalid("a status that is not a number".into()))?;
            (value != status).then_some(value)
        }
        None => None,
    };
    let body = exchange
        .response_body_changed
        .then(|| exchange.response_body.take())
        .flatten();
    if body.as_ref().is_some_and(|b| b.len() > MAX_BODY) {
        return Err(Fault::Invalid("a body over 10 MiB".into()));
    }
    Ok(ResponseChanges {
        status: new_status,
        set_headers,
        remove_headers,
        body,
    })
}
