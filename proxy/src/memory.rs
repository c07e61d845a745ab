//! The allocator's settings (mimalloc, the binary's global allocator): memory the gateway no
//! longer uses goes back to the system instead of staying resident. Loading a plugin allocates
//! and frees tens of MiB at once (a Python or JavaScript component's compiled code is read,
//! decompressed and copied into place); with mimalloc's defaults — arenas committed eagerly,
//! freed memory purged a second later and only when an allocation happens to trigger it — a
//! gateway with one Python plugin stayed at ~230 MB resident, of which ~200 MB were freed.
//! The two calls below are mimalloc's documented C API; nothing else here is unsafe.

use libmimalloc_sys::{mi_collect, mi_option_set, mi_option_t};

/// `mi_option_arena_eager_commit` in mimalloc v3's `mi_option_e` (include/mimalloc.h).
const ARENA_EAGER_COMMIT: mi_option_t = 4;

/// Commit arena memory as it is used rather than whole arenas up front (call first in `main`).
pub fn configure() {
    // SAFETY: `mi_option_set` only stores a value in mimalloc's option table, which is valid for
    // the whole process; it is called before any other thread exists.
    #[allow(unsafe_code)]
    unsafe {
        mi_option_set(ARENA_EAGER_COMMIT, 0);
    }
}

/// Give the memory freed so far back to the system now (after a config load).
pub fn release_freed() {
    // SAFETY: `mi_collect` is thread-safe and takes no pointers; `force` purges at once.
    #[allow(unsafe_code)]
    unsafe {
        mi_collect(true);
    }
}
