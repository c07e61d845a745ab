//! Warm instances of one plugin (`isolation = "reuse"`), kept per worker thread and handed out
//! last-in first-out: the instance a thread used last — its linear memory, stack and tables
//! still in that core's caches — serves its next call, and threads never touch a shared queue.
//! The pool follows use: a burst leaves up to [`MAX_WARM_PER_THREAD`] instances behind, and
//! each one no call has taken for [`IDLE_TRIM`] is dropped at the thread's next call (the
//! least recently used sit at the bottom of the stack, so they go first).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use thread_local::ThreadLocal;

use super::invoke::Live;

/// Most warm instances kept per plugin on one thread.
pub const MAX_WARM_PER_THREAD: usize = 32;
/// How long an instance may wait unused before the pool drops it.
const IDLE_TRIM: Duration = Duration::from_secs(30);

/// The warm instances of one plugin: per thread, a stack of instances with when each was
/// given back.
pub struct WarmPool<T: Send = Live>(ThreadLocal<RefCell<Vec<(T, Instant)>>>);

impl<T: Send> Default for WarmPool<T> {
    fn default() -> Self {
        Self(ThreadLocal::new())
    }
}

impl<T: Send> WarmPool<T> {
    /// The instance this thread returned last, if any.
    pub fn take(&self) -> Option<T> {
        self.0.get()?.borrow_mut().pop().map(|(live, _)| live)
    }

    /// Keep a healthy instance for this thread's next call, dropping those idle too long; a
    /// full pool drops it.
    pub fn give_back(&self, live: T) {
        self.give_back_at(live, Instant::now());
    }

    fn give_back_at(&self, live: T, now: Instant) {
        let mut stack = self.0.get_or_default().borrow_mut();
        let idle = stack
            .iter()
            .take_while(|(_, since)| now.duration_since(*since) > IDLE_TRIM)
            .count();
        stack.drain(..idle);
        if stack.len() < MAX_WARM_PER_THREAD {
            stack.push((live, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(pool: &WarmPool<u32>) -> Vec<u32> {
        pool.0.get().map_or_else(Vec::new, |stack| {
            stack.borrow().iter().map(|(n, _)| *n).collect()
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
}
