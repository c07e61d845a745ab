//! The epoch ticker: the thread whose ticks make plugin code check its deadline and yield to
//! the other requests of its worker. It ticks coarsely while calls run ([`WATCH_TICK`]), finely
//! ([`SLICE`]) only while some call has run across a whole tick and is being sliced, and sleeps
//! when no call has started since its last tick.
//!
//! Measured on the 3-plugin chain route of `benches/compare.sh` (2 vCPUs, both orders): a ticker
//! waking every 250 µs whenever any call ran cost ~13 % of the route's CPU per request (~20 µs)
//! in the workers' preemptions and the caches they spoil, although its own work is one atomic
//! increment. Short calls never need it: a call is only sliced once it is
//! seen running at two ticks in a row.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread::Thread;
use std::time::Duration;

use wasmtime::{EngineWeak, UpdateDeadline};

/// How long a busy call runs before it yields to the other requests of its worker thread, and
/// how far past its deadline it may run, once it is being sliced. At 1 ms, a worker with eight
/// looping plugin calls served a plain request only every ~8 ms.
pub const SLICE: Duration = Duration::from_micros(250);
/// How often the ticker ticks while calls run but none is being sliced: the first slice of a
/// busy call lasts between one and two of these.
const WATCH_TICK: Duration = Duration::from_millis(2);
/// How many fine ticks follow the last slice handed out before the ticker coarsens again.
const FINE_TICKS_AFTER_SLICE: u32 = 20;
/// How long the idle ticker sleeps before it looks again (a starting call wakes it at once).
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// Calls started (high 32 bits, wrapping) and calls running (low 32 bits), in one word so a
/// call's start is one atomic add.
static CALLS: AtomicU64 = AtomicU64::new(0);
const ONE_STARTED: u64 = 1 << 32;
const RUNNING_MASK: u64 = ONE_STARTED - 1;
/// Fine ticks left before the ticker coarsens.
static FINE_TICKS: AtomicU32 = AtomicU32::new(0);
/// Whether the ticker sleeps until a call starts.
static PARKED: AtomicBool = AtomicBool::new(false);
/// The ticker thread.
static TICKER: OnceLock<Thread> = OnceLock::new();

/// Start the ticker for `engine` (once per process; it ends when the engine is dropped).
pub fn start(engine: EngineWeak) -> std::io::Result<()> {
    let thread = std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || tick(engine))?;
    let _ = TICKER.set(thread.thread().clone());
    Ok(())
}

fn tick(engine: EngineWeak) {
    let mut seen = started();
    loop {
        seen = if is_idle(seen) {
            sleep_until_a_call(seen)
        } else {
            started()
        };
        let fine = FINE_TICKS
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        std::thread::sleep(if fine { SLICE } else { WATCH_TICK });
        let Some(engine) = engine.upgrade() else {
            return;
        };
        engine.increment_epoch();
    }
}

/// How many calls have started (wrapping).
fn started() -> u64 {
    CALLS.load(Ordering::SeqCst) >> 32
}

/// No call runs and no call started since `seen` calls had.
fn is_idle(seen: u64) -> bool {
    let calls = CALLS.load(Ordering::SeqCst);
    calls & RUNNING_MASK == 0 && calls >> 32 == seen
}

/// Park until a call starts after the first `seen` (or [`IDLE_CHECK`] passes); returns the
/// calls started by then.
fn sleep_until_a_call(seen: u64) -> u64 {
    PARKED.store(true, Ordering::SeqCst);
    if is_idle(seen) {
        std::thread::park_timeout(IDLE_CHECK);
    }
    PARKED.store(false, Ordering::SeqCst);
    started()
}

/// Keeps the epoch ticking while a call runs: hold one from before a plugin instance is created
/// or called until the call is over.
pub struct Ticking(());

impl Ticking {
    /// Start (or keep) the ticker for a call.
    pub fn start() -> Self {
        CALLS.fetch_add(ONE_STARTED + 1, Ordering::SeqCst);
        if PARKED.load(Ordering::SeqCst) && PARKED.swap(false, Ordering::SeqCst) {
            if let Some(ticker) = TICKER.get() {
                ticker.unpark();
            }
        }
        Self(())
    }
}

impl Drop for Ticking {
    fn drop(&mut self) {
        CALLS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a call does at an epoch tick, given whether it was already running at the previous
/// tick: a call seen for the first time runs on (most calls end well within a tick); one seen
/// again has run a whole tick, so it yields its worker for a round (and keeps the ticker fine,
/// to slice it again soon). The yield is tokio's `yield_now`, which wakes the call again only
/// after the worker has polled for I/O and run the tasks already queued: wasmtime's own `Yield`
/// wakes the call at once, into tokio's LIFO slot, so the worker polled I/O only every 61 ticks
/// and plain requests behind a looping plugin waited tens of milliseconds.
pub fn at_tick(seen_before: bool) -> UpdateDeadline {
    if !seen_before {
        return UpdateDeadline::Continue(1);
    }
    FINE_TICKS.store(FINE_TICKS_AFTER_SLICE, Ordering::Relaxed);
    UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
}
