//! The admin listener's connection loop: pingora's request reading and response writing around
//! [`AdminApp::respond`], held to the proxy's edge rules — pipelined requests answered in order,
//! a whole head within `head_timeout_ms` (idle keep-alive included, so half-sent heads cannot
//! pile up and take the process's file descriptors), the `[server.limits]` and `Host` checks —
//! and a head refused (by pingora or those checks) answered in JSON and the connection closed,
//! where pingora's `ServeHttp` closes silently and logs an error.

use std::sync::Arc;

use async_trait::async_trait;
use http::StatusCode;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use serde_json::json;

use super::{json_response, AdminApp};

/// Keep-alive granted to admin clients, in seconds.
const KEEPALIVE_SECONDS: u64 = 60;

#[async_trait]
impl HttpServerApp for AdminApp {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        let limits = self.state.snapshot().server.limits;
        if let ServerSession::H1(h1) = &mut session {
            h1.set_pipelining_enabled(true);
        }
        match pingora_timeout::timeout(limits.head_timeout, session.read_request()).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) | Err(_) => return None,
            Ok(Err(e)) => {
                log::debug!("admin: refused request head: {e}");
                let message = "Bad Request: the request head is malformed";
                refuse(&mut session, StatusCode::BAD_REQUEST, message).await;
                return None;
            }
        }
        if let Err(refusal) = crate::edge::check_limits(session.req_header_mut(), &limits) {
            let status =
                StatusCode::from_u16(refusal.kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
            refuse(&mut session, status, &refusal.message).await;
            return None;
        }
        let keepalive = (!*shutdown.borrow()).then_some(KEEPALIVE_SECONDS);
        session.set_keepalive(keepalive);
        let response = self.respond(&mut session).await;
        write(&mut session, response).await;
        let settings = HttpPersistentSettings::for_session(&session);
        match session.finish().await {
            Ok(reusable) => {
                reusable.map(|stream| ReusedHttpStream::from_reusable_stream(stream, settings))
            }
            Err(e) => {
                log::debug!("admin: cannot finish the exchange: {e}");
                None
            }
        }
    }
}

/// Answer a refused head with `status` and `message` in JSON, and close.
async fn refuse(session: &mut ServerSession, status: StatusCode, message: &str) {
    let (parts, body) = json_response(status, json!({ "message": message })).into_parts();
    let mut header: ResponseHeader = parts.into();
    let closing = header.insert_header(http::header::CONNECTION, "close");
    if let Err(e) = closing.and(session.write_error_response(header, body.into()).await) {
        log::debug!("admin: cannot refuse the request head: {e}");
    }
    session.shutdown().await;
}

async fn write(session: &mut ServerSession, response: http::Response<Vec<u8>>) {
    let (parts, body) = response.into_parts();
    let header: ResponseHeader = parts.into();
    let written = match session.write_response_header(Box::new(header)).await {
        Ok(()) if body.is_empty() => Ok(()),
        Ok(()) => session.write_response_body(body.into(), true).await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        log::debug!("admin: cannot answer {}: {e}", session.request_summary());
    }
}
