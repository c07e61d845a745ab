//! The root instance of each filter: started at load (its failure is the filter's config
//! error) on a thread of its own, and kept there — ticking at the period it asked for and told
//! of items in the queues it registered — until a reload drops the filter.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use wasmtime::InstancePre;

use super::instance::Live;
use super::state::{FilterHost, FilterShared};
use crate::plugin::load_error::LoadError;
use crate::plugin::ticker::Ticking;

/// How long the root instance may take to start (once per load).
const START_DEADLINE: Duration = Duration::from_secs(5);

/// Start the root instance on a thread of its own (loading runs outside the proxy's runtime):
/// an error starting it is the filter's config error. If it asked for ticks or registered a
/// queue, the thread keeps it, ticking and delivering queue items, until `alive` is gone.
pub fn start_root(
    pre: &InstancePre<FilterHost>,
    shared: &Arc<FilterShared>,
    timeout: Duration,
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
                live.set_timeout(timeout);
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
    if live.host().tick_period.is_none() && !live.host().registered_queue {
        return;
    }
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
