//! Graceful shutdown: counts requests in flight and, on SIGTERM, waits for them to finish (up to
//! the grace period) before letting pingora stop its runtimes. Pingora alone would sleep the whole
//! grace period; this exits as soon as the last request is done.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;

/// In-flight accounting and the draining flag.
#[derive(Debug, Default)]
pub struct Drain {
    in_flight: AtomicUsize,
    draining: AtomicBool,
    idle: Notify,
}

/// Held by a request while it is served; dropping it ends the request's accounting.
#[derive(Debug)]
pub struct InFlight(Arc<Drain>);

impl Drain {
    /// Count a new request.
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Whether SIGTERM was received.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Requests being served now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    async fn wait_idle(&self, grace: Duration) {
        let wait = async {
            loop {
                let notified = self.idle.notified();
                tokio::pin!(notified);
                // Register before checking, so a wake-up between the two is not lost.
                notified.as_mut().enable();
                if self.in_flight() == 0 {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(grace, wait).await.is_err() {
            log::warn!(
                "grace period of {grace:?} over with {} requests still in flight",
                self.in_flight()
            );
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // Only a draining gateway waits for the count to reach zero: `wait_idle` reads the
        // count after `draining` is set, so a last request that saw it unset was counted.
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1
            && self.0.draining.load(Ordering::SeqCst)
        {
            self.0.idle.notify_waiters();
        }
    }
}

/// Pingora's shutdown signal source: SIGTERM drains, SIGINT stops at once (without draining).
pub struct DrainingShutdown {
    /// The gateway's in-flight accounting.
    pub drain: Arc<Drain>,
    /// Longest wait for in-flight requests.
    pub grace: Duration,
}

#[async_trait]
impl ShutdownSignalWatch for DrainingShutdown {
    async fn recv(&self) -> ShutdownSignal {
        let (Ok(mut terminate), Ok(mut interrupt)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            log::error!("cannot install signal handlers; shutting down");
            return ShutdownSignal::GracefulTerminate;
        };
        tokio::select! {
            _ = interrupt.recv() => {
                // Not pingora's quick shutdown, which stops the runtimes without first telling
                // the listeners: on per-thread runtimes an accept loop can run on another thread
                // than the runtime its socket belongs to, and once that runtime stopped, the loop
                // spun on accept errors and the process never exited. Told, the loops end; no
                // request is waited for (the grace period is zero, see `server`).
                log::info!("SIGINT: stopping now");
                ShutdownSignal::GracefulTerminate
            }
            _ = terminate.recv() => {
                log::info!("SIGTERM: draining {} in-flight requests", self.drain.in_flight());
                self.drain.draining.store(true, Ordering::SeqCst);
                self.drain.wait_idle(self.grace).await;
                log::info!("drained; stopping");
                ShutdownSignal::GracefulTerminate
            }
        }
    }
}
