//! One proxy-wasm instance: created and started as Envoy starts a VM (`_initialize` or
//! `_start`, the root context, `proxy_on_vm_start`, `proxy_on_configure`), its callbacks called
//! under the filter's deadline (yielding to the worker's other requests every epoch tick, as
//! component plugins do), and the `proxy_http_call`s a callback starts made once it returns,
//! their responses delivered to `proxy_on_http_call_response`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use wasmtime::{Instance, InstancePre, Store, Trap, TypedFunc, WasmParams, WasmResults};

use super::state::{CallResponse, FilterHost, FilterShared};
use crate::plugin::bindings::wasmgate::plugin::http::OutgoingRequest;
use crate::plugin::bindings::wasmgate::plugin::types::Header;
use crate::plugin::engine::sandboxed_store;
use crate::plugin::{outbound, Fault};

/// The id of every instance's root context.
pub const ROOT_CONTEXT: u32 = 1;

type Callback1 = TypedFunc<u32, ()>;
type Callback2 = TypedFunc<(u32, u32), u32>;
type Callback3 = TypedFunc<(u32, u32, u32), u32>;
/// `proxy_on_http_call_response(context, token, headers, body size, trailers)`.
type CallResponseCallback = TypedFunc<(u32, u32, u32, u32, u32), ()>;

/// The callbacks of an instance (those an SDK may leave out are optional).
struct Exports {
    on_context_create: TypedFunc<(u32, u32), ()>,
    on_vm_start: Option<Callback2>,
    on_configure: Option<Callback2>,
    on_request_headers: Option<Callback3>,
    on_request_body: Option<Callback3>,
    on_response_headers: Option<Callback3>,
    on_response_body: Option<Callback3>,
    on_log: Option<Callback1>,
    on_done: Option<TypedFunc<u32, u32>>,
    on_delete: Option<Callback1>,
    on_http_call_response: Option<CallResponseCallback>,
    on_tick: Option<Callback1>,
    on_queue_ready: Option<TypedFunc<(u32, u32), ()>>,
}

impl Exports {
    fn find(instance: &Instance, store: &mut Store<FilterHost>) -> Result<Self, Fault> {
        macro_rules! get {
            ($name:literal) => {
                instance.get_typed_func(&mut *store, $name).ok()
            };
        }
        Ok(Self {
            on_context_create: get!("proxy_on_context_create").ok_or_else(|| {
                Fault::Trap("exports no proxy_on_context_create(i32, i32)".into())
            })?,
            on_vm_start: get!("proxy_on_vm_start"),
            on_configure: get!("proxy_on_configure"),
            on_request_headers: get!("proxy_on_request_headers"),
            on_request_body: get!("proxy_on_request_body"),
            on_response_headers: get!("proxy_on_response_headers"),
            on_response_body: get!("proxy_on_response_body"),
            on_log: get!("proxy_on_log"),
            on_done: get!("proxy_on_done"),
            on_delete: get!("proxy_on_delete"),
            on_http_call_response: get!("proxy_on_http_call_response"),
            on_tick: get!("proxy_on_tick"),
            on_queue_ready: get!("proxy_on_queue_ready"),
        })
    }
}

/// The header and body callbacks of a stream.
#[derive(Debug, Clone, Copy)]
pub enum Hook {
    /// `proxy_on_request_headers`.
    RequestHeaders,
    /// `proxy_on_request_body`.
    RequestBody,
    /// `proxy_on_response_headers`.
    ResponseHeaders,
    /// `proxy_on_response_body`.
    ResponseBody,
}

/// A started instance.
pub struct Live {
    store: Store<FilterHost>,
    exports: Exports,
    next_context: u32,
    timeout: Duration,
}

/// A store for one instance of the filter behind `shared`, for a callback ending at `deadline`.
fn new_store(
    pre: &InstancePre<FilterHost>,
    shared: Arc<FilterShared>,
    deadline: Instant,
) -> Store<FilterHost> {
    sandboxed_store(pre.module().engine(), FilterHost::new(shared, deadline))
}

impl Live {
    /// Instantiate and start the filter (its root context configured) within `timeout`;
    /// `listener` hears of items in the queues it registers.
    pub async fn start(
        pre: &InstancePre<FilterHost>,
        shared: Arc<FilterShared>,
        timeout: Duration,
        listener: Option<UnboundedSender<u32>>,
    ) -> Result<Self, Fault> {
        let mut store = new_store(pre, shared, Instant::now() + timeout);
        store.data_mut().queue_listener = listener;
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| fault_of(e, timeout))?;
        let memory = instance.get_memory(&mut store, "memory");
        let allocate = instance
            .get_typed_func::<u32, u32>(&mut store, "proxy_on_memory_allocate")
            .or_else(|_| instance.get_typed_func::<u32, u32>(&mut store, "malloc"))
            .ok();
        let data = store.data_mut();
        data.memory = memory;
        data.allocate = allocate;
        let exports = Exports::find(&instance, &mut store)?;
        let mut live = Self {
            store,
            exports,
            next_context: ROOT_CONTEXT + 1,
            timeout,
        };
        for init in ["_initialize", "_start"] {
            if let Ok(init) = instance.get_typed_func::<(), ()>(&mut live.store, init) {
                call(&mut live.store, timeout, &init, ()).await?;
                break;
            }
        }
        let create = &live.exports.on_context_create;
        call(&mut live.store, timeout, create, (ROOT_CONTEXT, 0)).await?;
        let sizes = [
            (
                live.exports.on_vm_start.clone(),
                live.store.data().shared.vm_configuration.len(),
                "proxy_on_vm_start",
            ),
            (
                live.exports.on_configure.clone(),
                live.store.data().shared.configuration.len(),
                "proxy_on_configure",
            ),
        ];
        for (hook, size, name) in sizes {
            if let Some(hook) = hook {
                if call(&mut live.store, timeout, &hook, (ROOT_CONTEXT, size as u32)).await? == 0 {
                    return Err(Fault::Invalid(format!("{name} returned false")));
                }
            }
        }
        Ok(live)
    }

    /// The host data: the exchange, the tick period asked for.
    pub fn host(&mut self) -> &mut FilterHost {
        self.store.data_mut()
    }

    /// Give later callbacks `timeout` each (the root instance starts under a longer one).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Arm the deadline of the callbacks about to run.
    pub fn arm(&mut self, started: Instant) {
        self.store.data_mut().deadline = started + self.timeout;
        self.store.set_epoch_deadline(1);
    }

    /// A new stream context under the root context.
    pub async fn new_context(&mut self) -> Result<u32, Fault> {
        let context = self.next_context;
        self.next_context = self.next_context.wrapping_add(1).max(ROOT_CONTEXT + 1);
        let create = &self.exports.on_context_create;
        call(
            &mut self.store,
            self.timeout,
            create,
            (context, ROOT_CONTEXT),
        )
        .await?;
        Ok(context)
    }

    /// Call `hook` of stream `context` and make the calls it started; whether it paused the
    /// stream (a callback the module lacks continues).
    pub async fn hook(
        &mut self,
        hook: Hook,
        context: u32,
        size: usize,
        end_of_stream: bool,
    ) -> Result<bool, Fault> {
        let exports = &self.exports;
        let f = match hook {
            Hook::RequestHeaders => &exports.on_request_headers,
            Hook::RequestBody => &exports.on_request_body,
            Hook::ResponseHeaders => &exports.on_response_headers,
            Hook::ResponseBody => &exports.on_response_body,
        };
        let Some(f) = f else {
            return Ok(false);
        };
        let args = (context, size as u32, end_of_stream.into());
        let action = call(&mut self.store, self.timeout, f, args).await?;
        self.settle(context).await?;
        Ok(action == super::abi::ACTION_PAUSE)
    }

    /// The end of stream `context`: `proxy_on_log`, `proxy_on_done`, `proxy_on_delete`.
    pub async fn end(&mut self, context: u32) -> Result<(), Fault> {
        let exports = &self.exports;
        if let Some(f) = &exports.on_log {
            call(&mut self.store, self.timeout, f, context).await?;
        }
        if let Some(f) = &exports.on_done {
            call(&mut self.store, self.timeout, f, context).await?;
        }
        if let Some(f) = &exports.on_delete {
            call(&mut self.store, self.timeout, f, context).await?;
        }
        Ok(())
    }

    /// A tick of the root context.
    pub async fn tick(&mut self) -> Result<(), Fault> {
        if let Some(f) = &self.exports.on_tick {
            call(&mut self.store, self.timeout, f, ROOT_CONTEXT).await?;
            self.settle(ROOT_CONTEXT).await?;
        }
        Ok(())
    }

    /// Tell the root context that queue `id` has an item.
    pub async fn queue_ready(&mut self, id: u32) -> Result<(), Fault> {
        if let Some(f) = &self.exports.on_queue_ready {
            call(&mut self.store, self.timeout, f, (ROOT_CONTEXT, id)).await?;
            self.settle(ROOT_CONTEXT).await?;
        }
        Ok(())
    }

    /// Make the `proxy_http_call`s the last callbacks started, one after another (unless a
    /// local response ended the stream), each answer delivered to `context`.
    async fn settle(&mut self, context: u32) -> Result<(), Fault> {
        loop {
            let exchange = &mut self.store.data_mut().exchange;
            if exchange.local_response.is_some() || exchange.pending_calls.is_empty() {
                exchange.pending_calls.clear();
                return Ok(());
            }
            let pending = exchange.pending_calls.remove(0);
            let host = self.store.data();
            let request = OutgoingRequest {
                method: pending.method,
                url: format!("http://{}{}", pending.host, pending.path),
                headers: pending
                    .headers
                    .iter()
                    .map(|(n, v)| Header {
                        name: String::from_utf8_lossy(n).into_owned(),
                        value: String::from_utf8_lossy(v).into_owned(),
                    })
                    .collect(),
                body: pending.body,
                timeout_ms: Some(pending.timeout.as_millis().min(u32::MAX as u128) as u32),
            };
            let answer = outbound::send(&host.shared.allowed_hosts, request, host.deadline).await;
            let response = match answer {
                Ok(response) => {
                    let mut headers = vec![(
                        b":status".to_vec(),
                        response.status.to_string().into_bytes(),
                    )];
                    headers.extend(
                        response
                            .headers
                            .into_iter()
                            .map(|h| (h.name.into_bytes(), h.value.into_bytes())),
                    );
                    CallResponse {
                        headers,
                        body: response.body,
                    }
                }
                Err(error) => {
                    log::debug!(
                        "filter `{}`: proxy_http_call failed: {error:?}",
                        host.shared.name
                    );
                    CallResponse::default()
                }
            };
            let counts = (response.headers.len() as u32, response.body.len() as u32);
            self.store.data_mut().exchange.call_response = Some(response);
            if let Some(f) = &self.exports.on_http_call_response {
                let args = (context, pending.token, counts.0, counts.1, 0);
                let delivered = call(&mut self.store, self.timeout, f, args).await;
                self.store.data_mut().exchange.call_response = None;
                delivered?;
            }
        }
    }
}

/// Call `f` in `store` (the callback's deadline armed), its trap a fault; the export is borrowed,
/// not cloned (a clone takes and drops a reference on its type's registration).
async fn call<P: WasmParams + Sync, R: WasmResults + Sync>(
    store: &mut Store<FilterHost>,
    timeout: Duration,
    f: &TypedFunc<P, R>,
    args: P,
) -> Result<R, Fault> {
    f.call_async(store, args)
        .await
        .map_err(|e| fault_of(e, timeout))
}

/// The fault a wasmtime error stands for: the deadline trap is a timeout.
fn fault_of(error: wasmtime::Error, timeout: Duration) -> Fault {
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Fault::Timeout(timeout),
        _ => Fault::Trap(format!("{error:#}")),
    }
}
