//! Warm instances of one plugin (`isolation = "reuse"`), kept per worker thread and handed out
//! last-in first-out: the instance a thread used last — its linear memory, stack and tables
//! still in that core's caches — serves its next call, and threads never touch a shared queue.

use std::cell::RefCell;

use thread_local::ThreadLocal;

use super::invoke::Live;

/// Most warm instances kept per plugin on one thread.
pub const MAX_WARM_PER_THREAD: usize = 32;

/// The warm instances of one plugin.
#[derive(Default)]
pub struct WarmPool(ThreadLocal<RefCell<Vec<Live>>>);

impl WarmPool {
    /// The instance this thread returned last, if any.
    pub fn take(&self) -> Option<Live> {
        self.0.get()?.borrow_mut().pop()
    }

    /// Keep a healthy instance for this thread's next call; a full pool drops it.
    pub fn give_back(&self, live: Live) {
        let mut stack = self.0.get_or_default().borrow_mut();
        if stack.len() < MAX_WARM_PER_THREAD {
            stack.push(live);
        }
    }
}
