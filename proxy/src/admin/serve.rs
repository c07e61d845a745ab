//! The admin listener's connection loop: pingora's request reading and response writing around
//! [`AdminApp::respond`], with one difference from pingora's `ServeHttp` — a request head pingora
//! refuses (malformed, absolute-form with a mismatched `Host`, too large) gets a JSON 400 and
//! the connection closed, instead of a silent close and an error in the log.

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
        match session.read_request().await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                log::debug!("admin: refused request head: {e}");
                let (parts, body) = json_response(
                    StatusCode::BAD_REQUEST,
                    json!({ "message": "Bad Request: the request head is malformed" }),
                )
                .into_parts();
                let mut header: ResponseHeader = parts.into();
                let closing = header.insert_header(http::header::CONNECTION, "close");
                if let Err(e) = closing.and(session.write_error_response(header, body.into()).await)
                {
                    log::debug!("admin: cannot refuse the request head: {e}");
                }
                session.shutdown().await;
                return None;
            }
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
