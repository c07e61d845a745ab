//! The floor under wasmgate's plain route: pingora 0.9.1 (the same vendored pingora-proxy,
//! version and allocator as the gateway) proxying every request to one backend, with no hook
//! but `upstream_peer`. `benches/run.sh` reports wasmgate against it beside nginx and Envoy.
//!
//!   cargo build --release -p wasmgate --example bare_pingora
//!   bare_pingora LISTEN BACKEND [THREADS [no-steal]]
//!                                 e.g. bare_pingora 127.0.0.1:8090 127.0.0.1:9000 2
//!
//! `no-steal` runs pingora's per-thread runtimes (`ServerConf::work_stealing = false`) instead
//! of one work-stealing runtime.

use std::net::SocketAddr;

use async_trait::async_trait;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::upstreams::peer::HttpPeer;

#[global_allocator]
static ALLOCATOR: wasmgate::memory::Allocator = wasmgate::memory::Allocator;

/// Every request to one backend, over pooled keep-alive connections.
struct Bare {
    backend: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.backend, false, String::new())))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(listen), Some(backend)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: bare_pingora LISTEN BACKEND [THREADS [no-steal]]");
        std::process::exit(2);
    };
    let backend: SocketAddr = backend.parse().expect("BACKEND is ip:port");
    let threads = args
        .get(3)
        .map_or(2, |t| t.parse().expect("THREADS is a number"));
    let conf = ServerConf {
        threads,
        work_stealing: args.get(4).map(String::as_str) != Some("no-steal"),
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = pingora::proxy::http_proxy_service(&server.configuration, Bare { backend });
    proxy.add_tcp(listen);
    server.add_service(proxy);
    server.run_forever();
}
