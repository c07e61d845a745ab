//! The plugins' global allocator: blocks of up to 256 bytes are recycled through one free list
//! per 8-byte size class, in front of the system allocator (wasi-libc's dlmalloc), which serves
//! everything else and refills the lists. A phase call allocates and frees a few dozen small
//! blocks (strings the gateway hands in, the answer's lists), and a free-list pop or push is a
//! handful of instructions where dlmalloc's bins cost ~150 per pair. Each list keeps at most
//! [`KEPT_PER_CLASS`] blocks and hands the rest back to dlmalloc, so a burst of small
//! allocations (parsing a large JSON body) does not stay reserved for small blocks.
//!
//! Components run on one thread (`wasm32-wasip2` has no threads), so the lists need no locks;
//! the SDK installs it only there.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// Size classes are multiples of this (also the blocks' alignment, dlmalloc's minimum).
const GRANULE: usize = 8;
/// Number of classes: blocks up to `GRANULE * CLASSES` bytes are recycled.
const CLASSES: usize = 32;
/// Most free blocks one class keeps.
const KEPT_PER_CLASS: u32 = 256;

/// Free blocks of one size class: a singly linked list threaded through the blocks themselves.
#[derive(Clone, Copy)]
struct FreeList {
    head: *mut u8,
    len: u32,
}

/// The global allocator of plugins built with the SDK (feature `small-blocks`, on by default).
pub struct SmallBlocks {
    lists: UnsafeCell<[FreeList; CLASSES]>,
}

// SAFETY: WebAssembly components built for wasm32-wasip2 are single-threaded.
unsafe impl Sync for SmallBlocks {}

impl SmallBlocks {
    /// An allocator with empty lists.
    pub const fn new() -> Self {
        Self {
            lists: UnsafeCell::new(
                [FreeList {
                    head: ptr::null_mut(),
                    len: 0,
                }; CLASSES],
            ),
        }
    }

    /// The free list for blocks of `layout`, if they are small enough to recycle.
    fn list(&self, layout: Layout) -> Option<*mut FreeList> {
        if layout.size() == 0 || layout.size() > GRANULE * CLASSES || layout.align() > GRANULE {
            return None;
        }
        let lists = self.lists.get().cast::<FreeList>();
        // SAFETY: the class index is below `CLASSES`.
        Some(unsafe { lists.add((layout.size() - 1) / GRANULE) })
    }
}

impl Default for SmallBlocks {
    fn default() -> Self {
        Self::new()
    }
}

/// The layout the system allocator gives a block of the class `layout` falls in.
fn block_layout(layout: Layout) -> Layout {
    let size = layout.size().div_ceil(GRANULE) * GRANULE;
    // SAFETY: `size` is a non-zero multiple of the power-of-two `GRANULE`, far below isize::MAX.
    unsafe { Layout::from_size_align_unchecked(size, GRANULE) }
}

unsafe impl GlobalAlloc for SmallBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(list) = self.list(layout) else {
            // SAFETY: forwarded as given.
            return unsafe { System.alloc(layout) };
        };
        // SAFETY: single-threaded, and this is the only reference to the list meanwhile; a
        // free block starts with the pointer to the next one.
        unsafe {
            let list = &mut *list;
            if list.head.is_null() {
                return System.alloc(block_layout(layout));
            }
            let block = list.head;
            list.head = block.cast::<*mut u8>().read();
            list.len -= 1;
            block
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(list) = self.list(layout) else {
            // SAFETY: `block` came from `System` with this layout.
            return unsafe { System.dealloc(block, layout) };
        };
        // SAFETY: single-threaded, and this is the only reference to the list meanwhile; the
        // block is at least 8 bytes, 8-aligned, no longer in use, and came from `System` with
        // its class's layout.
        unsafe {
            let list = &mut *list;
            if list.len >= KEPT_PER_CLASS {
                return System.dealloc(block, block_layout(layout));
            }
            block.cast::<*mut u8>().write(list.head);
            list.head = block;
            list.len += 1;
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` is valid for `layout.align()`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let old_small = self.list(layout).is_some();
        let new_small = self.list(new_layout).is_some();
        if old_small && new_small && block_layout(layout) == block_layout(new_layout) {
            return block;
        }
        if !old_small && !new_small {
            // SAFETY: both layouts are the system allocator's: let it grow in place if it can.
            return unsafe { System.realloc(block, layout, new_size) };
        }
        // SAFETY: a fresh block of the new layout, the overlap copied, the old block freed.
        unsafe {
            let moved = self.alloc(new_layout);
            if !moved.is_null() {
                ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                self.dealloc(block, layout);
            }
            moved
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 1).unwrap()
    }

    #[test]
    fn a_freed_small_block_is_reused_by_its_size_class() {
        let blocks = SmallBlocks::new();
        unsafe {
            let first = blocks.alloc(layout(20));
            blocks.dealloc(first, layout(20));
            // 17..=24 bytes share a class.
            let again = blocks.alloc(layout(24));
            assert_eq!(again, first);
            let other = blocks.alloc(layout(30));
            assert_ne!(other, first);
            blocks.dealloc(again, layout(24));
            blocks.dealloc(other, layout(30));
        }
    }

    #[test]
    fn realloc_keeps_the_contents_across_classes_and_into_large_blocks() {
        let blocks = SmallBlocks::new();
        unsafe {
            let block = blocks.alloc(layout(10));
            ptr::copy_nonoverlapping(b"0123456789".as_ptr(), block, 10);
            let same = blocks.realloc(block, layout(10), 16);
            assert_eq!(same, block, "same class: grown in place");
            let small = blocks.realloc(same, layout(16), 100);
            let large = blocks.realloc(small, layout(100), 4096);
            assert_eq!(std::slice::from_raw_parts(large, 10), b"0123456789");
            let back = blocks.realloc(large, layout(4096), 8);
            assert_eq!(std::slice::from_raw_parts(back, 8), b"01234567");
            blocks.dealloc(back, layout(8));
        }
    }

    #[test]
    fn a_class_keeps_a_bounded_number_of_free_blocks() {
        let blocks = SmallBlocks::new();
        let count = KEPT_PER_CLASS as usize + 50;
        unsafe {
            let held: Vec<*mut u8> = (0..count).map(|_| blocks.alloc(layout(64))).collect();
            for block in held {
                blocks.dealloc(block, layout(64));
            }
            let list = blocks.list(layout(64)).unwrap();
            assert_eq!((*list).len, KEPT_PER_CLASS);
        }
    }

    #[test]
    fn zero_sized_over_aligned_and_large_layouts_bypass_the_lists() {
        let blocks = SmallBlocks::new();
        assert!(blocks.list(layout(0)).is_none());
        assert!(blocks.list(layout(GRANULE * CLASSES + 1)).is_none());
        assert!(blocks
            .list(Layout::from_size_align(32, 16).unwrap())
            .is_none());
        assert!(blocks.list(layout(GRANULE * CLASSES)).is_some());
    }
}
