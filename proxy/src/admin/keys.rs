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
use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{json_response, Request};
use crate::apikeys::{AdminError, KeyEntry, KeyPatch, NewKey};
use crate::state::State;

/// Most keys one list answer holds.
const MAX_LIST_LIMIT: usize = 1000;

/// The response for a key endpoint's answer: its JSON, or the error's status and message.
pub fn into_response(answer: Answer) -> Response<Vec<u8>> {
    match answer {
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
    }
}

/// A status and JSON body, or what went wrong.
pub type Answer = Result<(StatusCode, Value), AdminError>;

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

/// `GET /admin/keys`: a page of keys.
pub fn list(state: &Arc<State>, request: &Request) -> Answer {
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
        .list(&state.snapshot().keys, position.as_deref(), limit + 1);
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

/// `POST /admin/keys`: one new key, its value shown this once.
pub async fn create(state: &Arc<State>, request: &Request) -> Answer {
    let new: NewKey = body(request)?;
    let state = state.clone();
    let mut created =
        blocking(move || state.keys.create(&state.snapshot().keys, vec![new])).await?;
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

/// `POST /admin/keys/import`: many keys in one transaction.
pub async fn import(state: &Arc<State>, request: &Request) -> Answer {
    let import: Import = body(request)?;
    if import.keys.is_empty() {
        return Err(AdminError::BadRequest(
            "`keys` lists at least one key".into(),
        ));
    }
    let state = state.clone();
    let created = blocking(move || state.keys.create(&state.snapshot().keys, import.keys)).await?;
    let items: Vec<Value> = created
        .iter()
        .map(|(entry, value)| key_json(entry, Some(value)))
        .collect();
    Ok((StatusCode::CREATED, json!({ "items": items })))
}

/// `GET /admin/keys/{id}`.
pub fn get(state: &Arc<State>, id: &str) -> Answer {
    state
        .keys
        .get(&state.snapshot().keys, id)
        .map(|entry| (StatusCode::OK, key_json(&entry, None)))
}

/// `PATCH /admin/keys/{id}`.
pub async fn update(state: &Arc<State>, request: &Request, id: &str) -> Answer {
    let patch: KeyPatch = body(request)?;
    let (state, id) = (state.clone(), id.to_string());
    let entry = blocking(move || state.keys.update(&state.snapshot().keys, &id, patch)).await?;
    Ok((StatusCode::OK, key_json(&entry, None)))
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotate {
    value: Option<String>,
}

/// `POST /admin/keys/{id}/rotate`: a new value for the key.
pub async fn rotate(state: &Arc<State>, request: &Request, id: &str) -> Answer {
    let rotate: Rotate = body(request)?;
    let (state, id) = (state.clone(), id.to_string());
    let (entry, value) =
        blocking(move || state.keys.rotate(&state.snapshot().keys, &id, rotate.value)).await?;
    Ok((StatusCode::OK, key_json(&entry, Some(&value))))
}

/// `DELETE /admin/keys/{id}`.
pub async fn delete(state: &Arc<State>, id: &str) -> Answer {
    let (state, id) = (state.clone(), id.to_string());
    blocking(move || state.keys.delete(&state.snapshot().keys, &id)).await?;
    Ok((StatusCode::NO_CONTENT, Value::Null))
}

/// `GET /admin/usage-plans`: the config's plans.
pub fn plans(state: &Arc<State>) -> (StatusCode, Value) {
    let snapshot = state.snapshot();
    let mut plans: Vec<_> = snapshot.keys.usage_plans.values().collect();
    plans.sort_by(|a, b| a.name.cmp(&b.name));
    (StatusCode::OK, json!({ "items": plans }))
}

/// `GET /admin/usage-plans/{plan}/usage`: counts per key and day.
pub async fn usage(state: &Arc<State>, request: &Request, plan: &str) -> Answer {
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
            .report(&state.snapshot().keys, &plan, key.as_deref(), start, end)
    })
    .await?;
    let json = serde_json::to_value(&report)
        .map_err(|e| AdminError::Internal(format!("usage report: {e}")))?;
    Ok((StatusCode::OK, json))
}
