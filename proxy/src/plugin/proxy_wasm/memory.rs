//! Moving bytes between the host and a proxy-wasm instance's linear memory: reads checked
//! against the memory's size (a bad pointer is the filter's `InvalidMemoryAccess`, never the
//! host's fault), and results handed back the ABI's way — allocated in the guest with its
//! `proxy_on_memory_allocate` and returned through two out-pointers.

use wasmtime::Caller;

use super::abi::Status;
use super::state::FilterHost;

/// Bytes `len` at `ptr` of the caller's memory.
pub fn read(caller: &Caller<'_, FilterHost>, ptr: u32, len: u32) -> Result<Vec<u8>, Status> {
    let memory = caller.data().memory.ok_or(Status::InternalFailure)?;
    let start = ptr as usize;
    memory
        .data(caller)
        .get(start..start + len as usize)
        .map(<[u8]>::to_vec)
        .ok_or(Status::InvalidMemoryAccess)
}

/// Write `bytes` at `ptr` of the caller's memory.
pub fn write(caller: &mut Caller<'_, FilterHost>, ptr: u32, bytes: &[u8]) -> Result<(), Status> {
    let memory = caller.data().memory.ok_or(Status::InternalFailure)?;
    memory
        .write(caller, ptr as usize, bytes)
        .map_err(|_| Status::InvalidMemoryAccess)
}

/// Hand `bytes` to the guest: allocated in its memory (nothing for empty bytes, as Envoy
/// does), with the address written at `data_out` and the length at `size_out`. A trap in the
/// guest's allocator is the filter's fault.
pub async fn give(
    caller: &mut Caller<'_, FilterHost>,
    bytes: &[u8],
    data_out: u32,
    size_out: u32,
) -> wasmtime::Result<Status> {
    let address = if bytes.is_empty() {
        0
    } else {
        let Some(allocate) = caller.data().allocate.clone() else {
            return Ok(Status::InternalFailure);
        };
        let len = u32::try_from(bytes.len()).map_err(|_| wasmtime::format_err!("too large"))?;
        let address = allocate.call_async(&mut *caller, len).await?;
        if let Err(status) = write(caller, address, bytes) {
            return Ok(status);
        }
        address
    };
    Ok(out(
        caller,
        &[(data_out, address), (size_out, bytes.len() as u32)],
    ))
}

/// Write each `(pointer, value)` as a little-endian `u32`.
pub fn out(caller: &mut Caller<'_, FilterHost>, words: &[(u32, u32)]) -> Status {
    for (ptr, value) in words {
        if let Err(status) = write(caller, *ptr, &value.to_le_bytes()) {
            return status;
        }
    }
    Status::Ok
}
