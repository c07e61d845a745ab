//! Each route's request validation: required parameters and JSON Schema body models, compiled
//! once per API (models from the config or their JSON files).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::config::*;
use crate::routing::RouteKey;
use crate::validation::{InvalidSchema, Model, RequestValidation, Required, RequiredError};

/// Why a model is refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum ModelError {
    /// An inline schema that is not JSON.
    #[error("{0}")]
    Inline(serde_json::Error),
    /// The schema file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The schema file is not JSON.
    #[error("`{}` is not JSON: {source}", path.display())]
    NotJson {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
    /// Neither or both of `schema` and `file`.
    #[error("give the schema either inline (`schema`) or as a JSON `file`")]
    Source,
    /// The schema does not compile.
    #[error(transparent)]
    Schema(#[from] InvalidSchema),
}

/// Each route's request validation (the same in every stage), from the API's models.
pub(super) fn compile_validations(
    api: &Named<ApiFile>,
    base_dir: &Path,
    diags: &mut Diagnostics,
) -> HashMap<String, Arc<RequestValidation>> {
    let mut models = HashMap::new();
    for (name, model) in &api.value.settings.models {
        let compiled =
            model_schema(model.get_ref(), base_dir).and_then(|schema| Ok(Model::compile(&schema)?));
        match compiled {
            Ok(compiled) => {
                models.insert(name.clone(), Arc::new(compiled));
            }
            Err(e) => diags.error(
                Some(model.span()),
                &format!("{}.models.{name}.schema", api.path),
                e,
            ),
        }
    }
    let mut validations = HashMap::new();
    for route in &api.value.routes {
        let mut validation = RequestValidation::default();
        for (content_type, model) in &route.value.request_models {
            match models.get(model.get_ref()) {
                Some(compiled) => validation
                    .models
                    .push((content_type.to_ascii_lowercase(), Arc::clone(compiled))),
                None if api.value.settings.models.contains_key(model.get_ref()) => {}
                None => diags.error(
                    Some(model.span()),
                    &format!("{}.request_models", route.path),
                    format!("no model named `{}` in this API", model.get_ref()),
                ),
            }
        }
        let route_params: Vec<String> = RouteKey::parse(route.name.get_ref())
            .map(|key| key.param_names().map(str::to_string).collect())
            .unwrap_or_default();
        for parameter in &route.value.required_parameters {
            let required =
                Required::parse(parameter.get_ref()).and_then(|required| match &required {
                    Required::Path(name) if !route_params.contains(name) => {
                        Err(RequiredError::NotARouteParameter {
                            name: name.clone(),
                            route: route.name.get_ref().clone(),
                        })
                    }
                    _ => Ok(required),
                });
            match required {
                Ok(required) => validation.required.push(required),
                Err(e) => diags.error(
                    Some(parameter.span()),
                    &format!("{}.required_parameters", route.path),
                    e,
                ),
            }
        }
        validation.required.sort_by_key(Required::kind_order);
        validations.insert(route.name.get_ref().clone(), Arc::new(validation));
    }
    validations
}

/// A model's schema, from the config or its JSON file.
pub(super) fn model_schema(
    model: &ModelFile,
    base_dir: &Path,
) -> Result<serde_json::Value, ModelError> {
    match (&model.schema, &model.file) {
        (Some(schema), None) => serde_json::to_value(schema).map_err(ModelError::Inline),
        (None, Some(file)) => {
            let path = base_dir.join(file);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(source) => return Err(ModelError::Read { path, source }),
            };
            serde_json::from_str(&text).map_err(|source| ModelError::NotJson { path, source })
        }
        _ => Err(ModelError::Source),
    }
}
