//! The admin listener (loopback by default): `GET /healthz`, `GET /readyz`, `GET /metrics`,
//! `POST /admin/reload` and `DELETE /admin/cache` (flush the response cache). Answers are JSON except the Prometheus text of `/metrics`.

use std::sync::Arc;

use async_trait::async_trait;
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
        let method = session.req_header().method.clone();
        let path = session.req_header().uri.path().to_string();
        match (method, path.as_str()) {
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
