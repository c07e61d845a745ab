//! What a route costs in the compiled snapshot, exactly: heap bytes that stay allocated (as
//! asked and as mimalloc rounds them) and allocations, per route, between an API of 100
//! `http_proxy` routes and one of ROUTES (the routes of `benches/memory.sh`), with the time to
//! load and compile each. Resident memory (`benches/memory.sh`) adds the allocator's page
//! rounding and what the parse freed but kept; this counts what the snapshot holds.
//!
//!   cargo build --release -p wasmgate --example route_memory
//!   route_memory [ROUTES]        (default 10000)

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use wasmgate::config::load_file;
use wasmgate::snapshot::{compile, Snapshot};

/// The gateway's allocator, counting what is live.
struct Counting;

static REQUESTED: AtomicIsize = AtomicIsize::new(0);
static USABLE: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)]
fn usable(ptr: *mut u8) -> isize {
    // SAFETY: `ptr` is a live block from mimalloc.
    unsafe { libmimalloc_sys::mi_usable_size(ptr as *const c_void) as isize }
}

fn count_alloc(ptr: *mut u8, layout: Layout) -> *mut u8 {
    if !ptr.is_null() {
        REQUESTED.fetch_add(layout.size() as isize, Relaxed);
        USABLE.fetch_add(usable(ptr), Relaxed);
        BLOCKS.fetch_add(1, Relaxed);
        ALLOCATIONS.fetch_add(1, Relaxed);
    }
    ptr
}

fn count_free(ptr: *mut u8, layout: Layout) {
    REQUESTED.fetch_sub(layout.size() as isize, Relaxed);
    USABLE.fetch_sub(usable(ptr), Relaxed);
    BLOCKS.fetch_sub(1, Relaxed);
}

// SAFETY: every call goes to `wasmgate::memory::Allocator` unchanged; the counters only read
// the blocks' sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_alloc(unsafe { wasmgate::memory::Allocator.alloc(layout) }, layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_alloc(
            unsafe { wasmgate::memory::Allocator.alloc_zeroed(layout) },
            layout,
        )
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count_free(ptr, layout);
        unsafe { wasmgate::memory::Allocator.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_free(ptr, layout);
        let grown = unsafe { wasmgate::memory::Allocator.realloc(ptr, layout, new_size) };
        let new_layout = Layout::from_size_align(new_size, layout.align()).expect("layout");
        count_alloc(grown, new_layout)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What the heap holds at one moment.
#[derive(Clone, Copy)]
struct Heap {
    requested: isize,
    usable: isize,
    blocks: isize,
    allocations: usize,
}

fn heap() -> Heap {
    Heap {
        requested: REQUESTED.load(Relaxed),
        usable: USABLE.load(Relaxed),
        blocks: BLOCKS.load(Relaxed),
        allocations: ALLOCATIONS.load(Relaxed),
    }
}

/// An API of `routes` `http_proxy` routes `GET /r<i>` to one upstream, as `benches/memory.sh`.
fn config(routes: usize) -> String {
    let mut text = String::from(
        "[server]\nlisten = [\"127.0.0.1:1\"]\naccess_log = \"off\"\nwatch_config = false\n\
         [admin]\nlisten = \"127.0.0.1:2\"\n\
         [upstreams.backend]\ntargets = [\"127.0.0.1:3\"]\n\
         [apis.bench]\ntype = \"http\"\n[apis.bench.stages.\"$default\"]\n",
    );
    for i in 0..routes {
        let _ = write!(
            text,
            "[apis.bench.routes.\"GET /r{i}\"]\n\
             integration = {{ type = \"http_proxy\", uri = \"http://backend/r{i}\" }}\n"
        );
    }
    text
}

/// The snapshot of `routes` routes, what it holds on the heap, and the milliseconds its load
/// and compile took.
fn measure(routes: usize, directory: &std::path::Path) -> (Snapshot, Heap, f64) {
    let path = directory.join(format!("routes-{routes}.toml"));
    std::fs::write(&path, config(routes)).expect("write the config");
    let before = heap();
    let started = Instant::now();
    let loaded = load_file(&path).expect("the config loads");
    let snapshot = compile(&loaded).expect("the config compiles");
    let took = started.elapsed().as_secs_f64() * 1000.0;
    drop(loaded);
    let after = heap();
    let held = Heap {
        requested: after.requested - before.requested,
        usable: after.usable - before.usable,
        blocks: after.blocks - before.blocks,
        allocations: after.allocations - before.allocations,
    };
    (snapshot, held, took)
}

fn main() {
    let routes: usize = std::env::args()
        .nth(1)
        .map_or(10_000, |n| n.parse().expect("ROUTES is a number"));
    assert!(routes > 100, "ROUTES is more than 100");
    let directory = std::env::temp_dir().join(format!("route-memory-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("a temporary directory");
    let (_small_snapshot, small, small_ms) = measure(100, &directory);
    let (_large_snapshot, large, large_ms) = measure(routes, &directory);
    let _ = std::fs::remove_dir_all(&directory);
    let per_route = |large: isize, small: isize| (large - small) as f64 / (routes - 100) as f64;
    println!("per route, {routes} routes against 100 (the snapshot only):");
    println!(
        "  held: {:.0} B as asked, {:.0} B as allocated, {:.1} blocks",
        per_route(large.requested, small.requested),
        per_route(large.usable, small.usable),
        per_route(large.blocks, small.blocks),
    );
    println!(
        "  allocations while loading and compiling: {:.1}",
        per_route(large.allocations as isize, small.allocations as isize)
    );
    println!("  load and compile: 100 routes {small_ms:.1} ms, {routes} routes {large_ms:.1} ms");
}
