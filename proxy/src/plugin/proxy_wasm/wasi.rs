//! The few WASI preview 1 functions proxy-wasm filters import (`wasi_snapshot_preview1`, and
//! `wasi_unstable` for older toolchains), as Envoy provides them: standard output and error go
//! to the gateway's log, clocks and randomness work, the environment and arguments are empty,
//! `proc_exit` ends the call. Anything else (files, sockets) answers `ENOSYS`.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmtime::{Caller, Linker};

use super::memory::{read, write};
use super::state::FilterHost;

/// WASI's "function not supported".
pub const ENOSYS: i32 = 52;
/// WASI's "bad file descriptor".
const EBADF: i32 = 8;
/// WASI's "invalid argument".
const EINVAL: i32 = 28;
/// WASI's "I/O error".
const EIO: i32 = 29;
/// WASI's "bad address".
const EFAULT: i32 = 21;
/// Longest line kept from one `fd_write`.
const MAX_LINE: usize = 4096;
/// Most random bytes one call may ask for.
const MAX_RANDOM: u32 = 64 << 10;

type Call<'a> = Caller<'a, FilterHost>;

/// Define the functions under both WASI module names.
pub fn add(linker: &mut Linker<FilterHost>) -> wasmtime::Result<()> {
    for module in ["wasi_snapshot_preview1", "wasi_unstable"] {
        linker.func_wrap(module, "fd_write", fd_write)?;
        linker.func_wrap(module, "environ_sizes_get", empty_sizes)?;
        linker.func_wrap(module, "args_sizes_get", empty_sizes)?;
        linker.func_wrap(module, "environ_get", |_: Call, _: u32, _: u32| 0)?;
        linker.func_wrap(module, "args_get", |_: Call, _: u32, _: u32| 0)?;
        linker.func_wrap(module, "clock_time_get", clock_time_get)?;
        linker.func_wrap(module, "random_get", random_get)?;
        linker.func_wrap(module, "sched_yield", |_: Call| 0)?;
        linker.func_wrap(module, "fd_prestat_get", |_: Call, _: u32, _: u32| EBADF)?;
        linker.func_wrap(
            module,
            "proc_exit",
            |_: Call, code: u32| -> wasmtime::Result<()> {
                Err(wasmtime::format_err!("the filter called proc_exit({code})"))
            },
        )?;
    }
    Ok(())
}

fn fd_write(mut caller: Call, fd: u32, iovs: u32, iovs_len: u32, written_out: u32) -> i32 {
    if fd != 1 && fd != 2 {
        return EBADF;
    }
    let mut text = Vec::new();
    let mut total: u32 = 0;
    for i in 0..iovs_len.min(1024) {
        let Ok(iov) = read(&caller, iovs.wrapping_add(i * 8), 8) else {
            return EFAULT;
        };
        let ptr = u32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
        let len = u32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
        let keep = (MAX_LINE - text.len()).min(len as usize) as u32;
        match read(&caller, ptr, keep) {
            Ok(bytes) => text.extend_from_slice(&bytes),
            Err(_) => return EFAULT,
        }
        total = total.saturating_add(len);
    }
    let level = if fd == 2 {
        log::Level::Warn
    } else {
        log::Level::Info
    };
    let message = String::from_utf8_lossy(&text);
    let message = message.trim_end();
    if !message.is_empty() {
        let name = &caller.data().shared.name;
        log::log!(target: "wasmgate::plugin", level, "filter `{name}`: {message}");
    }
    match write(&mut caller, written_out, &total.to_le_bytes()) {
        Ok(()) => 0,
        Err(_) => EFAULT,
    }
}

fn empty_sizes(mut caller: Call, count_out: u32, size_out: u32) -> i32 {
    let zero = 0u32.to_le_bytes();
    match write(&mut caller, count_out, &zero).and_then(|()| write(&mut caller, size_out, &zero)) {
        Ok(()) => 0,
        Err(_) => EFAULT,
    }
}

/// The process's start, the origin of the monotonic clock.
static ORIGIN: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

fn clock_time_get(mut caller: Call, clock: u32, _precision: u64, time_out: u32) -> i32 {
    let nanos = match clock {
        0 => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64,
        1..=3 => ORIGIN.elapsed().as_nanos() as u64,
        _ => return EINVAL,
    };
    match write(&mut caller, time_out, &nanos.to_le_bytes()) {
        Ok(()) => 0,
        Err(_) => EFAULT,
    }
}

fn random_get(mut caller: Call, buf: u32, len: u32) -> i32 {
    if len > MAX_RANDOM {
        return EINVAL;
    }
    let mut bytes = vec![0; len as usize];
    if getrandom::fill(&mut bytes).is_err() {
        return EIO;
    }
    match write(&mut caller, buf, &bytes) {
        Ok(()) => 0,
        Err(_) => EFAULT,
    }
}
