//! The `wasmgate` binary: see [`wasmgate::cli`].

/// mimalloc: the proxy allocates many small, short-lived buffers per request, where glibc's
/// allocator showed up as ~12% of CPU in profiles.
#[global_allocator]
static ALLOCATOR: wasmgate::memory::Allocator = wasmgate::memory::Allocator;

fn main() -> std::process::ExitCode {
    wasmgate::cli::run()
}
