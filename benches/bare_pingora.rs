//! The floor under wasmgate's plain route: pingora 0.9.1 (the same vendored pingora-proxy,
//! version and allocator as the gateway) proxying every request to one backend, with no hook
//! but `upstream_peer`. `benches/run.sh` reports wasmgate against it beside nginx and Envoy.
//!
//!   cargo build --release -p wasmgate --example bare_pingora
//!   bare_pingora LISTEN BACKEND [THREADS [MODE]]
//!                                 e.g. bare_pingora 127.0.0.1:8090 127.0.0.1:9000 2
//!
//! MODE lays out the THREADS workers: `per-thread` (the default, the gateway's default layout)
//! one service per thread, each on a runtime of one thread that accepts on a socket of its own
//! (`SO_REUSEPORT`) and serves what it accepted; `shared` the same services all accepting on one
//! socket; `no-steal` one service on pingora's per-thread runtimes
//! (`ServerConf::work_stealing = false`), which accepts on one of them and spreads connections
//! over all; `steal` one service on one work-stealing runtime (pingora's default).

use std::net::SocketAddr;

use async_trait::async_trait;
use pingora::listeners::TcpSocketOptions;
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

/// A listening socket of the service's own (`SO_REUSEPORT`): the kernel spreads new connections
/// over the services' sockets.
fn own_socket() -> TcpSocketOptions {
    let mut options = TcpSocketOptions::default();
    options.so_reuseport = Some(true);
    options
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
    let mode = args.get(4).map_or("per-thread", String::as_str);
    let services = match mode {
        "steal" | "no-steal" => 1,
        "per-thread" | "shared" => threads,
        _ => {
            eprintln!("MODE is per-thread, shared, no-steal or steal");
            std::process::exit(2);
        }
    };
    let conf = ServerConf {
        threads: threads / services,
        work_stealing: mode == "steal",
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    for _ in 0..services {
        let mut proxy = pingora::proxy::http_proxy_service(&server.configuration, Bare { backend });
        match mode {
            "per-thread" => proxy.add_tcp_with_settings(listen, own_socket()),
            _ => proxy.add_tcp(listen),
        }
        server.add_service(proxy);
    }
    server.run_forever();
}
