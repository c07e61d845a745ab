//! Warm instances of one plugin (`isolation = "reuse"`), kept per worker thread and handed out
//! last-in first-out: the instance a thread used last — its linear memory, stack and tables
//! still in that core's caches — serves its next call, and threads never touch a shared queue
//! (each thread's stack has a lock of its own, which only the trimmer ever contends).
//! The pool follows use: a burst leaves up to [`MAX_WARM_PER_THREAD`] instances behind, and
//! each one no call has taken for [`IDLE_TRIM`] is dropped — at the thread's next call, or by
//! the trimmer thread, which looks at every pool each [`TRIM_CHECK`], so an idle gateway gives
//! its instances' memory back too (the least recently used sit at the bottom of a stack, so
//! they go first).

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use thread_local::ThreadLocal;

use super::invoke::Live;
use super::lock;

/// Most warm instances kept per plugin on one thread.
pub const MAX_WARM_PER_THREAD: usize = 32;
/// How long an instance may wait unused before the pool drops it.
const IDLE_TRIM: Duration = Duration::from_secs(30);
/// How often the trimmer looks for instances idle too long.
const TRIM_CHECK: Duration = Duration::from_secs(5);

/// One thread's warm instances, each with when it was given back.
type Stack<T> = Mutex<Vec<(T, Instant)>>;

/// The warm instances of one plugin: per thread, a stack of instances.
pub struct WarmPool<T: Send + 'static = Live>(Arc<ThreadLocal<Stack<T>>>);

impl<T: Send + 'static> Default for WarmPool<T> {
    fn default() -> Self {
        let stacks = Arc::new(ThreadLocal::new());
        let weak: Weak<ThreadLocal<Stack<T>>> = Arc::downgrade(&stacks);
        register(weak);
        Self(stacks)
    }
}

impl<T: Send + 'static> WarmPool<T> {
    /// The instance this thread returned last, if any.
    pub fn take(&self) -> Option<T> {
        lock(self.0.get()?).pop().map(|(live, _)| live)
    }

    /// Keep a healthy instance for this thread's next call, dropping those idle too long; a
    /// full pool drops it.
    pub fn give_back(&self, live: T) {
        self.give_back_at(live, Instant::now());
    }

    fn give_back_at(&self, live: T, now: Instant) {
        let mut stack = lock(self.0.get_or_default());
        let idle = idle_count(&stack, now);
        stack.drain(..idle);
        if stack.len() < MAX_WARM_PER_THREAD {
            stack.push((live, now));
        }
    }
}

/// How many instances at the bottom of `stack` were given back more than [`IDLE_TRIM`] before
/// `now`.
fn idle_count<T>(stack: &[(T, Instant)], now: Instant) -> usize {
    stack
        .iter()
        .take_while(|(_, since)| now.duration_since(*since) > IDLE_TRIM)
        .count()
}

/// A pool as the trimmer sees it.
trait Trim: Send + Sync {
    /// Drop the instances of every thread given back more than [`IDLE_TRIM`] before `now`,
    /// skipping a stack its thread holds this moment.
    fn trim_idle(&self, now: Instant);
}

impl<T: Send> Trim for ThreadLocal<Stack<T>> {
    fn trim_idle(&self, now: Instant) {
        for stack in self.iter() {
            let Ok(mut stack) = stack.try_lock() else {
                continue;
            };
            let idle = idle_count(&stack, now);
            let dropped: Vec<_> = stack.drain(..idle).collect();
            // Released before the instances are dropped: their thread need not wait for that.
            drop(stack);
            drop(dropped);
        }
    }
}

/// Every pool created, as the trimmer thread visits them (those dropped are forgotten there).
static POOLS: OnceLock<Mutex<Vec<Weak<dyn Trim>>>> = OnceLock::new();

/// Add a pool to those the trimmer visits, starting the trimmer with the first.
fn register(pool: Weak<dyn Trim>) {
    let mut started = false;
    let pools = POOLS.get_or_init(|| {
        started = true;
        Mutex::new(Vec::new())
    });
    lock(pools).push(pool);
    if started {
        let spawned = std::thread::Builder::new()
            .name("wasm-trim".into())
            .spawn(move || loop {
                std::thread::sleep(TRIM_CHECK);
                let live: Vec<Arc<dyn Trim>> = {
                    let mut pools = lock(pools);
                    pools.retain(|pool| pool.strong_count() > 0);
                    pools.iter().filter_map(Weak::upgrade).collect()
                };
                let now = Instant::now();
                live.iter().for_each(|pool| pool.trim_idle(now));
            });
        if let Err(e) = spawned {
            log::warn!("warm instances are trimmed only at their thread's next call: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(pool: &WarmPool<u32>) -> Vec<u32> {
        pool.0.get().map_or_else(Vec::new, |stack| {
            lock(stack).iter().map(|(n, _)| *n).collect()
        })
    }

    #[test]
    fn the_last_given_back_is_taken_first_and_the_pool_is_capped() {
        let pool = WarmPool::default();
        for n in 0..MAX_WARM_PER_THREAD as u32 + 5 {
            pool.give_back(n);
        }
        assert_eq!(held(&pool).len(), MAX_WARM_PER_THREAD);
        assert_eq!(pool.take(), Some(MAX_WARM_PER_THREAD as u32 - 1));
    }

    #[test]
    fn instances_idle_too_long_are_dropped_at_the_next_give_back() {
        let pool = WarmPool::default();
        let start = Instant::now();
        for n in 0..4 {
            pool.give_back_at(n, start);
        }
        pool.give_back_at(4, start + IDLE_TRIM / 2);
        assert_eq!(held(&pool), [0, 1, 2, 3, 4], "none idle long enough yet");
        pool.give_back_at(5, start + IDLE_TRIM + Duration::from_secs(1));
        assert_eq!(held(&pool), [4, 5], "the four idle past the limit are gone");
    }

    #[test]
    fn the_trimmer_drops_instances_idle_too_long_on_every_thread() {
        let pool = Arc::new(WarmPool::default());
        let start = Instant::now();
        pool.give_back_at(0, start);
        pool.give_back_at(1, start + IDLE_TRIM);
        let other = pool.clone();
        std::thread::spawn(move || other.give_back_at(2, start))
            .join()
            .unwrap();
        pool.0.trim_idle(start + IDLE_TRIM + Duration::from_secs(1));
        assert_eq!(
            held(&pool),
            [1],
            "this thread keeps the one given back recently"
        );
        let stacks: Vec<usize> = pool.0.iter().map(|stack| lock(stack).len()).collect();
        assert_eq!(
            stacks.iter().sum::<usize>(),
            1,
            "the other thread's is gone too"
        );
    }
}
