//! The global allocator ([`Allocator`], mimalloc) and its settings: memory the gateway no
//! longer uses goes back to the system instead of staying resident. Loading a plugin allocates
//! and frees tens of MiB at once (a Python or JavaScript component's compiled code is read,
//! decompressed and copied into place); with mimalloc's defaults — arenas committed eagerly,
//! freed memory purged a second later and only when an allocation happens to trigger it — a
//! gateway with one Python plugin stayed at ~230 MB resident, of which ~200 MB were freed.
//! Everything here is mimalloc's documented C API, called as its contract says.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys::{
    mi_collect, mi_free, mi_malloc, mi_malloc_aligned, mi_option_set, mi_option_t, mi_realloc,
    mi_realloc_aligned, mi_zalloc, mi_zalloc_aligned,
};

/// mimalloc, through its plain `malloc` entry points wherever they already give the alignment
/// asked for, as Rust's own system allocator does with `malloc`. (The `mimalloc` crate's
/// allocator calls `mi_malloc_aligned` for everything; in mimalloc v3 that takes a slow
/// over-allocating path for any block over 1 KiB whose size class is not a power of two —
/// ~19 allocations a proxied request, ~3.5 k instructions, `docs/architecture.md`.)
pub struct Allocator;

/// The alignment `mi_malloc` guarantees for a block of at least this size (`MI_MAX_ALIGN_SIZE`).
const MALLOC_ALIGN: usize = 16;

/// Whether `mi_malloc` of `size` bytes is aligned enough for `align`.
fn malloc_aligns(size: usize, align: usize) -> bool {
    align <= MALLOC_ALIGN && align <= size
}

// SAFETY: every block comes from mimalloc, aligned as the layout asks (by `mi_malloc` where it
// guarantees that alignment, by the `_aligned` calls otherwise), and is freed or resized by
// mimalloc, which accepts blocks of either kind.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if malloc_aligns(layout.size(), layout.align()) {
            mi_malloc(layout.size()).cast()
        } else {
            mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if malloc_aligns(layout.size(), layout.align()) {
            mi_zalloc(layout.size()).cast()
        } else {
            mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi_free(ptr.cast::<c_void>());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if malloc_aligns(new_size, layout.align()) {
            mi_realloc(ptr.cast::<c_void>(), new_size).cast()
        } else {
            mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn every_layout_gets_its_alignment_and_keeps_it_through_realloc() {
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in [1, 3, 8, 12, 16, 24, 40, 1000, 1500, 5000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero-sized layout; each block is written within its size and
                // freed once, with the layout it was allocated with.
                unsafe {
                    let block = Allocator.alloc(layout);
                    assert!(!block.is_null());
                    assert_eq!(block as usize % align, 0, "size {size}, align {align}");
                    block.write_bytes(0xa5, size);
                    let grown = Allocator.realloc(block, layout, size * 3);
                    assert_eq!(grown as usize % align, 0, "realloc {size}, align {align}");
                    assert_eq!(*grown.add(size - 1), 0xa5);
                    Allocator.dealloc(grown, Layout::from_size_align(size * 3, align).unwrap());
                    let zeroed = Allocator.alloc_zeroed(layout);
                    assert_eq!(zeroed as usize % align, 0);
                    assert!((0..size).all(|i| *zeroed.add(i) == 0));
                    Allocator.dealloc(zeroed, layout);
                }
            }
        }
    }
}
