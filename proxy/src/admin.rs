//! The admin listener (loopback by default): `GET /healthz`, `GET /readyz`, `GET /metrics`,
//! `POST /admin/reload`, `DELETE /admin/cache` (flush the response cache), and the API keys and
//! usage plans of [`keys`]. Answers are JSON except the Prometheus text of `/metrics`. With
//! `[admin] token_env` or `token_file`, every `/admin/*` call needs `Authorization: Bearer
//! <token>` (401 otherwise); health and metrics stay open.

mod keys;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::{Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::json;

use crate::metrics::METRICS;
use crate::state::State;

/// The admin HTTP app.
pub struct AdminApp {
    /// The gateway's state.
    pub state: Arc<State>,
}

/// Largest admin request body (a key import of 100,000 keys fits).
const MAX_BODY: usize = 64 << 20;

/// An admin request, its body read.
pub struct Request {
    method: Method,
    path: String,
    query: Option<String>,
    authorization: Option<String>,
    body: Bytes,
}

impl Request {
    /// A query parameter's value.
    fn query(&self, name: &str) -> Option<String> {
        crate::query::param(self.query.as_deref(), name)
    }

    async fn read(session: &mut ServerSession) -> Result<Self, Response<Vec<u8>>> {
        let header = session.req_header();
        let (method, path) = (header.method.clone(), header.uri.path().to_string());
        let query = header.uri.query().map(str::to_string);
        let authorization = header
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let mut body = BytesMut::new();
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return Err(json_response(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            json!({ "message": "Request Too Long" }),
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(json_response(
                        StatusCode::BAD_REQUEST,
                        json!({ "message": format!("cannot read the request body: {e}") }),
                    ))
                }
            }
        }
        Ok(Self {
            method,
            path,
            query,
            authorization,
            body: body.freeze(),
        })
    }
}

/// Whether the request may call `/admin/*`: always without a configured token, else only with
/// `Authorization: Bearer <token>` (compared by digest, in constant time).
fn authorized(state: &State, request: &Request) -> bool {
    let Some(token) = state.snapshot().admin_token.clone() else {
        return true;
    };
    let presented = request
        .authorization
        .as_deref()
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    let (expected, presented) = (
        crate::apikeys::digest(&token),
        crate::apikeys::digest(presented),
    );
    expected
        .iter()
        .zip(presented.iter())
        .fold(0u8, |differ, (a, b)| differ | (a ^ b))
        == 0
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Vec<u8>> {
    let body = body.to_string().into_bytes();
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)
        .expect("static response parts are valid")
}

impl AdminApp {
    async fn reload(&self) -> Response<Vec<u8>> {
        let state = self.state.clone();
        match tokio::task::spawn_blocking(move || state.reload()).await {
            Ok(Ok(reloaded)) => json_response(
                StatusCode::OK,
                json!({ "message": "config reloaded", "generation": reloaded.generation }),
            ),
            Ok(Err(errors)) => {
                let list: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
                json_response(
                    StatusCode::BAD_REQUEST,
                    json!({
                        "message": "config rejected; the previous config keeps serving",
                        "generation": self.state.generation(),
                        "errors": list,
                    }),
                )
            }
            Err(e) => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "message": format!("reload failed: {e}") }),
            ),
        }
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let request = match Request::read(session).await {
            Ok(request) => request,
            Err(response) => return response,
        };
        if request.path.starts_with("/admin/") && !authorized(&self.state, &request) {
            let mut response = json_response(
                StatusCode::UNAUTHORIZED,
                json!({ "message": "Unauthorized" }),
            );
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
            return response;
        }
        if let Some(response) = keys::route(&self.state, &request).await {
            return response;
        }
        match (request.method.clone(), request.path.as_str()) {
            (Method::GET, "/healthz") => json_response(StatusCode::OK, json!({ "status": "ok" })),
            (Method::GET, "/readyz") => {
                if self.state.drain.is_draining() {
                    json_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({ "status": "draining" }),
                    )
                } else {
                    json_response(
                        StatusCode::OK,
                        json!({ "status": "ready", "generation": self.state.generation() }),
                    )
                }
            }
            (Method::GET, "/metrics") => {
                let body = METRICS.render();
                Response::builder()
                    .status(StatusCode::OK)
                    .header(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")
                    .header(http::header::CONTENT_LENGTH, body.len())
                    .body(body)
                    .expect("static response parts are valid")
            }
            (Method::POST, "/admin/reload") => self.reload().await,
            (Method::DELETE, "/admin/cache") => {
                self.state.cache.flush();
                json_response(StatusCode::OK, json!({ "message": "cache flushed" }))
            }
            (_, "/healthz" | "/readyz" | "/metrics" | "/admin/reload" | "/admin/cache") => {
                json_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    json!({ "message": "Method Not Allowed" }),
                )
            }
            _ => json_response(StatusCode::NOT_FOUND, json!({ "message": "Not Found" })),
        }
    }
}
