//! The transport's word on a request, before routing: plaintext on a redirect listener is sent
//! to HTTPS (308), a TLS server name that is not the `Host` is refused (421: no domain fronting,
//! and what HTTP/2 clients that coalesced connections retry on), and a domain with mutual TLS
//! wants a client certificate its truststore verified (403) — and forwards it to backends when
//! the domain says so.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::Result;

use super::context::RequestCtx;
use super::outcome::Refusal;
use super::respond;
use crate::gateway_response::ErrorKind;
use crate::tls::ConnectionTls;

/// What the transport decided.
pub enum Verdict {
    /// Go on.
    Pass,
    /// Refused.
    Refused(Refusal),
    /// Answered already (a redirect).
    Written,
}

/// Check the request against its connection: `host` is the request's host name, without port.
pub async fn check(
    session: &mut Session,
    ctx: &mut RequestCtx,
    host: Option<&str>,
) -> Result<Verdict> {
    let transport = ctx.snapshot.transport.clone();
    let digest = ctx.tls.clone();
    let tls = digest.as_deref().and_then(ConnectionTls::of);
    if tls.is_none() && !transport.redirect_listen.is_empty() && on_redirect_listener(session, ctx)
    {
        redirect(session, ctx, host).await?;
        return Ok(Verdict::Written);
    }
    let host = host.map(str::to_ascii_lowercase);
    if let (Some(server_name), Some(host)) = (tls.and_then(|t| t.server_name.as_deref()), &host) {
        if server_name != host {
            let message = format!(
                "this connection is for `{server_name}`; open one for `{host}` to reach it"
            );
            return Ok(Verdict::Refused(Refusal::with_message(
                ErrorKind::MisdirectedRequest,
                message,
            )));
        }
    }
    match transport.client_cert(host.as_deref(), tls) {
        Ok(verified) => ctx.client_cert = verified,
        Err(_) => {
            let message = "Forbidden: this domain requires a client certificate its \
                           truststore verifies (over TLS, with the domain's name as the server \
                           name)";
            return Ok(Verdict::Refused(Refusal::with_message(
                ErrorKind::AccessDenied,
                message,
            )));
        }
    }
    Ok(Verdict::Pass)
}

fn on_redirect_listener(session: &Session, ctx: &RequestCtx) -> bool {
    let Some(local) = session.server_addr().and_then(|a| a.as_inet()).copied() else {
        return false;
    };
    ctx.snapshot.transport.redirect_listen.iter().any(|listen| {
        listen.port() == local.port() && (listen.ip().is_unspecified() || listen.ip() == local.ip())
    })
}

/// 308 to the same URL over HTTPS, on the TLS listener's port.
async fn redirect(session: &mut Session, ctx: &mut RequestCtx, host: Option<&str>) -> Result<()> {
    let Some(host) = host.filter(|host| is_host_name(host)) else {
        let message = "a redirect to HTTPS needs a Host that is a domain name or an IP address";
        let refusal = Refusal::with_message(ErrorKind::BadRequest, message);
        return respond::refuse(session, ctx, &refusal).await.map(|_| ());
    };
    let port = match ctx.snapshot.transport.https_port {
        Some(443) | None => String::new(),
        Some(port) => format!(":{port}"),
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let target = session
        .req_header()
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str());
    let location = format!("https://{host}{port}{target}");
    let Ok(value) = HeaderValue::from_str(&location) else {
        return respond::error(session, ctx, ErrorKind::BadRequest).await;
    };
    let body = Bytes::from(
        serde_json::json!({ "message": "Use HTTPS", "location": location }).to_string(),
    );
    let headers = [(HeaderName::from_static("location"), value)];
    respond::write(session, ctx, 308, &headers, Some("application/json"), body).await
}

/// What a PEM certificate escapes in a header: everything but unreserved characters, as nginx's
/// `$ssl_client_escaped_cert` and Envoy's `x-forwarded-client-cert` do.
const ESCAPED_IN_HEADER: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The verified client certificate (URL-encoded PEM) in the header its domain names; a header
/// of any domain's `forward_header` name from the client is never passed on.
pub fn forward_client_cert(
    request: &RequestHeader,
    upstream: &mut RequestHeader,
    ctx: &RequestCtx,
) -> Result<()> {
    let transport = &ctx.snapshot.transport;
    if transport.forward_headers.is_empty() {
        return Ok(());
    }
    for header in &transport.forward_headers {
        upstream.remove_header(header);
    }
    let Some(cert) = &ctx.client_cert else {
        return Ok(());
    };
    let domain = super::matching::host_name(request)
        .and_then(|host| transport.domain(&host.to_ascii_lowercase()));
    if let Some(header) = domain.and_then(|d| d.mtls.as_ref()?.forward_header.clone()) {
        let encoded = percent_encoding::utf8_percent_encode(&cert.pem, ESCAPED_IN_HEADER);
        upstream.insert_header(header, encoded.to_string())?;
    }
    Ok(())
}

/// Whether `host` (without port or brackets) may be written into a `Location`: letters,
/// digits, `-` and `.`, or an IP address.
fn is_host_name(host: &str) -> bool {
    let name = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    name || host.parse::<std::net::IpAddr>().is_ok()
}

impl RequestCtx {
    /// What the request's TLS connection says, when it came over TLS.
    pub fn connection_tls(&self) -> Option<&ConnectionTls> {
        self.tls.as_deref().and_then(ConnectionTls::of)
    }

    /// `https` or `http`: how the client reached the gateway.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}
