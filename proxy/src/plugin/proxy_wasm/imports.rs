//! The `env` host functions of the proxy-wasm ABI 0.2 (0.2.0 and 0.2.1), assembled into one
//! linker: logging, time, shared data and queues, metrics and ticks here, those acting on the
//! stream's exchange in `exchange_imports`. Functions wasmgate does not provide (gRPC calls, foreign
//! functions) are present and answer `Unimplemented`, so every SDK's modules link.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime::{Caller, Engine, Linker, Module, Val, ValType};

use super::abi::{MetricType, Status};
use super::memory::{give, out, read, write};
use super::state::FilterHost;
use super::{exchange_imports, shared, wasi};

/// Longest log message kept from a filter.
const MAX_LOG_MESSAGE: usize = 4096;

/// A host function's caller.
pub type Call<'a> = Caller<'a, FilterHost>;

/// A host function's status as the ABI returns it.
pub fn done(result: Result<Status, Status>) -> i32 {
    result.unwrap_or_else(|status| status) as i32
}

/// Every host function of the ABI, and the WASI functions filters import.
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<FilterHost>> {
    let mut linker = Linker::new(engine);
    add_logging_and_time(&mut linker)?;
    exchange_imports::add_maps(&mut linker)?;
    exchange_imports::add_buffers_and_properties(&mut linker)?;
    exchange_imports::add_stream_control(&mut linker)?;
    add_shared_data(&mut linker)?;
    add_metrics(&mut linker)?;
    wasi::add(&mut linker)?;
    Ok(linker)
}

/// Define each ABI function (`env.proxy_*`) and WASI function `module` imports that `linker`
/// lacks, answering `Unimplemented` (or WASI's `ENOSYS`), so modules built against a larger ABI
/// link and learn at the call. Any other unknown import is left unresolved, and the module
/// refused at load, as Envoy refuses it.
pub fn stub_unknown(linker: &mut Linker<FilterHost>, module: &Module) {
    for import in module.imports() {
        let Some(ty) = import.ty().func().cloned() else {
            continue;
        };
        let code = match import.module() {
            "wasi_snapshot_preview1" | "wasi_unstable" => wasi::ENOSYS,
            "env" if import.name().starts_with("proxy_") => Status::Unimplemented as i32,
            _ => continue,
        };
        // Defining an import the linker has fails, which leaves the real one.
        let _ = linker.func_new(
            import.module(),
            import.name(),
            ty.clone(),
            move |_, _, results| {
                for (result, ty) in results.iter_mut().zip(ty.results()) {
                    *result = match ty {
                        ValType::I32 => Val::I32(code),
                        ValType::I64 => Val::I64(0),
                        ValType::F32 => Val::F32(0),
                        ValType::F64 => Val::F64(0),
                        _ => Val::null_func_ref(),
                    };
                }
                Ok(())
            },
        );
    }
}

fn add_logging_and_time(linker: &mut Linker<FilterHost>) -> wasmtime::Result<()> {
    linker.func_wrap("env", "proxy_log", |caller: Call, level: u32, ptr: u32, len: u32| {
        let len = len.min(MAX_LOG_MESSAGE as u32);
        done(read(&caller, ptr, len).map(|message| {
            let level = match level {
                0 => log::Level::Trace,
                1 => log::Level::Debug,
                2 => log::Level::Info,
                3 => log::Level::Warn,
                _ => log::Level::Error,
            };
            let name = &caller.data().shared.name;
            log::log!(target: "wasmgate::plugin", level, "filter `{name}`: {}", String::from_utf8_lossy(&message));
            Status::Ok
        }))
    })?;
    linker.func_wrap(
        "env",
        "proxy_get_log_level",
        |mut caller: Call, level_out: u32| {
            let level = match log::max_level() {
                log::LevelFilter::Trace => 0,
                log::LevelFilter::Debug => 1,
                log::LevelFilter::Info => 2,
                log::LevelFilter::Warn => 3,
                log::LevelFilter::Error => 4,
                log::LevelFilter::Off => 5,
            };
            out(&mut caller, &[(level_out, level)]) as i32
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut caller: Call, time_out: u32| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            done(
                write(
                    &mut caller,
                    time_out,
                    &(now.as_nanos() as u64).to_le_bytes(),
                )
                .map(|()| Status::Ok),
            )
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut caller: Call, period: u32| {
            caller.data_mut().tick_period =
                (period > 0).then(|| Duration::from_millis(period.into()));
            Status::Ok as i32
        },
    )?;
    Ok(())
}

fn add_shared_data(linker: &mut Linker<FilterHost>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        "env",
        "proxy_get_shared_data",
        |mut caller: Call,
         (key, key_len, data_out, size_out, cas_out): (u32, u32, u32, u32, u32)| {
            Box::new(async move {
                let found = read(&caller, key, key_len)
                    .and_then(|key| caller.data().shared.vm.get(&key).ok_or(Status::NotFound));
                let (value, cas) = match found {
                    Ok(found) => found,
                    Err(status) => return Ok(status as i32),
                };
                match give(&mut caller, &value, data_out, size_out).await? {
                    Status::Ok => Ok(out(&mut caller, &[(cas_out, cas)]) as i32),
                    status => Ok(status as i32),
                }
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_shared_data",
        |caller: Call, key: u32, key_len: u32, value: u32, value_len: u32, cas: u32| {
            done((|| {
                let (key, value) = (
                    read(&caller, key, key_len)?,
                    read(&caller, value, value_len)?,
                );
                Ok(caller.data().shared.vm.set(&key, value, cas))
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_register_shared_queue",
        |mut caller: Call, name: u32, name_len: u32, id_out: u32| {
            done((|| {
                let name = read(&caller, name, name_len)?;
                let host = caller.data();
                let id = host
                    .shared
                    .vm
                    .register_queue(&name, host.queue_listener.clone())?;
                caller.data_mut().registered_queue = true;
                Ok(out(&mut caller, &[(id_out, id)]))
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_resolve_shared_queue",
        |mut caller: Call, vm_id: u32, vm_id_len: u32, name: u32, name_len: u32, id_out: u32| {
            done((|| {
                let (vm_id, name) = (
                    read(&caller, vm_id, vm_id_len)?,
                    read(&caller, name, name_len)?,
                );
                let vm = match std::str::from_utf8(&vm_id) {
                    Ok("") => caller.data().shared.vm.clone(),
                    Ok(vm_id) => shared::vm(vm_id),
                    Err(_) => return Err(Status::BadArgument),
                };
                let id = vm.resolve_queue(&name).ok_or(Status::NotFound)?;
                Ok(out(&mut caller, &[(id_out, id)]))
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_enqueue_shared_queue",
        |caller: Call, id: u32, value: u32, value_len: u32| {
            done(read(&caller, value, value_len).map(|value| shared::enqueue(id, value)))
        },
    )?;
    linker.func_wrap_async(
        "env",
        "proxy_dequeue_shared_queue",
        |mut caller: Call, (id, data_out, size_out): (u32, u32, u32)| {
            Box::new(async move {
                match shared::dequeue(id) {
                    Ok(item) => Ok(give(&mut caller, &item, data_out, size_out).await? as i32),
                    Err(status) => Ok(status as i32),
                }
            })
        },
    )?;
    Ok(())
}

fn add_metrics(linker: &mut Linker<FilterHost>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut caller: Call, kind: u32, name: u32, name_len: u32, id_out: u32| {
            done((|| {
                let kind = MetricType::from_abi(kind).ok_or(Status::BadArgument)?;
                let name = read(&caller, name, name_len)?;
                let shared = &caller.data().shared;
                let id = shared.metrics.define(&shared.name, kind, &name)?;
                Ok(out(&mut caller, &[(id_out, id)]))
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_increment_metric",
        |caller: Call, id: u32, offset: i64| {
            caller.data().shared.metrics.increment(id, offset) as i32
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_record_metric",
        |caller: Call, id: u32, value: u64| caller.data().shared.metrics.record(id, value) as i32,
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_metric",
        |mut caller: Call, id: u32, value_out: u32| {
            done(caller.data().shared.metrics.get(id).and_then(|value| {
                write(&mut caller, value_out, &value.to_le_bytes()).map(|()| Status::Ok)
            }))
        },
    )?;
    Ok(())
}
