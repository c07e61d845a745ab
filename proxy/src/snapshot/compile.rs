//! Compiling a loaded config into a [`Snapshot`], reporting every mistake of meaning (bad route
//! keys, unknown upstreams, undefined stage variables, conflicting routes, ...) with its place.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use toml::Spanned;

use super::authorizers::{compile_jwt_authorizers, route_jwt};
use super::plans::{compile_keys, compile_plans, Plans};
use super::secrets::compile_admin_token;
use super::steps::request_steps;
use super::{Api, Chain, Entrypoint, Route, Snapshot, Stage};
use crate::apikeys::KeyConfig;
use crate::authorizer::IdentityRule;
use crate::config::*;
use crate::gateway_response::{CustomResponse, GatewayResponses, ResponseType};
use crate::integration::{
    parse_request_mapping, parse_response_mapping, split_uri, HttpIntegration, Integration,
    MockResponse, RequestMapping, ResponseMapping,
};
use crate::metrics::METRICS;
use crate::plugin::{Phases, Plugin, RouteNames};
use crate::policy::{ResourcePolicy, TrustedProxies};
use crate::routing::{RouteKey, Router};
use crate::template::{substitute_stage_variables, Scope, Template};
use crate::throttle::{self, Bucket, Level};
use crate::upstream::Pool;
use crate::validation::{Model, RequestValidation, Required};

/// The HTTP API catch-all route key.
const DEFAULT_ROUTE: &str = "$default";
/// The stage served without a path prefix.
const DEFAULT_STAGE: &str = "$default";

/// Compile `loaded` into a snapshot, or return every mistake found.
pub fn compile(loaded: &LoadedConfig) -> Result<Snapshot, ConfigErrors> {
    let mut diags = Diagnostics::resume(&loaded.source, loaded.errors.clone());
    let file = &loaded.file;
    check_addresses(file, &mut diags);
    let mut pools = Pools {
        named: compile_upstreams(&file.upstreams, &mut diags),
        by_address: HashMap::new(),
    };
    let plugins = compile_plugins(file, loaded.source.file(), &mut diags);
    let authorizer_rules = compile_authorizer_rules(file, &plugins, &mut diags);
    let base_dir = loaded.source.file().parent().unwrap_or(Path::new("."));
    let plans = compile_plans(file, &mut diags);
    let config_keys = compile_keys(file, &plans, base_dir, &mut diags);
    let admin_token = compile_admin_token(&file.admin, base_dir, &mut diags);
    let jwt_authorizers = compile_jwt_authorizers(file, base_dir, &mut diags);
    let trusted_proxies = TrustedProxies(compile_nets(
        &file.server.trusted_proxies,
        "server.trusted_proxies",
        &mut diags,
    ));
    let mut entrypoints: Vec<(Spanned<String>, String, Entrypoint)> = Vec::new();
    for api in &file.apis {
        let mut cx = ApiContext {
            server: &file.server,
            base_dir,
            plugins: &plugins,
            authorizer_rules: &authorizer_rules,
            plans: &plans,
            jwt_authorizers: &jwt_authorizers,
            declared_jwt: &file.jwt_authorizers,
            declared: &file.plugins,
            pools: &mut pools,
            entrypoints: &mut entrypoints,
        };
        compile_api(api, &mut cx, &mut diags);
    }
    let mut seen: HashMap<(Option<String>, String), &str> = HashMap::new();
    for (name, path, entrypoint) in &entrypoints {
        let key = (entrypoint.host.clone(), entrypoint.prefix.clone());
        if let Some(other) = seen.insert(key, path) {
            let place = match &entrypoint.host {
                Some(host) => format!("host `{host}` with prefix `{}`", entrypoint.prefix),
                None => format!("path prefix `{}`", entrypoint.prefix),
            };
            diags.error(
                Some(name.span()),
                path,
                format!("{place} is already served by {other}"),
            );
        }
    }
    let mut entrypoints: Vec<Entrypoint> = entrypoints.into_iter().map(|(_, _, e)| e).collect();
    entrypoints.sort_by_key(|e| (e.host.is_none(), std::cmp::Reverse(e.prefix.len())));
    diags.finish(Snapshot {
        entrypoints,
        server: file.server.clone(),
        admin: file.admin.clone(),
        watched_files: file
            .plugins
            .iter()
            .map(|p| base_dir.join(p.value.path.get_ref()))
            .chain(file.apis.iter().flat_map(|api| {
                api.value
                    .settings
                    .models
                    .values()
                    .filter_map(|m| m.get_ref().file.as_ref())
                    .map(|f| base_dir.join(f))
            }))
            .chain(
                file.api_keys
                    .iter()
                    .filter_map(|key| key.value.value_file.as_ref())
                    .map(|f| base_dir.join(f.get_ref())),
            )
            .collect(),
        keys: KeyConfig {
            usage_plans: plans.by_name,
            config_keys,
        },
        admin_token,
        trusted_proxies,
        jwt_authorizers,
        account_throttle: throttle::bucket(Level::Account, "", &file.server.throttle),
    })
}

/// Addresses and CIDR blocks, each mistake reported at its place.
fn compile_nets(list: &[Spanned<String>], key: &str, diags: &mut Diagnostics) -> Vec<ipnet::IpNet> {
    list.iter()
        .filter_map(|text| {
            crate::policy::parse_net(text.get_ref())
                .map_err(|e| diags.error(Some(text.span()), key, e))
                .ok()
        })
        .collect()
}

fn check_addresses(file: &ConfigFile, diags: &mut Diagnostics) {
    let listens = file.server.listen.iter().map(|l| ("server.listen", l));
    for (key, address) in listens.chain([("admin.listen", &file.admin.listen)]) {
        if address.get_ref().parse::<SocketAddr>().is_err() {
            diags.error(
                Some(address.span()),
                key,
                format!("`{}` is not an `ip:port` address", address.get_ref()),
            );
        }
    }
    if file.server.listen.is_empty() {
        diags.error(
            None,
            "server.listen",
            "at least one listen address is needed",
        );
    }
    let log = file.server.access_log.as_str();
    if log.is_empty() {
        diags.error(
            None,
            "server.access_log",
            "use \"stdout\", \"off\" or a file path",
        );
    }
}

/// Load every declared plugin; a plugin that fails to load is reported at its name.
fn compile_plugins(
    file: &ConfigFile,
    config_path: &std::path::Path,
    diags: &mut Diagnostics,
) -> HashMap<String, Arc<Plugin>> {
    if file.plugins.is_empty() {
        return HashMap::new();
    }
    let base = config_path.parent().unwrap_or(std::path::Path::new("."));
    let loaded = crate::plugin::load_all(&file.plugins, base);
    for (index, error) in loaded.errors {
        let plugin = &file.plugins[index];
        diags.error(Some(plugin.name.span()), &plugin.path, error);
    }
    loaded.by_name
}

/// The Lambda-authorizer rule (identity sources and decision cache) of each plugin declaring
/// `authorizer = {...}`: one per plugin per load, shared by every route the plugin guards.
fn compile_authorizer_rules(
    file: &ConfigFile,
    plugins: &HashMap<String, Arc<Plugin>>,
    diags: &mut Diagnostics,
) -> HashMap<String, Arc<IdentityRule>> {
    let mut rules = HashMap::new();
    for declared in &file.plugins {
        let (Some(settings), Some(plugin)) = (
            &declared.value.authorizer,
            plugins.get(declared.name.get_ref()),
        ) else {
            continue;
        };
        let rule = if plugin.phases.contains(Phases::AUTHORIZER) {
            IdentityRule::compile(settings).map_err(|e| format!("authorizer: {e}"))
        } else {
            Err("`authorizer` settings need a plugin that serves the authorizer phase".into())
        };
        match rule {
            Ok(rule) => {
                rules.insert(plugin.name.clone(), Arc::new(rule));
            }
            Err(e) => diags.error(Some(declared.name.span()), &declared.path, e),
        }
    }
    rules
}

/// What compiling an API needs from the rest of the config.
struct ApiContext<'a> {
    server: &'a ServerFile,
    base_dir: &'a Path,
    plugins: &'a HashMap<String, Arc<Plugin>>,
    authorizer_rules: &'a HashMap<String, Arc<IdentityRule>>,
    plans: &'a Plans,
    jwt_authorizers: &'a HashMap<String, Arc<crate::jwt::JwtAuthorizer>>,
    declared_jwt: &'a [Named<JwtAuthorizerFile>],
    declared: &'a [Named<PluginFile>],
    pools: &'a mut Pools,
    entrypoints: &'a mut Vec<(Spanned<String>, String, Entrypoint)>,
}

/// The plugin chain from the API's, stage's and route's lists, each plugin once, in that order.
fn compile_chain(
    lists: [(&[Spanned<String>], &str); 3],
    plugins: &HashMap<String, Arc<Plugin>>,
    declared: &[Named<PluginFile>],
    diags: &mut Diagnostics,
) -> Chain {
    let mut chain = Chain::default();
    let mut seen: Vec<&str> = Vec::new();
    for (names, path) in lists {
        for name in names {
            let name_text = name.get_ref().as_str();
            if seen.contains(&name_text) {
                continue;
            }
            seen.push(name_text);
            match plugins.get(name_text) {
                Some(plugin) => chain.push(plugin),
                // A declared plugin that failed to load is already reported at its declaration.
                None if declared.iter().any(|p| p.name.get_ref() == name_text) => {}
                None => diags.error(
                    Some(name.span()),
                    &format!("{path}.plugins"),
                    format!(
                        "no plugin named `{name_text}` (declare it under [plugins.{name_text}])"
                    ),
                ),
            }
        }
    }
    chain
}

struct Pools {
    named: HashMap<String, Arc<Pool>>,
    by_address: HashMap<String, Arc<Pool>>,
}

impl Pools {
    /// The pool for an integration URI's authority: a named upstream or a `host[:port]`.
    fn get(&mut self, authority: &str) -> Result<Arc<Pool>, String> {
        if let Some(pool) = self.named.get(authority) {
            return Ok(pool.clone());
        }
        if let Some(pool) = self.by_address.get(authority) {
            return Ok(pool.clone());
        }
        let target = if has_port(authority) {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let pool = Pool::resolve(authority, &[&target], Duration::from_secs(10)).map_err(|e| {
            format!("`{authority}` is neither an upstream name nor a reachable address: {e}")
        })?;
        let pool = Arc::new(pool);
        self.by_address.insert(authority.to_string(), pool.clone());
        Ok(pool)
    }
}

fn has_port(authority: &str) -> bool {
    match authority.rsplit_once(':') {
        Some((host, port)) => !host.ends_with(':') && port.parse::<u16>().is_ok(),
        None => false,
    }
}

fn compile_upstreams(
    upstreams: &[Named<UpstreamFile>],
    diags: &mut Diagnostics,
) -> HashMap<String, Arc<Pool>> {
    let mut pools = HashMap::new();
    for upstream in upstreams {
        let targets: Vec<&str> = upstream
            .value
            .targets
            .iter()
            .map(|t| t.get_ref().as_str())
            .collect();
        let span = upstream
            .value
            .targets
            .first()
            .map(|t| t.span())
            .unwrap_or(upstream.name.span());
        let fail_timeout = Duration::from_millis(upstream.value.fail_timeout_ms);
        match Pool::resolve(upstream.name.get_ref(), &targets, fail_timeout) {
            Ok(pool) => {
                pools.insert(upstream.name.get_ref().clone(), Arc::new(pool));
            }
            Err(e) => diags.error(Some(span), &format!("{}.targets", upstream.path), e),
        }
    }
    pools
}

/// A route key as parsed once per API.
enum ParsedRoute<'a> {
    Key(RouteKey, &'a Named<RouteFile>),
    Default(&'a Named<RouteFile>),
}

fn compile_api(api: &Named<ApiFile>, cx: &mut ApiContext<'_>, diags: &mut Diagnostics) {
    let settings = &api.value.settings;
    let base_path = compile_base_path(settings.base_path.as_ref(), &api.path, diags);
    let shared = Arc::new(Api {
        name: api.name.get_ref().clone(),
        kind: settings.kind,
        responses: compile_gateway_responses(&api.value.gateway_responses, diags),
        max_request_body_bytes: settings
            .max_request_body_bytes
            .unwrap_or(cx.server.max_request_body_bytes),
        validation_details: settings.validation_details,
        api_key_source: settings.api_key_source,
        resource_policy: settings.resource_policy.as_ref().map(|policy| {
            let key = format!("{}.resource_policy", api.path);
            ResourcePolicy {
                allow: compile_nets(&policy.allow, &format!("{key}.allow"), diags),
                deny: compile_nets(&policy.deny, &format!("{key}.deny"), diags),
            }
        }),
        cors: settings.cors.as_ref().and_then(|cors| {
            crate::cors::CorsPolicy::compile(cors.get_ref())
                .map_err(|e| diags.error(Some(cors.span()), &format!("{}.cors", api.path), e))
                .ok()
        }),
    });
    let routes = parse_routes(api, settings.kind, diags);
    let validations = compile_validations(api, cx.base_dir, diags);
    if api.value.stages.is_empty() {
        diags.error(
            Some(api.name.span()),
            &api.path,
            "an API needs at least one stage, e.g. [apis.<name>.stages.prod]",
        );
    }
    for stage in &api.value.stages {
        let name = stage.name.get_ref();
        let valid_name = name == DEFAULT_STAGE
            || (!name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        if !valid_name {
            diags.error(
                Some(stage.name.span()),
                &stage.path,
                "a stage name uses letters, digits, `-` and `_` (or is `$default`)",
            );
            continue;
        }
        let compiled = Arc::new(compile_stage(
            &shared,
            api,
            stage,
            &routes,
            &validations,
            cx,
            diags,
        ));
        let prefix = if name == DEFAULT_STAGE {
            base_path.clone()
        } else {
            format!("{base_path}/{name}")
        };
        let entry = |host: Option<String>, prefix: String| Entrypoint {
            host,
            prefix,
            stage: compiled.clone(),
        };
        cx.entrypoints
            .push((stage.name.clone(), stage.path.clone(), entry(None, prefix)));
        for host in &stage.value.hosts {
            cx.entrypoints.push((
                host.clone(),
                format!("{}.hosts", stage.path),
                entry(Some(host.get_ref().to_ascii_lowercase()), base_path.clone()),
            ));
        }
    }
}

fn compile_base_path(
    base: Option<&Spanned<String>>,
    api_path: &str,
    diags: &mut Diagnostics,
) -> String {
    let Some(base) = base else {
        return String::new();
    };
    let text = base.get_ref().trim_end_matches('/');
    let valid = text.is_empty()
        || (text.starts_with('/')
            && !text.contains(['{', '}', '?', '#', ' '])
            && !text.contains("//"));
    if !valid {
        diags.error(
            Some(base.span()),
            &format!("{api_path}.base_path"),
            "a base path looks like `/shop` (no parameters, query or spaces)",
        );
    }
    text.to_string()
}

fn parse_routes<'a>(
    api: &'a Named<ApiFile>,
    kind: ApiKind,
    diags: &mut Diagnostics,
) -> Vec<ParsedRoute<'a>> {
    let mut parsed = Vec::new();
    for route in &api.value.routes {
        let key = route.name.get_ref();
        if key == DEFAULT_ROUTE {
            if kind == ApiKind::Http {
                parsed.push(ParsedRoute::Default(route));
            } else {
                diags.error(
                    Some(route.name.span()),
                    &route.path,
                    "`$default` routes exist only in HTTP APIs (type = \"http\"); use `ANY /{proxy+}`",
                );
            }
            continue;
        }
        match RouteKey::parse(key) {
            Ok(parsed_key) => parsed.push(ParsedRoute::Key(parsed_key, route)),
            Err(e) => diags.error(Some(route.name.span()), &route.path, e),
        }
    }
    parsed
}

fn compile_stage(
    api: &Arc<Api>,
    api_file: &Named<ApiFile>,
    stage: &Named<StageFile>,
    routes: &[ParsedRoute<'_>],
    validations: &HashMap<String, Arc<RequestValidation>>,
    cx: &mut ApiContext<'_>,
    diags: &mut Diagnostics,
) -> Stage {
    let mut router = Router::default();
    let mut default_route = None;
    let variables = &stage.value.variables;
    for parsed in routes {
        let (route, params): (&Named<RouteFile>, Vec<&str>) = match parsed {
            ParsedRoute::Key(key, route) => (route, key.param_names().collect()),
            ParsedRoute::Default(route) => (route, Vec::new()),
        };
        let context = IntegrationContext {
            kind: api.kind,
            params: &params,
            variables,
            stage: stage.name.get_ref(),
            path: format!("{}.integration", route.path),
        };
        let Some(integration) =
            compile_integration(&route.value.integration, &context, cx.pools, diags)
        else {
            continue;
        };
        let plugins = compile_chain(
            [
                (&api_file.value.settings.plugins, &api_file.path),
                (&stage.value.plugins, &stage.path),
                (&route.value.plugins, &route.path),
            ],
            cx.plugins,
            cx.declared,
            diags,
        );
        if route.value.api_key_required
            && api.api_key_source == ApiKeySource::Authorizer
            && plugins.authorizers.is_empty()
        {
            diags.error(
                Some(route.name.span()),
                &format!("{}.api_key_required", route.path),
                "the API takes keys from authorizers (api_key_source = \"authorizer\") but \
                 this route has no authorizer plugin",
            );
        }
        let route_id = (
            api.name.clone(),
            stage.name.get_ref().clone(),
            route.name.get_ref().clone(),
        );
        let mut compiled = Route {
            key: route.name.get_ref().clone(),
            integration,
            plugins,
            metrics: METRICS.route(&api.name, stage.name.get_ref(), route.name.get_ref()),
            validation: validations
                .get(route.name.get_ref())
                .cloned()
                .unwrap_or_default(),
            throttles: route_throttles(&api.name, stage, route, &cx.server.throttle),
            api_key_required: route.value.api_key_required,
            plan_method_throttles: cx
                .plans
                .method_throttles
                .get(&route_id)
                .cloned()
                .unwrap_or_default(),
            jwt: route_jwt(route, cx.jwt_authorizers, cx.declared_jwt, diags),
            steps: Vec::new(),
            names: Arc::new(RouteNames {
                api: api.name.clone(),
                stage: stage.name.get_ref().clone(),
                route: route.name.get_ref().clone(),
                stage_variables: variables
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            }),
        };
        compiled.steps = request_steps(&compiled, api.api_key_source, cx.authorizer_rules);
        let compiled = Arc::new(compiled);
        match parsed {
            ParsedRoute::Key(key, _) => {
                if let Err(conflict) = router.insert(key, compiled) {
                    diags.error(Some(route.name.span()), &route.path, conflict);
                }
            }
            ParsedRoute::Default(_) => default_route = Some(compiled),
        }
    }
    Stage {
        api: api.clone(),
        name: stage.name.get_ref().clone(),
        variables: variables
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        router,
        default_route,
        usage_plans: cx
            .plans
            .by_stage
            .get(&(api.name.clone(), stage.name.get_ref().clone()))
            .cloned()
            .unwrap_or_default(),
    }
}

/// Each route's request validation (the same in every stage), from the API's models.
fn compile_validations(
    api: &Named<ApiFile>,
    base_dir: &Path,
    diags: &mut Diagnostics,
) -> HashMap<String, Arc<RequestValidation>> {
    let mut models = HashMap::new();
    for (name, model) in &api.value.settings.models {
        match model_schema(model.get_ref(), base_dir).and_then(|schema| Model::compile(&schema)) {
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
                    Required::Path(name) if !route_params.contains(name) => Err(format!(
                        "`{name}` is not a path parameter of `{}`",
                        route.name.get_ref()
                    )),
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
fn model_schema(model: &ModelFile, base_dir: &Path) -> Result<serde_json::Value, String> {
    match (&model.schema, &model.file) {
        (Some(schema), None) => serde_json::to_value(schema).map_err(|e| e.to_string()),
        (None, Some(file)) => {
            let path = base_dir.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("`{}` is not JSON: {e}", path.display()))
        }
        _ => Err("give the schema either inline (`schema`) or as a JSON `file`".into()),
    }
}

/// The buckets of a route in a stage, most specific first.
fn route_throttles(
    api: &str,
    stage: &Named<StageFile>,
    route: &Named<RouteFile>,
    account: &Throttle,
) -> Vec<Arc<Bucket>> {
    let stage_name = format!("{api}/{}", stage.name.get_ref());
    let route_name = format!("{stage_name}/{}", route.name.get_ref());
    let mut buckets = Vec::new();
    if let Some(limit) = &route.value.throttle {
        buckets.push(throttle::bucket(Level::Route, &route_name, limit));
    }
    if let Some(limit) = &stage.value.throttle {
        buckets.push(throttle::bucket(Level::Stage, &stage_name, limit));
    }
    buckets.push(throttle::bucket(Level::Account, "", account));
    buckets
}

struct IntegrationContext<'a> {
    kind: ApiKind,
    params: &'a [&'a str],
    variables: &'a BTreeMap<String, String>,
    stage: &'a str,
    path: String,
}

impl IntegrationContext<'_> {
    fn scope(&self, request: bool) -> Scope<'_> {
        Scope {
            stage_variables: self.variables,
            request,
            error: false,
            braced_path_params: request,
        }
    }

    fn key(&self, field: &str) -> String {
        format!("{}.{field}", self.path)
    }
}

fn compile_integration(
    file: &IntegrationFile,
    cx: &IntegrationContext<'_>,
    pools: &mut Pools,
    diags: &mut Diagnostics,
) -> Option<Integration> {
    match file {
        IntegrationFile::Mock(mock) => compile_mock(mock, cx, diags).map(Integration::Mock),
        IntegrationFile::HttpProxy(http) | IntegrationFile::Http(http) => {
            compile_http(http, cx, pools, diags).map(Integration::Http)
        }
    }
}

fn compile_mock(
    mock: &MockIntegrationFile,
    cx: &IntegrationContext<'_>,
    diags: &mut Diagnostics,
) -> Option<MockResponse> {
    let status = *mock.status.get_ref();
    if !(100..=599).contains(&status) {
        diags.error(
            Some(mock.status.span()),
            &cx.key("status"),
            "a status is between 100 and 599",
        );
        return None;
    }
    let headers = compile_headers(&mock.headers, &cx.key("headers"), diags)?;
    Some(MockResponse {
        status,
        headers,
        body: Bytes::from(mock.body.clone()),
    })
}

fn compile_headers(
    headers: &BTreeMap<String, String>,
    key: &str,
    diags: &mut Diagnostics,
) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let mut compiled = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => compiled.push((name, value)),
            _ => {
                diags.error(
                    None,
                    key,
                    format!("`{name}: {value}` is not a valid header"),
                );
                return None;
            }
        }
    }
    Some(compiled)
}

fn compile_http(
    http: &HttpIntegrationFile,
    cx: &IntegrationContext<'_>,
    pools: &mut Pools,
    diags: &mut Diagnostics,
) -> Option<HttpIntegration> {
    let settings = &http.settings;
    let uri_key = cx.key("uri");
    let uri_span = Some(settings.uri.span());
    let mut fail = |message: String| diags.error(uri_span.clone(), &uri_key, message);
    let uri = substitute_stage_variables(settings.uri.get_ref(), cx.variables)
        .map_err(|e| fail(format!("{e} (stage `{}`)", cx.stage)))
        .ok()?;
    let parts = split_uri(&uri).map_err(&mut fail).ok()?;
    if parts.authority.contains(['$', '{', '}']) {
        fail("the host may use stage variables but nothing per request".to_string());
        return None;
    }
    let authority = parts.authority.to_string();
    let pool = pools.get(&authority).map_err(&mut fail).ok()?;
    let mut templates = Vec::new();
    for text in [Some(parts.path), parts.query] {
        let template = match text.filter(|t| !t.is_empty()) {
            Some(text) => match Template::parse(text, cx.scope(true)) {
                Ok(template) => Some(template),
                Err(e) => {
                    fail(format!("{e} (stage `{}`)", cx.stage));
                    return None;
                }
            },
            None => None,
        };
        templates.push(template);
    }
    let query = templates.pop().flatten();
    let path = templates.pop().flatten();
    for template in path.iter().chain(&query) {
        if let Some(unknown) = template.path_params().find(|p| !cx.params.contains(p)) {
            fail(format!(
                "`{{{unknown}}}` is not a path parameter of this route"
            ));
            return None;
        }
    }
    // AWS's bounds: 50 ms to 29 s for REST APIs, to 30 s for HTTP APIs.
    let max_timeout_ms = match cx.kind {
        ApiKind::Rest => 29_000,
        ApiKind::Http => 30_000,
    };
    let timeout_ms = settings
        .timeout_ms
        .as_ref()
        .map_or(29_000, |t| *t.get_ref());
    if !(50..=max_timeout_ms).contains(&timeout_ms) {
        diags.error(
            settings.timeout_ms.as_ref().map(Spanned::span),
            &cx.key("timeout_ms"),
            format!(
                "the timeout is from 50 to {max_timeout_ms} ms on a {} API (got {timeout_ms})",
                cx.kind.name(),
            ),
        );
        return None;
    }
    let method = match &settings.method {
        Some(method) => {
            match Method::from_bytes(method.get_ref().to_ascii_uppercase().as_bytes()) {
                Ok(m) => Some(m),
                Err(_) => {
                    diags.error(Some(method.span()), &cx.key("method"), "not an HTTP method");
                    return None;
                }
            }
        }
        None => None,
    };
    let (request_mapping, response_mapping) = compile_mappings(http, cx, diags)?;
    Some(HttpIntegration {
        pool,
        host_header: authority,
        path,
        query,
        timeout: Duration::from_millis(timeout_ms),
        method,
        request_mapping,
        response_mapping,
    })
}

fn compile_mappings(
    http: &HttpIntegrationFile,
    cx: &IntegrationContext<'_>,
    diags: &mut Diagnostics,
) -> Option<(RequestMapping, ResponseMapping)> {
    let mut ok = true;
    let mut request = RequestMapping::default();
    for (key, value) in &http.request_parameters {
        if let Err(e) =
            parse_request_mapping(&mut request, key.get_ref(), value.get_ref(), cx.scope(true))
        {
            diags.error(Some(key.span()), &cx.key("request_parameters"), e);
            ok = false;
        }
    }
    let mut response = ResponseMapping::default();
    for (key, value) in &http.response_parameters {
        if let Err(e) = parse_response_mapping(
            &mut response,
            key.get_ref(),
            value.get_ref(),
            cx.scope(true),
        ) {
            diags.error(Some(key.span()), &cx.key("response_parameters"), e);
            ok = false;
        }
    }
    ok.then_some((request, response))
}

fn compile_gateway_responses(
    responses: &[Named<GatewayResponseFile>],
    diags: &mut Diagnostics,
) -> GatewayResponses {
    let mut compiled = GatewayResponses::default();
    let no_variables = BTreeMap::new();
    let scope = Scope {
        stage_variables: &no_variables,
        request: false,
        error: true,
        braced_path_params: false,
    };
    for response in responses {
        let Some(response_type) = ResponseType::parse(response.name.get_ref()) else {
            let known: Vec<&str> = crate::gateway_response::ErrorKind::ALL
                .iter()
                .map(|k| k.response_type())
                .chain(["DEFAULT_4XX", "DEFAULT_5XX"])
                .collect();
            diags.error(
                Some(response.name.span()),
                &response.path,
                format!(
                    "unknown gateway response type, expected one of {}",
                    known.join(", ")
                ),
            );
            continue;
        };
        let file = &response.value;
        let status = file.status.as_ref().map(|s| (*s.get_ref(), s.span()));
        if let Some((status, span)) = &status {
            if !(100..=599).contains(status) {
                diags.error(
                    Some(span.clone()),
                    &format!("{}.status", response.path),
                    "a status is between 100 and 599",
                );
                continue;
            }
        }
        let Some(headers) =
            compile_headers(&file.headers, &format!("{}.headers", response.path), diags)
        else {
            continue;
        };
        let body = match file.body.as_deref().map(|b| Template::parse(b, scope)) {
            Some(Ok(template)) => Some(template),
            Some(Err(e)) => {
                diags.error(None, &format!("{}.body", response.path), e);
                continue;
            }
            None => None,
        };
        compiled.insert(
            response_type,
            CustomResponse {
                status: status.map(|(s, _)| s),
                headers,
                body,
            },
        );
    }
    compiled
}
