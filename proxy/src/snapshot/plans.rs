//! Compiling `[usage_plans]` and `[api_keys]`: plans checked against the APIs and stages they
//! name, their per-route limits resolved, and config keys read from their environment variable or
//! file and kept only as digests.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::secrets::{read_secret, SecretError, API_KEY_VALUE};
use crate::apikeys::{digest, KeyDigest, KeyEntry, KeySource, UsagePlan};
use crate::config::{ApiKeyFile, ConfigFile, Diagnostics, Named, Throttle, UsagePlanFile};

/// A route in a stage: `(api, stage, route key)`.
pub type RouteId = (String, String, String);

/// Compiled plans, and what stages and routes need from them.
#[derive(Debug, Default)]
pub struct Plans {
    /// Every plan by name.
    pub by_name: HashMap<String, Arc<UsagePlan>>,
    /// The plans covering each `(api, stage)`.
    pub by_stage: HashMap<(String, String), Vec<Arc<UsagePlan>>>,
    /// Per-route limits by `(api, stage, route key)`: plan name and limit.
    pub method_throttles: HashMap<RouteId, Vec<(Arc<str>, Throttle)>>,
}

/// Check and compile every usage plan.
pub fn compile_plans(file: &ConfigFile, diags: &mut Diagnostics) -> Plans {
    let mut plans = Plans::default();
    for plan in &file.usage_plans {
        compile_plan(plan, file, &mut plans, diags);
    }
    plans
}

fn compile_plan(
    plan: &Named<UsagePlanFile>,
    file: &ConfigFile,
    plans: &mut Plans,
    diags: &mut Diagnostics,
) {
    let value = &plan.value;
    let compiled = Arc::new(UsagePlan {
        name: plan.name.get_ref().as_str().into(),
        description: value.description.clone(),
        stages: value.stages.iter().map(|s| s.get_ref().clone()).collect(),
        throttle: value.throttle,
        quota: value.quota,
    });
    if value.quota.is_some_and(|quota| quota.limit == 0) {
        diags.error(
            Some(plan.name.span()),
            &format!("{}.quota.limit", plan.path),
            "a quota's `limit` is at least 1",
        );
    }
    if value.stages.is_empty() {
        diags.error(
            Some(plan.name.span()),
            &format!("{}.stages", plan.path),
            "a usage plan covers at least one stage, e.g. stages = [\"petstore/prod\"]",
        );
    }
    for stage in &value.stages {
        match find_stage(file, stage.get_ref()) {
            Ok(key) => plans
                .by_stage
                .entry(key)
                .or_default()
                .push(compiled.clone()),
            Err(e) => diags.error(Some(stage.span()), &format!("{}.stages", plan.path), e),
        }
    }
    for (target, limit) in &value.method_throttles {
        let key = format!("{}.method_throttles", plan.path);
        match find_route(file, target) {
            Ok((api, stage, route)) => {
                let stage_text = format!("{api}/{stage}");
                if !value.stages.iter().any(|s| *s.get_ref() == stage_text) {
                    diags.error(
                        Some(limit.span()),
                        &key,
                        format!("`{target}`: the plan does not cover stage `{stage_text}`"),
                    );
                    continue;
                }
                plans
                    .method_throttles
                    .entry((api, stage, route))
                    .or_default()
                    .push((compiled.name.clone(), *limit.get_ref()));
            }
            Err(e) => diags.error(Some(limit.span()), &key, e),
        }
    }
    plans.by_name.insert(plan.name.get_ref().clone(), compiled);
}

/// Why a plan's `stages` or `method_throttles` entry names nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum TargetError {
    #[error("`{0}`: name a stage as \"<api>/<stage>\"")]
    StageShape(String),
    #[error("`{0}`: name a route as \"<api>/<stage>/<METHOD> <path>\"")]
    RouteShape(String),
    #[error("`{text}`: no API named `{api}`")]
    NoApi { text: String, api: String },
    #[error("`{text}`: API `{api}` has no stage `{stage}`")]
    NoStage {
        text: String,
        api: String,
        stage: String,
    },
    #[error("`{text}`: API `{api}` has no route `{route}`")]
    NoRoute {
        text: String,
        api: String,
        route: String,
    },
}

fn find_stage(file: &ConfigFile, text: &str) -> Result<(String, String), TargetError> {
    let Some((api, stage)) = text.split_once('/') else {
        return Err(TargetError::StageShape(text.to_string()));
    };
    let api_file = file
        .apis
        .iter()
        .find(|a| a.name.get_ref() == api)
        .ok_or_else(|| TargetError::NoApi {
            text: text.to_string(),
            api: api.to_string(),
        })?;
    if !api_file
        .value
        .stages
        .iter()
        .any(|s| s.name.get_ref() == stage)
    {
        return Err(TargetError::NoStage {
            text: text.to_string(),
            api: api.to_string(),
            stage: stage.to_string(),
        });
    }
    Ok((api.to_string(), stage.to_string()))
}

fn find_route(file: &ConfigFile, text: &str) -> Result<RouteId, TargetError> {
    let mut parts = text.splitn(3, '/');
    let (Some(api), Some(stage), Some(route)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TargetError::RouteShape(text.to_string()));
    };
    let (api, stage) = find_stage(file, &format!("{api}/{stage}"))?;
    let api_file = file
        .apis
        .iter()
        .find(|a| *a.name.get_ref() == api)
        .expect("find_stage found the API");
    let exists = api_file
        .value
        .routes
        .iter()
        .any(|r| r.name.get_ref() == route);
    if !exists {
        return Err(TargetError::NoRoute {
            text: text.to_string(),
            api,
            route: route.to_string(),
        });
    }
    Ok((api, stage, route.to_string()))
}

/// Read every config key's value and keep its digest.
pub fn compile_keys(
    file: &ConfigFile,
    plans: &Plans,
    base_dir: &Path,
    diags: &mut Diagnostics,
) -> HashMap<KeyDigest, Arc<KeyEntry>> {
    let mut keys: HashMap<KeyDigest, Arc<KeyEntry>> = HashMap::new();
    for key in &file.api_keys {
        let mut plan_names: Vec<Arc<str>> = Vec::new();
        for plan in &key.value.plans {
            match plans.by_name.get(plan.get_ref()) {
                Some(compiled) => plan_names.push(compiled.name.clone()),
                None => diags.error(
                    Some(plan.span()),
                    &format!("{}.plans", key.path),
                    format!(
                        "no usage plan named `{0}` (declare it under [usage_plans.{0}])",
                        plan.get_ref()
                    ),
                ),
            }
        }
        let Some(value) = key_value(key, base_dir, diags) else {
            continue;
        };
        let entry = Arc::new(KeyEntry {
            id: key.name.get_ref().as_str().into(),
            name: key.name.get_ref().clone(),
            description: key.value.description.clone(),
            enabled: key.value.enabled,
            plans: plan_names,
            source: KeySource::Config,
            created_at: 0,
        });
        if let Some(other) = keys.insert(digest(&value), entry) {
            diags.error(
                Some(key.name.span()),
                &key.path,
                format!("has the same value as [api_keys.{}]", other.id),
            );
        }
    }
    keys
}

fn key_value(key: &Named<ApiKeyFile>, base_dir: &Path, diags: &mut Diagnostics) -> Option<String> {
    let value = read_secret(
        &API_KEY_VALUE,
        key.value.value_env.as_ref(),
        key.value.value_file.as_ref(),
        base_dir,
        key.name.span(),
    );
    let checked = value.and_then(|value| match crate::apikeys::check_value(&value) {
        Ok(()) => Ok(value),
        Err(e) => Err(SecretError::new(key.name.span(), "value", e)),
    });
    checked.map_err(|e| e.report(&key.path, diags)).ok()
}
