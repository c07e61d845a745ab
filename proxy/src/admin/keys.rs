//! The admin API for API keys and usage plans:
//!
//! ```text
//! GET    /admin/keys[?limit=&position=]     list (values never shown)
//! POST   /admin/keys                        create: 201 with the value, shown this once
//! POST   /admin/keys/import                 create many in one transaction: {"keys": [...]}
//! GET    /admin/keys/{id}                   one key
//! PATCH  /admin/keys/{id}                   change name, description, enabled, plans
//! POST   /admin/keys/{id}/rotate            a new value (generated, or {"value": ...})
//! DELETE /admin/keys/{id}                   204
//! GET    /admin/usage-plans                 the plans of the config
//! GET    /admin/usage-plans/{plan}/usage?start=&end=[&key=]   per key and day, as AWS GetUsage
//! ```
//!
//! Changes are durable in the state database when the answer is sent.

use std::sync::Arc;

use chrono::{Days, NaiveDate};
use http::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{json_response, Request};
use crate::apikeys::{AdminError, KeyEntry, KeyPatch, NewKey};
use crate::state::State;

/// Most keys one list answer holds.
const MAX_LIST_LIMIT: usize = 1000;

/// Answer a request under `/admin/keys` or `/admin/usage-plans`, or `None` for other paths.
pub async fn route(state: &Arc<State>, request: &Request) -> Option<Response<Vec<u8>>> {
    let path = request.path.as_str();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let method = &request.method;
    let answer = match (segments.as_slice(), method) {
        (["keys"], &Method::GET) => list(state, request),
        (["keys"], &Method::POST) => create(state, request).await,
        (["keys", "import"], &Method::POST) => import(state, request).await,
        (["keys", id], &Method::GET) => state
            .keys
            .get(&state.snapshot(), id)
            .map(|entry| (StatusCode::OK, key_json(&entry, None))),
        (["keys", id], &Method::PATCH) => update(state, request, id).await,
        (["keys", id], &Method::DELETE) => delete(state, id).await,
        (["keys", id, "rotate"], &Method::POST) => rotate(state, request, id).await,
        (["usage-plans"], &Method::GET) => Ok(plans(state)),
        (["usage-plans", plan, "usage"], &Method::GET) => usage(state, request, plan).await,
        (["keys"] | ["keys", "import"] | ["keys", _] | ["keys", _, "rotate"], _)
        | (["usage-plans"] | ["usage-plans", _, "usage"], _) => {
            return Some(json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({ "message": "Method Not Allowed" }),
            ))
        }
        _ => return None,
    };
    Some(match answer {
        Ok((status, body)) if status == StatusCode::NO_CONTENT => Response::builder()
            .status(status)
            .body(Vec::new())
            .unwrap_or_else(|_| json_response(status, body)),
        Ok((status, body)) => json_response(status, body),
        Err(error) => {
            let status = match &error {
                AdminError::NotFound(_) => StatusCode::NOT_FOUND,
                AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
                AdminError::Conflict(_) => StatusCode::CONFLICT,
                AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            json_response(status, json!({ "message": error.to_string() }))
        }
    })
}

type Answer = Result<(StatusCode, Value), AdminError>;

fn key_json(entry: &KeyEntry, value: Option<&str>) -> Value {
    let mut json = serde_json::to_value(entry).unwrap_or_default();
    if let (Some(value), Some(object)) = (value, json.as_object_mut()) {
        object.insert("value".into(), value.into());
    }
    json
}

fn body<T: serde::de::DeserializeOwned + Default>(request: &Request) -> Result<T, AdminError> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&request.body)
        .map_err(|e| AdminError::BadRequest(format!("invalid JSON body: {e}")))
}

/// Run a blocking key-service call off the admin listener's threads.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, AdminError> + Send + 'static,
) -> Result<T, AdminError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| AdminError::Internal(format!("admin task failed: {e}")))?
}

fn list(state: &Arc<State>, request: &Request) -> Answer {
    let limit = match request.query("limit") {
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
            .ok_or_else(|| {
                AdminError::BadRequest(format!("`limit` is a number from 1 to {MAX_LIST_LIMIT}"))
            })?,
        None => 100,
    };
    let position = request.query("position");
    let page = state
        .keys
        .list(&state.snapshot(), position.as_deref(), limit + 1);
    let more = page.len() > limit;
    let items: Vec<Value> = page
        .iter()
        .take(limit)
        .map(|entry| key_json(entry, None))
        .collect();
    let mut answer = json!({ "items": items });
    if more {
        answer["position"] = page[limit - 1].id.to_string().into();
    }
    Ok((StatusCode::OK, answer))
}

async fn create(state: &Arc<State>, request: &Request) -> Answer {
    let new: NewKey = body(request)?;
    let state = state.clone();
    let mut created = blocking(move || state.keys.create(&state.snapshot(), vec![new])).await?;
    let (entry, value) = created
        .pop()
        .ok_or_else(|| AdminError::Internal("no key created".into()))?;
    Ok((StatusCode::CREATED, key_json(&entry, Some(&value))))
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Import {
    keys: Vec<NewKey>,
}

async fn import(state: &Arc<State>, request: &Request) -> Answer {
    let import: Import = body(request)?;
    if import.keys.is_empty() {
        return Err(AdminError::BadRequest(
            "`keys` lists at least one key".into(),
        ));
    }
    let state = state.clone();
    let created = blocking(move || state.keys.create(&state.snapshot(), import.keys)).await?;
    let items: Vec<Value> = created
        .iter()
        .map(|(entry, value)| key_json(entry, Some(value)))
        .collect();
    Ok((StatusCode::CREATED, json!({ "items": items })))
}

async fn update(state: &Arc<State>, request: &Request, id: &str) -> Answer {
    let patch: KeyPatch = body(request)?;
    let (state, id) = (state.clone(), id.to_string());
    let entry = blocking(move || state.keys.update(&state.snapshot(), &id, patch)).await?;
    Ok((StatusCode::OK, key_json(&entry, None)))
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotate {
    value: Option<String>,
}

async fn rotate(state: &Arc<State>, request: &Request, id: &str) -> Answer {
    let rotate: Rotate = body(request)?;
    let (state, id) = (state.clone(), id.to_string());
    let (entry, value) =
        blocking(move || state.keys.rotate(&state.snapshot(), &id, rotate.value)).await?;
    Ok((StatusCode::OK, key_json(&entry, Some(&value))))
}

async fn delete(state: &Arc<State>, id: &str) -> Answer {
    let (state, id) = (state.clone(), id.to_string());
    blocking(move || state.keys.delete(&state.snapshot(), &id)).await?;
    Ok((StatusCode::NO_CONTENT, Value::Null))
}

fn plans(state: &Arc<State>) -> (StatusCode, Value) {
    let snapshot = state.snapshot();
    let mut plans: Vec<_> = snapshot.usage_plans.values().collect();
    plans.sort_by(|a, b| a.name.cmp(&b.name));
    (StatusCode::OK, json!({ "items": plans }))
}

async fn usage(state: &Arc<State>, request: &Request, plan: &str) -> Answer {
    let date = |name: &str| -> Result<Option<NaiveDate>, AdminError> {
        request
            .query(name)
            .map(|text| {
                text.parse().map_err(|_| {
                    AdminError::BadRequest(format!("`{name}` is a date like 2026-11-22"))
                })
            })
            .transpose()
    };
    let end = date("end")?.unwrap_or_else(crate::apikeys::today);
    let start = date("start")?.unwrap_or_else(|| end - Days::new(6));
    let key = request.query("key");
    let (state, plan) = (state.clone(), plan.to_string());
    let report = blocking(move || {
        state
            .keys
            .report(&state.snapshot(), &plan, key.as_deref(), start, end)
    })
    .await?;
    let json = serde_json::to_value(&report)
        .map_err(|e| AdminError::Internal(format!("usage report: {e}")))?;
    Ok((StatusCode::OK, json))
}
