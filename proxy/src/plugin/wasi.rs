//! The standard WASI 0.2 interfaces, for components whose toolchain imports them (most
//! language runtimes do: componentize-py and componentize-js import `wasi:cli`, `wasi:clocks`,
//! `wasi:random`, `wasi:filesystem`, `wasi:sockets` and, by default, `wasi:http`). Each is
//! provided so that such components load unchanged, and each that could reach outside the
//! sandbox is denied: no preopened directories, environment or arguments, no sockets or name
//! lookups, and every outgoing `wasi:http` request fails with `HTTP-request-denied` (plugins
//! call out through the gateway's own allow-listed `http` import). Clocks and randomness work.

use std::future::Future;

use wasmtime::component::ResourceTable;

use super::host::HostState;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

/// The WASI state of one store.
pub struct Wasi {
    ctx: WasiCtx,
    http: WasiHttpCtx,
    deny_http: DenyOutgoingHttp,
    table: ResourceTable,
}

impl Wasi {
    /// Deny-all WASI for one instance.
    pub fn deny_all() -> Self {
        let ctx = WasiCtxBuilder::new()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        Self {
            ctx,
            http: WasiHttpCtx::new(),
            deny_http: DenyOutgoingHttp,
            table: ResourceTable::new(),
        }
    }

    /// The view `wasmtime-wasi` reads.
    fn view(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }

    /// The view `wasmtime-wasi-http` reads.
    fn http_view(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.deny_http,
        }
    }
}

/// `wasi:http/outgoing-handler` refusing every request.
struct DenyOutgoingHttp;

/// What a request's I/O ends with.
type Completion = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
/// What sending a request yields: the response and its I/O's completion.
type Sent =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, Completion), HttpError>> + Send>;

impl WasiHttpHooks for DenyOutgoingHttp {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _on_response_error: Completion,
    ) -> Sent {
        Box::new(async { Err(HttpError::HttpRequestDenied) })
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi.view()
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        self.wasi.http_view()
    }
}
