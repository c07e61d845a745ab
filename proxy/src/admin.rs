//! The admin listener (loopback by default): `GET /healthz`, `GET /readyz`, `GET /metrics`,
//! `POST /admin/reload`, `DELETE /admin/cache` (flush the response cache), and the API keys and
//! usage plans of [`keys`], matched by the table in [`routes`]. Answers are JSON except the
//! Prometheus text of `/metrics`. With `[admin] token_env` or `token_file`, every request but
//! `/healthz` and `/readyz` (and `/metrics` with `public_metrics = true`) needs `Authorization:
//! Bearer <token>`, checked before the path is even looked up or the body read: 401 otherwise,
//! whatever the path. Unknown paths are 404, known paths with another method 405.

mod keys;
mod routes;
mod serve;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{Method, Response, StatusCode};
use pingora::protocols::http::ServerSession;
use serde_json::json;

use crate::metrics::METRICS;
use crate::state::State;
use routes::{Endpoint, Matched};

/// The admin HTTP app.
pub struct AdminApp {
    /// The gateway's state.
    pub state: Arc<State>,
}

/// Largest admin request body (a key import of 100,000 keys fits).
const MAX_BODY: usize = 64 << 20;

/// An admin request, its body read.
pub struct Request {
    query: Option<String>,
    body: Bytes,
}

impl Request {
    /// A query parameter's value.
    fn query(&self, name: &str) -> Option<String> {
        crate::query::param(self.query.as_deref(), name)
    }

    async fn read(session: &mut ServerSession) -> Result<Self, Response<Vec<u8>>> {
        let query = session.req_header().uri.query().map(str::to_string);
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
            query,
            body: body.freeze(),
        })
    }
}

/// Whether the request may call a protected endpoint: always without a configured token, else
/// only with `Authorization: Bearer <token>` (compared by digest, in constant time).
fn authorized(state: &State, session: &ServerSession) -> bool {
    let Some(token) = state.snapshot().admin_token.clone() else {
        return true;
    };
    let presented = session
        .req_header()
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            // The scheme is case-insensitive (RFC 9110 §11.1).
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
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
        let (answer, outcome) = tokio::sync::oneshot::channel();
        let reload = tokio::task::spawn_blocking(move || {
            state.reload_answering(|result| {
                let _ = answer.send(result);
            })
        });
        match outcome.await {
            Ok(Ok(reloaded)) => json_response(
                StatusCode::OK,
                json!({
                    "message": "config reloaded",
                    "generation": reloaded.generation,
                    "restart_needed": reloaded.restart_needed,
                }),
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
            Err(_) => {
                let failure = match reload.await {
                    Err(e) => format!("reload failed: {e}"),
                    Ok(()) => "reload failed".to_string(),
                };
                json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "message": failure }),
                )
            }
        }
    }
}

fn unauthorized() -> Response<Vec<u8>> {
    let mut response = json_response(
        StatusCode::UNAUTHORIZED,
        json!({ "message": "Unauthorized" }),
    );
    response.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    response
}

fn method_not_allowed(allowed: &[Method]) -> Response<Vec<u8>> {
    let mut response = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({ "message": "Method Not Allowed" }),
    );
    let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    if let Ok(value) = http::HeaderValue::from_str(&allow.join(", ")) {
        response.headers_mut().insert(http::header::ALLOW, value);
    }
    response
}

impl AdminApp {
    async fn answer(
        &self,
        endpoint: Endpoint,
        param: &str,
        request: &Request,
    ) -> Response<Vec<u8>> {
        let state = &self.state;
        match endpoint {
            Endpoint::Healthz => json_response(StatusCode::OK, json!({ "status": "ok" })),
            Endpoint::Readyz if state.drain.is_draining() => json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "draining" }),
            ),
            Endpoint::Readyz => {
                let snapshot = state.snapshot();
                if snapshot.pending_plugins.is_empty() {
                    json_response(
                        StatusCode::OK,
                        json!({ "status": "ready", "generation": state.generation() }),
                    )
                } else {
                    let pending: Vec<&str> = snapshot
                        .pending_plugins
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect();
                    json_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({ "status": "compiling plugins", "pending_plugins": pending }),
                    )
                }
            }
            Endpoint::Metrics => {
                // Read from the drain's counter at each scrape rather than kept per request.
                METRICS
                    .in_flight
                    .set(i64::try_from(state.drain.in_flight()).unwrap_or(i64::MAX));
                let body = METRICS.render();
                Response::builder()
                    .status(StatusCode::OK)
                    .header(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")
                    .header(http::header::CONTENT_LENGTH, body.len())
                    .body(body)
                    .expect("static response parts are valid")
            }
            Endpoint::Reload => self.reload().await,
            Endpoint::FlushCache => {
                state.cache.flush();
                json_response(StatusCode::OK, json!({ "message": "cache flushed" }))
            }
            Endpoint::ListKeys => keys::into_response(keys::list(state, request)),
            Endpoint::CreateKey => keys::into_response(keys::create(state, request).await),
            Endpoint::ImportKeys => keys::into_response(keys::import(state, request).await),
            Endpoint::GetKey => keys::into_response(keys::get(state, param)),
            Endpoint::UpdateKey => keys::into_response(keys::update(state, request, param).await),
            Endpoint::DeleteKey => keys::into_response(keys::delete(state, param).await),
            Endpoint::RotateKey => keys::into_response(keys::rotate(state, request, param).await),
            Endpoint::ListPlans => keys::into_response(Ok(keys::plans(state))),
            Endpoint::PlanUsage => keys::into_response(keys::usage(state, request, param).await),
        }
    }
}

impl AdminApp {
    /// The answer to one request whose head has been read.
    async fn respond(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let found = {
            let header = session.req_header();
            routes::find(&header.method, header.uri.path())
        };
        let public_metrics = self.state.snapshot().admin.public_metrics;
        let public =
            matches!(found, Matched::Endpoint(endpoint, _) if endpoint.is_public(public_metrics));
        if !public && !authorized(&self.state, session) {
            return unauthorized();
        }
        let (endpoint, param) = match found {
            Matched::Endpoint(endpoint, param) => (endpoint, param.unwrap_or_default()),
            Matched::MethodNotAllowed(allowed) => return method_not_allowed(&allowed),
            Matched::NotFound => {
                return json_response(StatusCode::NOT_FOUND, json!({ "message": "Not Found" }))
            }
        };
        match Request::read(session).await {
            Ok(request) => self.answer(endpoint, &param, &request).await,
            Err(response) => response,
        }
    }
}
