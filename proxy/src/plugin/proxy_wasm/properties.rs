//! `proxy_get_property`: the attributes Envoy offers filters, where wasmgate knows them
//! (request and response, source, plugin and route names), encoded as Envoy encodes them
//! (strings as bytes, integers as 8-byte little-endian, header maps in the map format), plus
//! the gateway's own under `wasmgate.*`; and what the filter itself set on the stream.

use super::abi::{encode_pairs, Pairs};
use super::state::{value_of, FilterHost};

/// The value of the property at `path` (segments separated by NUL), if there is one.
pub fn get(host: &FilterHost, path: &[u8]) -> Option<Vec<u8>> {
    if let Some(value) = host.exchange.properties.get(path) {
        return Some(value.clone());
    }
    let segments: Vec<&[u8]> = path.split(|b| *b == 0).collect();
    let text: Vec<&str> = segments
        .iter()
        .map(|s| std::str::from_utf8(s).ok())
        .collect::<Option<_>>()?;
    let exchange = &host.exchange;
    let request = exchange.request_headers.as_ref();
    let header = |name: &str| {
        request
            .and_then(|pairs| value_of(pairs, name.as_bytes()))
            .map(<[u8]>::to_vec)
    };
    let context = exchange.context.as_deref();
    let shared = &host.shared;
    Some(match text[..] {
        ["plugin_name"] => shared.name.clone().into_bytes(),
        ["plugin_root_id"] | ["root_id"] => shared.root_id.clone().into_bytes(),
        ["plugin_vm_id"] | ["vm_id"] => shared.vm_id.clone().into_bytes(),
        ["request", "path"] => header(":path")?,
        ["request", "url_path"] => {
            let path = header(":path")?;
            let end = path.iter().position(|b| *b == b'?').unwrap_or(path.len());
            path[..end].to_vec()
        }
        ["request", "query"] => {
            let path = header(":path")?;
            let start = path.iter().position(|b| *b == b'?')? + 1;
            path[start..].to_vec()
        }
        ["request", "host"] => header(":authority")?,
        ["request", "method"] => header(":method")?,
        ["request", "scheme"] => header(":scheme")?,
        ["request", "protocol"] => b"HTTP/1.1".to_vec(),
        ["connection", "mtls"] => vec![u8::from(context?.client_cert.is_some())],
        ["connection", "subject_peer_certificate"] => context?
            .client_cert
            .as_ref()?
            .subject_dn
            .clone()
            .into_bytes(),
        ["request", "useragent"] => header("user-agent")?,
        ["request", "referer"] => header("referer")?,
        ["request", "id"] => context?.request_id.clone().into_bytes(),
        ["request", "headers"] => encode_map(request?),
        ["request", "headers", name] => header(name)?,
        ["response", "code"] => {
            let status = value_of(exchange.response_headers.as_ref()?, b":status")?;
            let code: i64 = std::str::from_utf8(status).ok()?.parse().ok()?;
            code.to_le_bytes().to_vec()
        }
        ["response", "headers"] => encode_map(exchange.response_headers.as_ref()?),
        ["response", "headers", name] => {
            value_of(exchange.response_headers.as_ref()?, name.as_bytes())?.to_vec()
        }
        ["source", "address"] => context?.source_ip?.to_string().into_bytes(),
        ["route_name"] | ["wasmgate", "route"] => route(context, |names| &names.route)?,
        ["wasmgate", "api"] => route(context, |names| &names.api)?,
        ["wasmgate", "stage"] => route(context, |names| &names.stage)?,
        ["wasmgate", "principal"] => context?.principal.clone()?.into_bytes(),
        ["wasmgate", "authorizer", key] => context?
            .authorizer_context
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone().into_bytes())?,
        ["wasmgate", "stage_variables", name] => context?
            .route
            .as_ref()?
            .stage_variables
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone().into_bytes())?,
        _ => return None,
    })
}

fn route(
    context: Option<&crate::plugin::RequestContext>,
    name: impl Fn(&crate::plugin::RouteNames) -> &std::sync::Arc<str>,
) -> Option<Vec<u8>> {
    Some(name(context?.route.as_deref()?).as_bytes().to_vec())
}

fn encode_map(pairs: &Pairs) -> Vec<u8> {
    encode_pairs(pairs.iter().map(|(n, v)| (&n[..], &v[..])))
}
