//! The config watcher: reloads on SIGHUP and, when `server.watch_config` is on, when the config
//! file's contents change (polled once a second, so editors that replace the file are seen too;
//! a changed file is loaded once it has stopped changing).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::signal::unix::{signal, SignalKind};

use crate::state::State;

/// How often the config file is checked for changes.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Background service that triggers reloads.
pub struct ConfigWatcher {
    /// The gateway's state.
    pub state: Arc<State>,
}

#[async_trait]
impl BackgroundService for ConfigWatcher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(hangup) => hangup,
            Err(e) => {
                log::error!("cannot listen for SIGHUP, reload on signal is off: {e}");
                return;
            }
        };
        let watch = self.state.snapshot().server.watch_config;
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = hangup.recv() => {
                    log::info!("SIGHUP: reloading config");
                    let state = self.state.clone();
                    let _ = tokio::task::spawn_blocking(move || state.reload()).await;
                }
                _ = poll.tick(), if watch => {
                    let state = self.state.clone();
                    let _ = tokio::task::spawn_blocking(move || state.reload_if_changed()).await;
                }
            }
        }
    }
}
