//! Assembling and running the gateway process: the pingora server with the proxy services (one
//! per worker thread on per-thread runtimes, each with its own plaintext, TLS and redirect
//! listeners; HTTP/2 settings), the admin listener, the config watcher, the usage flusher, the
//! reload once plugins left compiling at start are ready, and the draining shutdown (which
//! writes the last usage counts).

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pingora::apps::HttpServerOptions;
use pingora::listeners::TcpSocketOptions;
use pingora::protocols::http::v2::server::default_h2_options;
use pingora::proxy::HttpProxy;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server};
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::admin::AdminApp;
use crate::config::ServerFile;
use crate::drain::DrainingShutdown;
use crate::gateway::Gateway;
use crate::state::State;
use crate::tls::{listener_settings, session_cache, SessionCache, TransportSource};
use crate::watcher::ConfigWatcher;

/// Load the config at `path` and serve until SIGTERM (drain) or SIGINT (stop now).
pub fn serve(path: &Path) -> anyhow::Result<()> {
    let state = Arc::new(State::load(path)?);
    state.keys.start_flusher();
    state.reload_when_compiled();
    let snapshot = state.snapshot();
    let server_file = &snapshot.server;
    let admin_listen = snapshot.admin.listen.get_ref().clone();
    let proxy_listens: Vec<String> = server_file
        .listen
        .iter()
        .map(|l| l.get_ref().clone())
        .collect();
    let tls_listens: Vec<String> = server_file
        .tls
        .iter()
        .flat_map(|tls| tls.listen.iter().chain(&tls.redirect_listen))
        .map(|l| l.get_ref().clone())
        .collect();
    for address in proxy_listens
        .iter()
        .chain(&tls_listens)
        .chain([&admin_listen])
    {
        // Pingora cannot report a failed bind cleanly: check each address up front.
        TcpListener::bind(address).with_context(|| format!("cannot listen on {address}"))?;
    }

    let threads = server_file.threads.unwrap_or_else(num_threads);
    let conf = ServerConf {
        threads,
        work_stealing: server_file.work_stealing,
        // Draining happens before pingora's shutdown (see `drain`); pingora need not wait again.
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let (services, threads_each) = if server_file.work_stealing {
        (1, threads)
    } else {
        (threads, 1)
    };
    let tls = TlsShared {
        source: {
            let state = state.clone();
            Arc::new(move || state.snapshot().transport.clone())
        },
        sessions: session_cache(),
    };
    for _ in 0..services {
        let mut proxy = proxy_service(&server, &state, server_file, &tls, services > 1);
        proxy.threads = Some(threads_each);
        server.add_service(proxy);
    }

    let mut admin = Service::new(
        "wasmgate admin".to_string(),
        AdminApp {
            state: state.clone(),
        },
    );
    admin.add_tcp(&admin_listen);
    server.add_service(admin);

    server.add_service(background_service(
        "config watcher",
        ConfigWatcher {
            state: state.clone(),
        },
    ));

    let https = server_file.tls.iter().flat_map(|tls| &tls.listen);
    log::info!(
        "wasmgate {} serving {} on {}{}; admin on {admin_listen}",
        env!("CARGO_PKG_VERSION"),
        path.display(),
        proxy_listens.join(", "),
        https
            .map(|a| format!(", https://{}", a.get_ref()))
            .collect::<String>(),
    );
    let grace = Duration::from_secs(server_file.grace_period_seconds);
    server.run(RunArgs {
        shutdown_signal: Box::new(DrainingShutdown {
            drain: state.drain.clone(),
            grace,
        }),
    });
    let written = state
        .keys
        .flush()
        .map_err(|e| anyhow::anyhow!("usage counts at shutdown: {e}"))?;
    log::info!("stopped; {written} usage count(s) written at shutdown");
    Ok(())
}

/// The proxy service with its listeners. With per-thread runtimes (the default) the gateway runs
/// one per worker thread (`own_sockets`), each on a runtime of one thread with listening sockets
/// of its own on every address (`SO_REUSEPORT`: the kernel spreads new connections over the
/// workers), so the thread that accepts a connection owns its socket, its task and its upstream
/// connections. pingora's own per-thread runtimes accept on one of them and spread connections
/// over all, so every readiness event of a connection on another thread crossed threads.
fn proxy_service(
    server: &Server,
    state: &Arc<State>,
    server_file: &ServerFile,
    shared: &TlsShared,
    own_sockets: bool,
) -> Service<HttpProxy<Gateway>> {
    let socket = own_sockets.then(|| {
        let mut options = TcpSocketOptions::default();
        options.so_reuseport = Some(true);
        options
    });
    let plain = |proxy: &mut Service<HttpProxy<Gateway>>, address: &str| match &socket {
        Some(options) => proxy.add_tcp_with_settings(address, options.clone()),
        None => proxy.add_tcp(address),
    };
    let mut gateway =
        pingora::proxy::http_proxy(&server.configuration, Gateway::new(state.clone()));
    let mut options = HttpServerOptions::default();
    options.h2c = server_file.http2.cleartext;
    options.h2_idle_timeout = Some(Duration::from_millis(server_file.http2.idle_timeout_ms));
    gateway.server_options = Some(options);
    let mut h2 = default_h2_options();
    h2.max_concurrent_streams(server_file.http2.max_concurrent_streams)
        .max_header_list_size(server_file.limits.max_header_bytes as u32);
    gateway.h2_options = Some(h2);
    let mut proxy = Service::new("wasmgate proxy".to_string(), gateway);
    for address in &server_file.listen {
        plain(&mut proxy, address.get_ref());
    }
    if let Some(tls) = &server_file.tls {
        for address in &tls.listen {
            let settings =
                listener_settings(shared.source.clone(), shared.sessions.clone(), tls.http2);
            proxy.add_tls_with_settings(address.get_ref(), socket.clone(), settings);
        }
        for address in &tls.redirect_listen {
            plain(&mut proxy, address.get_ref());
        }
    }
    proxy
}

/// What the TLS listeners of every worker's proxy service share.
struct TlsShared {
    source: TransportSource,
    sessions: SessionCache,
}

fn num_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
