//! `wasmgate keys ...` and `wasmgate usage ...`: API keys and usage reports through a running
//! gateway's admin API.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use serde_json::{json, Map, Value};

use super::admin_client::{cell, print_table, AdminClient};

/// What to do with API keys.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List keys (values are never shown after creation).
    List,
    /// Create a key; its value is printed this once.
    Create {
        /// A name for operators.
        #[arg(long)]
        name: String,
        /// A usage plan the key belongs to (repeat for several).
        #[arg(long = "plan")]
        plans: Vec<String>,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
        /// A chosen value (at least 20 characters) instead of a generated one.
        #[arg(long)]
        value: Option<String>,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Create the keys of a JSON file (`{"keys": [{"name": ..., "plans": [...], "value": ...}]}`)
    /// in one transaction; generated values are printed.
    Import {
        /// The JSON file.
        file: PathBuf,
    },
    /// Show one key.
    Show {
        /// The key's id.
        id: String,
    },
    /// Change a key's name, description or plans.
    Update {
        /// The key's id.
        id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        /// The key's new plans (repeat for several; replaces the old list).
        #[arg(long = "plan")]
        plans: Option<Vec<String>>,
    },
    /// Let a key in again.
    Enable {
        /// The key's id.
        id: String,
    },
    /// Refuse a key from now on (403), keeping it.
    Disable {
        /// The key's id.
        id: String,
    },
    /// Give a key a new value; the old one stops working at once.
    Rotate {
        /// The key's id.
        id: String,
    },
    /// Delete a key (its usage history stays).
    Delete {
        /// The key's id.
        id: String,
    },
}

const KEY_COLUMNS: [&str; 7] = [
    "ID", "NAME", "ENABLED", "PLANS", "SOURCE", "CREATED", "VALUE",
];

fn key_row(key: &Value) -> Vec<String> {
    let created = key["createdAt"]
        .as_i64()
        .filter(|seconds| *seconds > 0)
        .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0))
        .map(|time| time.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default();
    vec![
        cell(&key["id"]),
        cell(&key["name"]),
        cell(&key["enabled"]),
        cell(&key["plans"]),
        cell(&key["source"]),
        created,
        cell(&key["value"]),
    ]
}

fn print_keys(keys: &[Value], json: bool) {
    if json {
        println!("{}", Value::Array(keys.to_vec()));
        return;
    }
    let with_values = keys.iter().any(|key| key.get("value").is_some());
    let columns = if with_values {
        &KEY_COLUMNS[..]
    } else {
        &KEY_COLUMNS[..6]
    };
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|key| key_row(key).into_iter().take(columns.len()).collect())
        .collect();
    print_table(columns, &rows);
}

/// Run a `keys` command against the admin API.
pub fn run(command: KeysCommand, client: &AdminClient, json: bool) -> anyhow::Result<()> {
    let one = |key: Value| print_keys(&[key], json);
    match command {
        KeysCommand::List => {
            let mut keys = Vec::new();
            let mut position: Option<String> = None;
            loop {
                let path = match &position {
                    Some(after) => format!("/admin/keys?limit=1000&position={after}"),
                    None => "/admin/keys?limit=1000".to_string(),
                };
                let page = client.call("GET", &path, None)?;
                keys.extend(page["items"].as_array().cloned().unwrap_or_default());
                match page["position"].as_str() {
                    Some(next) => position = Some(next.to_string()),
                    None => break,
                }
            }
            print_keys(&keys, json);
        }
        KeysCommand::Create {
            name,
            plans,
            description,
            value,
            disabled,
        } => {
            let mut body = json!({ "name": name, "plans": plans, "enabled": !disabled });
            if let Some(description) = description {
                body["description"] = description.into();
            }
            if let Some(value) = value {
                body["value"] = value.into();
            }
            one(client.call("POST", "/admin/keys", Some(&body))?);
        }
        KeysCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let body: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let body = match body {
                Value::Array(keys) => json!({ "keys": keys }),
                other => other,
            };
            let created = client.call("POST", "/admin/keys/import", Some(&body))?;
            print_keys(created["items"].as_array().map_or(&[], |v| v), json);
        }
        KeysCommand::Show { id } => one(client.call("GET", &key_path(&id), None)?),
        KeysCommand::Update {
            id,
            name,
            description,
            plans,
        } => {
            let mut patch = Map::new();
            if let Some(name) = name {
                patch.insert("name".into(), name.into());
            }
            if let Some(description) = description {
                patch.insert("description".into(), description.into());
            }
            if let Some(plans) = plans {
                patch.insert("plans".into(), plans.into());
            }
            let patch = Value::Object(patch);
            one(client.call("PATCH", &key_path(&id), Some(&patch))?);
        }
        KeysCommand::Enable { id } => {
            let patch = json!({ "enabled": true });
            one(client.call("PATCH", &key_path(&id), Some(&patch))?);
        }
        KeysCommand::Disable { id } => {
            let patch = json!({ "enabled": false });
            one(client.call("PATCH", &key_path(&id), Some(&patch))?);
        }
        KeysCommand::Rotate { id } => {
            let path = format!("{}/rotate", key_path(&id));
            one(client.call("POST", &path, Some(&json!({})))?);
        }
        KeysCommand::Delete { id } => {
            client.call("DELETE", &key_path(&id), None)?;
            if json {
                println!("{}", json!({ "deleted": id }));
            } else {
                println!("deleted {id}");
            }
        }
    }
    Ok(())
}

fn key_path(id: &str) -> String {
    let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("/admin/keys/{id}")
}

/// Print a usage plan's usage per key and day.
pub fn usage(
    client: &AdminClient,
    plan: &str,
    key: Option<&str>,
    start: Option<&str>,
    end: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in [("key", key), ("start", start), ("end", end)] {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    let plan_segment: String = form_urlencoded::byte_serialize(plan.as_bytes()).collect();
    let path = format!("/admin/usage-plans/{plan_segment}/usage?{}", query.finish());
    let report = client.call("GET", &path, None)?;
    if json {
        println!("{report}");
        return Ok(());
    }
    let start: chrono::NaiveDate = report["startDate"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .context("the report has no startDate")?;
    let mut rows = Vec::new();
    for (key, days) in report["items"].as_object().into_iter().flatten() {
        for (offset, day) in days.as_array().into_iter().flatten().enumerate() {
            let date = start + chrono::Days::new(offset as u64);
            rows.push(vec![
                key.clone(),
                date.to_string(),
                cell(&day[0]),
                cell(&day[1]),
            ]);
        }
    }
    print_table(&["KEY", "DAY", "USED", "REMAINING"], &rows);
    Ok(())
}
