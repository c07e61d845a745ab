//! Reading a config file into [`ConfigFile`], collecting every mistake with its place.
//!
//! The document is parsed once into a spanned tree (`toml::de::DeTable`); each section and entry is
//! then deserialized on its own so that a mistake in one route does not hide those in the next.

use std::path::Path;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::diagnostics::{ConfigError, ConfigErrors, Diagnostics, SourceMap};
use super::schema::*;

/// A parsed config file together with its source map, for the compiler's located errors.
///
/// Entries with mistakes are left out of `file` and their errors kept in `errors`, so that the
/// compiler can add the mistakes of meaning in the rest and report them all at once.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The file's contents as written, less the entries that could not be read.
    pub file: ConfigFile,
    /// Where each byte of the file sits, for error messages.
    pub source: SourceMap,
    /// Mistakes found while reading.
    pub errors: Vec<ConfigError>,
}

/// Read and parse the config file at `path`.
pub fn load_file(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let source = SourceMap::new(path, "");
        ConfigErrors::single(&source, None, format!("cannot read config file: {e}"))
    })?;
    parse_source(path, &text)
}

/// Parse config `text`, read from `path` (used in error messages). Only broken TOML syntax
/// fails here; other mistakes are collected in [`LoadedConfig::errors`].
pub fn parse_source(path: &Path, text: &str) -> Result<LoadedConfig, ConfigErrors> {
    let source = SourceMap::new(path, text);
    let root = DeTable::parse(text).map_err(|e| {
        ConfigErrors::single(&source, e.span(), format!("invalid TOML: {}", e.message()))
    })?;
    let mut diags = Diagnostics::new(&source);
    let file = read_root(root.into_inner(), &mut diags);
    let errors = diags.into_errors();
    Ok(LoadedConfig {
        file,
        source,
        errors,
    })
}

type Value<'i> = Spanned<DeValue<'i>>;

fn read_root(root: DeTable<'_>, diags: &mut Diagnostics) -> ConfigFile {
    let mut file = ConfigFile {
        server: ServerFile::default(),
        admin: AdminFile::default(),
        upstreams: Vec::new(),
        plugins: Vec::new(),
        apis: Vec::new(),
        usage_plans: Vec::new(),
        api_keys: Vec::new(),
        jwt_authorizers: Vec::new(),
        domains: Vec::new(),
    };
    for (key, value) in root {
        let section: &str = key.get_ref().as_ref();
        match section {
            "server" => {
                if let Some(server) = deserialize(value, section, diags) {
                    file.server = server;
                }
            }
            "admin" => {
                if let Some(admin) = deserialize(value, section, diags) {
                    file.admin = admin;
                }
            }
            "upstreams" => file.upstreams = named_entries(value, section, diags),
            "plugins" => file.plugins = named_entries(value, section, diags),
            "apis" => file.apis = named(entries(value, section, diags), read_api, diags),
            "usage_plans" => file.usage_plans = named_entries(value, section, diags),
            "api_keys" => file.api_keys = named_entries(value, section, diags),
            "jwt_authorizers" => file.jwt_authorizers = named_entries(value, section, diags),
            "domains" => file.domains = named_entries(value, section, diags),
            other => diags.error(
                Some(key.span()),
                other,
                "unknown section, expected one of `server`, `admin`, `upstreams`, `plugins`, \
                 `apis`, `usage_plans`, `api_keys`, `jwt_authorizers`, `domains`",
            ),
        }
    }
    file
}

fn read_api(value: Value<'_>, path: &str, diags: &mut Diagnostics) -> Option<ApiFile> {
    let mut table = as_table(value, path, diags)?;
    let stages = take(&mut table, "stages").map(|v| entries(v, &format!("{path}.stages"), diags));
    let routes = take(&mut table, "routes").map(|v| entries(v, &format!("{path}.routes"), diags));
    let responses = take(&mut table, "gateway_responses")
        .map(|v| entries(v, &format!("{path}.gateway_responses"), diags));
    // With broken settings the file is already rejected; still read the rest so that its
    // mistakes are reported too.
    let settings = deserialize(table, path, diags).unwrap_or(ApiSettings {
        kind: ApiKind::Http,
        description: None,
        base_path: None,
        max_request_body_bytes: None,
        plugins: Vec::new(),
        models: Default::default(),
        validation_details: false,
        api_key_source: ApiKeySource::Header,
        resource_policy: None,
        cors: None,
    });

    let stages = named(stages.unwrap_or_default(), deserialize, diags);
    let routes = named(routes.unwrap_or_default(), read_route, diags);
    let gateway_responses = named(responses.unwrap_or_default(), deserialize, diags);
    Some(ApiFile {
        settings,
        stages,
        routes,
        gateway_responses,
    })
}

fn read_route(value: Value<'_>, path: &str, diags: &mut Diagnostics) -> Option<RouteFile> {
    let span = value.span();
    let mut table = as_table(value, path, diags)?;
    let Some(integration) = take(&mut table, "integration") else {
        diags.error(Some(span), path, "missing key `integration`");
        return None;
    };
    let integration = read_integration(integration, &format!("{path}.integration"), diags);
    let settings: RouteSettings = deserialize(table, path, diags)?;
    Some(RouteFile {
        integration: integration?,
        plugins: settings.plugins,
        throttle: settings.throttle,
        request_models: settings.request_models,
        required_parameters: settings.required_parameters,
        api_key_required: settings.api_key_required,
        jwt_authorizer: settings.jwt_authorizer,
        authorization_scopes: settings.authorization_scopes,
    })
}

/// The route's own keys besides `integration`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSettings {
    #[serde(default)]
    plugins: Vec<Spanned<String>>,
    throttle: Option<crate::config::Throttle>,
    #[serde(default)]
    request_models: std::collections::BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    required_parameters: Vec<Spanned<String>>,
    #[serde(default)]
    api_key_required: bool,
    jwt_authorizer: Option<Spanned<String>>,
    #[serde(default)]
    authorization_scopes: Vec<String>,
}

fn read_integration(
    value: Value<'_>,
    path: &str,
    diags: &mut Diagnostics,
) -> Option<IntegrationFile> {
    let span = value.span();
    let mut table = as_table(value, path, diags)?;
    let Some(kind) = take(&mut table, "type") else {
        diags.error(
            Some(span),
            path,
            "missing key `type` (one of `http_proxy`, `http`, `mock`)",
        );
        return None;
    };
    let kind_span = kind.span();
    match kind.get_ref().as_str() {
        Some("mock") => deserialize(table, path, diags).map(IntegrationFile::Mock),
        Some("http_proxy") => {
            read_http_integration(table, path, false, diags).map(IntegrationFile::HttpProxy)
        }
        Some("http") => read_http_integration(table, path, true, diags).map(IntegrationFile::Http),
        _ => {
            diags.error(
                Some(kind_span),
                &format!("{path}.type"),
                "unknown integration type, expected one of `http_proxy`, `http`, `mock`",
            );
            None
        }
    }
}

fn read_http_integration(
    mut table: Value<'_>,
    path: &str,
    with_mappings: bool,
    diags: &mut Diagnostics,
) -> Option<HttpIntegrationFile> {
    let mut mappings = |key: &str, diags: &mut Diagnostics| {
        let value = take(&mut table, key)?;
        if !with_mappings {
            diags.error(
                Some(value.span()),
                &format!("{path}.{key}"),
                "parameter mappings need `type = \"http\"`; `http_proxy` passes everything through",
            );
            return None;
        }
        Some(string_map(value, &format!("{path}.{key}"), diags))
    };
    let request_parameters = mappings("request_parameters", diags).unwrap_or_default();
    let response_parameters = mappings("response_parameters", diags).unwrap_or_default();
    let settings: HttpIntegrationSettings = deserialize(table, path, diags)?;
    if !with_mappings {
        if let Some(method) = &settings.method {
            diags.error(
                Some(method.span()),
                &format!("{path}.method"),
                "`method` needs `type = \"http\"`; `http_proxy` keeps the request's method",
            );
            return None;
        }
    }
    Some(HttpIntegrationFile {
        settings,
        request_parameters,
        response_parameters,
    })
}

// === generic helpers over the spanned tree ===

fn deserialize<T: DeserializeOwned>(
    value: Value<'_>,
    path: &str,
    diags: &mut Diagnostics,
) -> Option<T> {
    T::deserialize(value.into_deserializer())
        .map_err(|e| diags.error(e.span(), path, e.message()))
        .ok()
}

fn as_table<'i>(value: Value<'i>, path: &str, diags: &mut Diagnostics) -> Option<Value<'i>> {
    if value.get_ref().is_table() {
        Some(value)
    } else {
        diags.error(
            Some(value.span()),
            path,
            format!("expected a table, found {}", value.get_ref().type_str()),
        );
        None
    }
}

/// Remove `key` from a table value, returning its value.
fn take<'i>(table: &mut Value<'i>, key: &str) -> Option<Value<'i>> {
    match table.get_mut() {
        DeValue::Table(t) => t.remove(key),
        _ => None,
    }
}

/// The entries of a table of named things, each with its key, key path and value.
fn entries<'i>(
    value: Value<'i>,
    path: &str,
    diags: &mut Diagnostics,
) -> Vec<(Spanned<String>, String, Value<'i>)> {
    let Some(value) = as_table(value, path, diags) else {
        return Vec::new();
    };
    let DeValue::Table(table) = value.into_inner() else {
        return Vec::new();
    };
    table
        .into_iter()
        .map(|(key, value)| {
            let name = key.get_ref().to_string();
            let path = format!("{path}.{}", key_segment(&name));
            (Spanned::new(key.span(), name), path, value)
        })
        .collect()
}

fn named<T>(
    entries: Vec<(Spanned<String>, String, Value<'_>)>,
    read: impl Fn(Value<'_>, &str, &mut Diagnostics) -> Option<T>,
    diags: &mut Diagnostics,
) -> Vec<Named<T>> {
    entries
        .into_iter()
        .filter_map(|(name, path, value)| {
            let value = read(value, &path, diags)?;
            Some(Named { name, path, value })
        })
        .collect()
}

/// A table of named entries that deserialize as they are (`[upstreams.<name>]`, ...).
fn named_entries<T: DeserializeOwned>(
    value: Value<'_>,
    path: &str,
    diags: &mut Diagnostics,
) -> Vec<Named<T>> {
    named(entries(value, path, diags), deserialize, diags)
}

/// A table of string values, keeping the place of every key and value.
fn string_map(
    value: Value<'_>,
    path: &str,
    diags: &mut Diagnostics,
) -> Vec<(Spanned<String>, Spanned<String>)> {
    entries(value, path, diags)
        .into_iter()
        .filter_map(|(name, path, value)| match value.get_ref().as_str() {
            Some(text) => Some((name, Spanned::new(value.span(), text.to_string()))),
            None => {
                diags.error(Some(value.span()), &path, "expected a string");
                None
            }
        })
        .collect()
}

/// A key as it would be written in a dotted TOML path: bare when it can be, quoted otherwise.
fn key_segment(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}
