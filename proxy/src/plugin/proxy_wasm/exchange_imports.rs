//! The host functions that act on a stream's exchange: header maps, buffers, properties, local
//! responses, stream control and `proxy_http_call` (queued; made once the callback returns).

use std::time::Duration;

use wasmtime::Linker;

use super::abi::{decode_pairs, encode_pairs, BufferType, MapType, Pairs, Status};
use super::imports::{done, Call};
use super::memory::{give, out, read, write};
use super::properties;
use super::state::{
    pair_bytes, replace, value_of, FilterHost, Growth, LocalResponse, PendingCall,
    MAX_CALLS_PER_CALLBACK,
};
use crate::plugin::output::MAX_BODY;

/// `proxy_http_call` timeout when the filter gives none.
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

fn buffer_type(n: u32) -> Result<BufferType, Status> {
    BufferType::from_abi(n).ok_or(Status::BadArgument)
}

fn map_type(n: u32) -> Result<MapType, Status> {
    MapType::from_abi(n).ok_or(Status::BadArgument)
}

pub fn add_maps(linker: &mut Linker<FilterHost>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        "env",
        "proxy_get_header_map_pairs",
        |mut caller: Call, (map, data_out, size_out): (u32, u32, u32)| {
            Box::new(async move {
                let encoded = match map_type(map)
                    .and_then(|map| caller.data().map(map).ok_or(Status::NotFound))
                {
                    Ok(pairs) => encode_pairs(pairs.iter().map(|(n, v)| (&n[..], &v[..]))),
                    Err(status) => return Ok(status as i32),
                };
                Ok(give(&mut caller, &encoded, data_out, size_out).await? as i32)
            })
        },
    )?;
    linker.func_wrap_async(
        "env",
        "proxy_get_header_map_value",
        |mut caller: Call, (map, key, key_len, data_out, size_out): (u32, u32, u32, u32, u32)| {
            Box::new(async move {
                let value = map_type(map).and_then(|map| {
                    let key = read(&caller, key, key_len)?;
                    let pairs = caller.data().map(map).ok_or(Status::NotFound)?;
                    value_of(pairs, &key)
                        .map(<[u8]>::to_vec)
                        .ok_or(Status::NotFound)
                });
                match value {
                    Ok(value) => Ok(give(&mut caller, &value, data_out, size_out).await? as i32),
                    Err(status) => Ok(status as i32),
                }
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_size",
        |mut caller: Call, map: u32, size_out: u32| {
            let size = map_type(map).and_then(|map| {
                let pairs = caller.data().map(map).ok_or(Status::NotFound)?;
                Ok(pairs
                    .iter()
                    .map(|(n, v)| n.len() + v.len() + 10)
                    .sum::<usize>() as u32
                    + 4)
            });
            done(size.map(|size| out(&mut caller, &[(size_out, size)])))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut caller: Call, map: u32, ptr: u32, len: u32| {
            done((|| {
                let map = map_type(map)?;
                let pairs = decode_pairs(&read(&caller, ptr, len)?).ok_or(Status::ParseFailure)?;
                let pairs: Pairs = pairs
                    .into_iter()
                    .map(|(n, v)| (n.to_ascii_lowercase(), v))
                    .collect();
                let size = Growth::Becomes(pairs.len(), pair_bytes(&pairs));
                Ok(caller
                    .data_mut()
                    .change_map(map, size, |current| *current = pairs))
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        |mut caller: Call, map: u32, key: u32, key_len: u32, value: u32, value_len: u32| {
            done((|| {
                let (map, key, value) = (
                    map_type(map)?,
                    read(&caller, key, key_len)?,
                    read(&caller, value, value_len)?,
                );
                let growth = Growth::Adds(key.len() + value.len());
                Ok(caller
                    .data_mut()
                    .change_map(map, growth, |pairs| replace(pairs, &key, &value)))
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut caller: Call, map: u32, key: u32, key_len: u32, value: u32, value_len: u32| {
            done((|| {
                let (map, key, value) = (
                    map_type(map)?,
                    read(&caller, key, key_len)?,
                    read(&caller, value, value_len)?,
                );
                let growth = Growth::Adds(key.len() + value.len());
                Ok(caller.data_mut().change_map(map, growth, |pairs| {
                    pairs.push((key.to_ascii_lowercase(), value))
                }))
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut caller: Call, map: u32, key: u32, key_len: u32| {
            done((|| {
                let (map, key) = (map_type(map)?, read(&caller, key, key_len)?);
                Ok(caller.data_mut().change_map(map, Growth::Shrinks, |pairs| {
                    pairs.retain(|(n, _)| !n.eq_ignore_ascii_case(&key))
                }))
            })())
        },
    )?;
    Ok(())
}

pub fn add_buffers_and_properties(linker: &mut Linker<FilterHost>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        "env",
        "proxy_get_buffer_bytes",
        |mut caller: Call, (buffer, start, max, data_out, size_out): (u32, u32, u32, u32, u32)| {
            Box::new(async move {
                let bytes = buffer_type(buffer).and_then(|buffer| {
                    let bytes = caller.data().buffer(buffer).ok_or(Status::NotFound)?;
                    let start = (start as usize).min(bytes.len());
                    let end = start.saturating_add(max as usize).min(bytes.len());
                    Ok(bytes[start..end].to_vec())
                });
                match bytes {
                    Ok(bytes) => Ok(give(&mut caller, &bytes, data_out, size_out).await? as i32),
                    Err(status) => Ok(status as i32),
                }
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut caller: Call, buffer: u32, start: u32, size: u32, ptr: u32, len: u32| {
            done((|| {
                let buffer = buffer_type(buffer)?;
                if len as usize > MAX_BODY {
                    return Err(Status::BadArgument);
                }
                let data = read(&caller, ptr, len)?;
                Ok(caller
                    .data_mut()
                    .splice_body(buffer, start as usize, size as usize, &data))
            })())
        },
    )?;
    linker.func_wrap_async(
        "env",
        "proxy_get_property",
        |mut caller: Call, (path, path_len, data_out, size_out): (u32, u32, u32, u32)| {
            Box::new(async move {
                let value = read(&caller, path, path_len)
                    .and_then(|path| properties::get(caller.data(), &path).ok_or(Status::NotFound));
                match value {
                    Ok(value) => Ok(give(&mut caller, &value, data_out, size_out).await? as i32),
                    Err(status) => Ok(status as i32),
                }
            })
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_property",
        |mut caller: Call, path: u32, path_len: u32, value: u32, value_len: u32| {
            done((|| {
                let (path, value) = (
                    read(&caller, path, path_len)?,
                    read(&caller, value, value_len)?,
                );
                let properties = &mut caller.data_mut().exchange.properties;
                let bytes: usize = properties.iter().map(|(k, v)| k.len() + v.len()).sum();
                if path.len() > 1024 || bytes + value.len() > 64 << 10 {
                    return Err(Status::BadArgument);
                }
                properties.insert(path, value);
                Ok(Status::Ok)
            })())
        },
    )?;
    Ok(())
}

pub fn add_stream_control(linker: &mut Linker<FilterHost>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut caller: Call,
         status: u32,
         _details: u32,
         _details_len: u32,
         body: u32,
         body_len: u32,
         headers: u32,
         headers_len: u32,
         _grpc_status: i32| {
            done((|| {
                if body_len as usize > MAX_BODY {
                    return Err(Status::BadArgument);
                }
                let body = read(&caller, body, body_len)?;
                let headers = decode_pairs(&read(&caller, headers, headers_len)?)
                    .ok_or(Status::ParseFailure)?;
                let headers = headers
                    .into_iter()
                    .map(|(n, v)| (n.to_ascii_lowercase(), v))
                    .collect();
                // The first local response answers, as in Envoy; a later one is ignored.
                let exchange = &mut caller.data_mut().exchange;
                if exchange.local_response.is_none() {
                    exchange.local_response = Some(LocalResponse {
                        status,
                        headers,
                        body,
                    });
                }
                Ok(Status::Ok)
            })())
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_continue_stream",
        |mut caller: Call, stream: u32| resume(&mut caller, stream),
    )?;
    linker.func_wrap("env", "proxy_continue_request", |mut caller: Call| {
        resume(&mut caller, 0)
    })?;
    linker.func_wrap("env", "proxy_continue_response", |mut caller: Call| {
        resume(&mut caller, 1)
    })?;
    linker.func_wrap(
        "env",
        "proxy_close_stream",
        |mut caller: Call, _stream: u32| {
            caller.data_mut().exchange.closed = true;
            Status::Ok as i32
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_effective_context",
        |_: Call, _context: u32| Status::Ok as i32,
    )?;
    linker.func_wrap("env", "proxy_done", |_: Call| Status::Ok as i32)?;
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |mut caller: Call,
         upstream: u32,
         upstream_len: u32,
         headers: u32,
         headers_len: u32,
         body: u32,
         body_len: u32,
         _trailers: u32,
         _trailers_len: u32,
         timeout_ms: u32,
         token_out: u32| {
            done((|| {
                let upstream = String::from_utf8(read(&caller, upstream, upstream_len)?).map_err(|_| Status::BadArgument)?;
                let headers = decode_pairs(&read(&caller, headers, headers_len)?).ok_or(Status::ParseFailure)?;
                if body_len as usize > MAX_BODY {
                    return Err(Status::BadArgument);
                }
                let body = read(&caller, body, body_len)?;
                let host = caller.data();
                let shared = &host.shared;
                let target = match shared.upstreams.get(&upstream) {
                    Some(target) => target.clone(),
                    None if shared.allowed_hosts.contains(&upstream) => upstream,
                    None => {
                        log::warn!("filter `{}`: proxy_http_call to `{upstream}`, which is neither an upstream nor allow-listed", shared.name);
                        return Err(Status::BadArgument);
                    }
                };
                if host.exchange.pending_calls.len() >= MAX_CALLS_PER_CALLBACK {
                    return Err(Status::BadArgument);
                }
                let text = |name: &[u8]| value_of(&headers, name).map(|v| String::from_utf8_lossy(v).into_owned());
                let (Some(method), Some(path)) = (text(b":method"), text(b":path")) else {
                    return Err(Status::BadArgument);
                };
                let headers = headers.iter().filter(|(n, _)| !n.starts_with(b":")).cloned().collect();
                let timeout = if timeout_ms == 0 { DEFAULT_CALL_TIMEOUT } else { Duration::from_millis(timeout_ms.into()) };
                let host = caller.data_mut();
                let token = host.next_token;
                host.next_token = host.next_token.wrapping_add(1).max(1);
                host.exchange.pending_calls.push(PendingCall { token, host: target, method, path, headers, body, timeout });
                write(&mut caller, token_out, &token.to_le_bytes())?;
                Ok(Status::Ok)
            })())
        },
    )?;
    Ok(())
}

fn resume(caller: &mut Call, stream: u32) -> i32 {
    match caller.data_mut().exchange.resumed.get_mut(stream as usize) {
        Some(resumed) => {
            *resumed = true;
            Status::Ok as i32
        }
        None => Status::BadArgument as i32,
    }
}
