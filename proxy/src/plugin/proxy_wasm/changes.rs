//! What a filter's callbacks changed, as a transformer's answer: the request and response heads
//! as header maps with pseudo-headers, and the maps and bodies the callbacks left diffed into
//! request- or response-transformer changes (or a local response into a plugin's response).

use super::abi::Pairs;
use super::instance::Live;
use super::state::{self, LocalResponse};
use crate::plugin::bindings::types::{Header, Response};
use crate::plugin::heads::{Headers, RequestView};
use crate::plugin::output::{self, MAX_BODY};
use crate::plugin::{Fault, RequestChanges, ResponseChanges};

/// The request head as a filter sees it: the pseudo-headers first (`:scheme` as the client
/// reached the gateway), then the headers (`host` is `:authority`).
pub fn request_pairs(view: &RequestView, scheme: &str) -> Pairs {
    let target = match &view.query {
        Some(query) => format!("{}?{query}", view.path),
        None => view.path.clone(),
    };
    let authority = view
        .headers
        .iter()
        .find(|(n, _)| n == http::header::HOST)
        .map_or_else(Vec::new, |(_, v)| v.as_bytes().to_vec());
    let mut pairs = vec![
        (b":authority".to_vec(), authority),
        (b":path".to_vec(), target.into_bytes()),
        (
            b":method".to_vec(),
            view.method.as_str().as_bytes().to_vec(),
        ),
        (b":scheme".to_vec(), scheme.as_bytes().to_vec()),
    ];
    pairs.extend(
        view.headers
            .iter()
            .filter(|(n, _)| n != http::header::HOST)
            .map(|(n, v)| (n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec())),
    );
    pairs
}

/// The response head as a filter sees it: `:status`, then the headers.
pub fn response_pairs(status: u16, headers: &Headers) -> Pairs {
    let mut pairs = Vec::with_capacity(headers.len() + 1);
    pairs.push((b":status".to_vec(), status.to_string().into_bytes()));
    pairs.extend(
        headers
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec())),
    );
    pairs
}

fn text(bytes: &[u8], what: &str) -> Result<String, Fault> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Fault::Invalid(format!("a {what} that is not UTF-8")))
}

/// The header changes from `before` to `after` as a transformer's answer: each header whose
/// values changed is set to its new values (or removed). Pseudo-headers are left to the caller;
/// framing headers (`content-length`, `transfer-encoding`, ...) are the gateway's and a
/// filter's changes to them are ignored, as it frames the message itself.
pub fn header_changes(before: &Pairs, after: &Pairs) -> Result<(Vec<Header>, Vec<String>), Fault> {
    let values = |pairs: &Pairs, name: &[u8]| -> Vec<Vec<u8>> {
        pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut names: Vec<&[u8]> = Vec::new();
    for (name, _) in after.iter().chain(before) {
        if !name.starts_with(b":") && !names.contains(&&name[..]) {
            names.push(name);
        }
    }
    let (mut set, mut removed) = (Vec::new(), Vec::new());
    for name in names {
        let new = values(after, name);
        if new == values(before, name) || output::gateway_owned(&String::from_utf8_lossy(name)) {
            continue;
        }
        let name = text(name, "header name")?;
        if new.is_empty() {
            removed.push(name);
            continue;
        }
        for value in new {
            set.push(Header {
                name: name.clone(),
                value: text(&value, "header value")?,
            });
        }
    }
    Ok((set, removed))
}

/// A local response as a plugin's response, checked; like Envoy's local replies, a body
/// without a `content-type` is `text/plain`.
pub fn local_response(local: LocalResponse) -> Result<Response, Fault> {
    let status = u16::try_from(local.status)
        .map_err(|_| Fault::Invalid(format!("status {}", local.status)))?;
    let mut headers: Vec<Header> = local
        .headers
        .iter()
        .filter(|(n, _)| !output::gateway_owned(&String::from_utf8_lossy(n)))
        .map(|(n, v)| {
            Ok(Header {
                name: text(n, "header name")?,
                value: text(v, "header value")?,
            })
        })
        .collect::<Result<_, Fault>>()?;
    if !local.body.is_empty() && !headers.iter().any(|h| h.name == "content-type") {
        headers.push(Header {
            name: "content-type".into(),
            value: "text/plain".into(),
        });
    }
    let response = Response {
        status,
        headers,
        body: local.body,
    };
    output::check_response(&response)?;
    Ok(response)
}

/// What the request callbacks changed, as request-transformer changes.
/// The map is compared with the request only if a callback changed it.
pub fn request_changes(live: &mut Live, request: &RequestView) -> Result<RequestChanges, Fault> {
    let exchange = &mut live.host().exchange;
    let body = exchange
        .request_body_changed
        .then(|| exchange.request_body.take())
        .flatten();
    if !exchange.request_headers_changed {
        return Ok(RequestChanges {
            method: None,
            path: None,
            query: None,
            set_headers: Vec::new(),
            remove_headers: Vec::new(),
            body,
        });
    }
    let scheme = exchange.context.as_deref().map_or("http", |c| c.scheme);
    let before = &request_pairs(request, scheme);
    let after = exchange.request_headers.take().unwrap_or_default();
    let (mut set_headers, remove_headers) = header_changes(before, &after)?;
    let pseudo = |pairs: &Pairs, name: &[u8]| state::value_of(pairs, name).map(<[u8]>::to_vec);
    let changed = |name: &[u8]| {
        let new = pseudo(&after, name);
        (new != pseudo(before, name)).then_some(new).flatten()
    };
    let method = changed(b":method")
        .map(|m| text(&m, "method"))
        .transpose()?;
    let (mut path, mut query) = (None, None);
    if let Some(target) = changed(b":path") {
        let target = text(&target, "path")?;
        let (p, q) = target.split_once('?').unwrap_or((&target, ""));
        path = Some(p.to_string());
        query = Some(q.to_string());
    }
    if let Some(authority) = changed(b":authority") {
        set_headers.push(Header {
            name: "host".into(),
            value: checked_authority(text(&authority, "authority")?)?,
        });
    }
    Ok(RequestChanges {
        method,
        path,
        query,
        set_headers,
        remove_headers,
        body,
    })
}

/// An `:authority` a filter set, if it is a host with an optional port (no user info).
fn checked_authority(authority: String) -> Result<String, Fault> {
    let invalid = || Fault::Invalid(format!("authority `{}`", authority.escape_debug()));
    let parsed = http::uri::Authority::try_from(authority.as_str()).map_err(|_| invalid())?;
    let port_ok = parsed
        .port()
        .is_none_or(|port| port.as_str().parse::<u16>().is_ok());
    if authority.contains('@') || parsed.host().is_empty() || !port_ok {
        return Err(invalid());
    }
    Ok(authority)
}

/// What the response callbacks changed, as response-transformer changes.
/// The map is compared with the response only if a callback changed it.
pub fn response_changes(
    live: &mut Live,
    status: u16,
    headers: &Headers,
) -> Result<ResponseChanges, Fault> {
    let exchange = &mut live.host().exchange;
    let body = exchange
        .response_body_changed
        .then(|| exchange.response_body.take())
        .flatten();
    if body.as_ref().is_some_and(|b| b.len() > MAX_BODY) {
        return Err(Fault::Invalid("a body over 10 MiB".into()));
    }
    if !exchange.response_headers_changed {
        return Ok(ResponseChanges {
            status: None,
            set_headers: Vec::new(),
            remove_headers: Vec::new(),
            body,
        });
    }
    let before = &response_pairs(status, headers);
    let after = exchange.response_headers.take().unwrap_or_default();
    let (set_headers, remove_headers) = header_changes(before, &after)?;
    let new_status = match state::value_of(&after, b":status") {
        Some(value) => {
            let value: u16 = text(value, "status")?
                .parse()
                .map_err(|_| Fault::Invalid("a status that is not a number".into()))?;
            (value != status).then_some(value)
        }
        None => None,
    };
    Ok(ResponseChanges {
        status: new_status,
        set_headers,
        remove_headers,
        body,
    })
}
