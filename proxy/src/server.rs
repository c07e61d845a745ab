//! Assembling and running the gateway process: the pingora server with the proxy service, the
//! admin listener, the config watcher, the usage flusher, the reload once plugins left compiling
//! at start are ready, and the draining shutdown (which writes the last usage counts).

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server};
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::admin::AdminApp;
use crate::drain::DrainingShutdown;
use crate::gateway::Gateway;
use crate::state::State;
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
    for address in proxy_listens.iter().chain([&admin_listen]) {
        // Pingora cannot report a failed bind cleanly: check each address up front.
        TcpListener::bind(address).with_context(|| format!("cannot listen on {address}"))?;
    }

    let conf = ServerConf {
        threads: server_file.threads.unwrap_or_else(num_threads),
        // Draining happens before pingora's shutdown (see `drain`); pingora need not wait again.
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let gateway = pingora::proxy::http_proxy(&server.configuration, Gateway::new(state.clone()));
    let mut proxy = Service::new("wasmgate proxy".to_string(), gateway);
    for address in &proxy_listens {
        proxy.add_tcp(address);
    }
    server.add_service(proxy);

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

    log::info!(
        "wasmgate {} serving {} on {}; admin on {admin_listen}",
        env!("CARGO_PKG_VERSION"),
        path.display(),
        proxy_listens.join(", ")
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

fn num_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
