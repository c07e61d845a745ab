//! Talking to a running gateway's admin API from the command line, and printing its answers as
//! aligned tables or as JSON.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

/// The admin API of a running gateway.
pub struct AdminClient {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// Largest answer read (an import of many keys lists them all).
const MAX_ANSWER: u64 = 256 << 20;

impl AdminClient {
    /// A client for the admin listener at `base` (e.g. `http://127.0.0.1:9901`), sending
    /// `token` as a bearer token when given.
    pub fn new(base: &str, token: Option<&str>) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_string(),
            token: token.map(|t| format!("Bearer {t}")),
            agent,
        }
    }

    /// Send a request; the JSON answer of a 2xx, or an error with the gateway's message.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let body = body.unwrap_or(&Value::Null);
        let answer = match method {
            "GET" => self.authorized(self.agent.get(&url)).call(),
            "DELETE" => self.authorized(self.agent.delete(&url)).call(),
            "POST" => self.authorized(self.agent.post(&url)).send_json(body),
            "PATCH" => self.authorized(self.agent.patch(&url)).send_json(body),
            _ => bail!("unsupported method {method}"),
        };
        let mut answer =
            answer.with_context(|| format!("cannot reach the gateway's admin API at {url}"))?;
        let status = answer.status();
        let text = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .with_context(|| format!("reading the answer of {method} {url}"))?;
        let json: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("the answer of {method} {url} is not JSON"))?
        };
        if !status.is_success() {
            let message = json["message"].as_str().unwrap_or(text.as_str());
            bail!("{method} {path}: {status}: {message}");
        }
        Ok(json)
    }
}

impl AdminClient {
    fn authorized<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("authorization", token),
            None => request,
        }
    }
}

/// Print `rows` under `headers`, columns aligned.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A JSON value as a table cell: strings bare, lists joined with commas, null empty.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}
