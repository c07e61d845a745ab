//! Compiling an API: its base path, stages (each its own router, with stage variables
//! substituted into every route) and routes, each route with its compiled request steps.

use std::collections::HashMap;
use std::sync::Arc;

use toml::Spanned;

use super::authorizers::route_jwt;
use super::compile::{compile_chain, compile_nets, ApiContext, DEFAULT_ROUTE, DEFAULT_STAGE};
use super::integrations::{compile_integration, IntegrationContext};
use super::responses::compile_gateway_responses;
use super::steps::request_steps;
use super::validations::compile_validations;
use super::{Api, Chain, Entrypoint, Route, Stage};
use crate::config::*;
use crate::metrics::RouteMetrics;
use crate::plugin::RouteNames;
use crate::policy::ResourcePolicy;
use crate::routing::{RouteKey, Router};
use crate::throttle::{self, Bucket, Level};
use crate::validation::RequestValidation;

/// A route key as parsed once per API.
pub(super) enum ParsedRoute<'a> {
    Key(RouteKey, &'a Named<RouteFile>),
    Default(&'a Named<RouteFile>),
}

pub(super) fn compile_api(api: &Named<ApiFile>, cx: &mut ApiContext<'_>, diags: &mut Diagnostics) {
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
        // A stage behind a domain with mutual TLS is served on its domains only: its path
        // prefix on any other host (or in plaintext) would skip the client certificate.
        let hosts = &stage.value.hosts;
        let is_mtls = |host: &Spanned<String>| {
            let domain = cx.transport.domain(&host.get_ref().to_ascii_lowercase());
            domain.is_some_and(|d| d.mtls.is_some())
        };
        let mtls_hosts = hosts.iter().filter(|h| is_mtls(h)).count();
        if mtls_hosts > 0 && mtls_hosts < hosts.len() {
            diags.error(
                hosts.iter().find(|h| !is_mtls(h)).map(|h| h.span()),
                &format!("{}.hosts", stage.path),
                "a stage's hosts either all require mutual TLS or none does: the stage would \
                 be reachable without a client certificate",
            );
        }
        if mtls_hosts == 0 {
            cx.entrypoints
                .push((stage.name.clone(), stage.path.clone(), entry(None, prefix)));
        }
        for host in hosts {
            cx.entrypoints.push((
                host.clone(),
                format!("{}.hosts", stage.path),
                entry(Some(host.get_ref().to_ascii_lowercase()), base_path.clone()),
            ));
        }
    }
}

pub(super) fn compile_base_path(
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

pub(super) fn parse_routes<'a>(
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

pub(super) fn compile_stage(
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
    // What every route of the stage shares rather than holds a copy of: its variables as
    // plugins see them, an empty plugin chain, no validation.
    let shared_variables: Arc<[(String, String)]> = variables
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let no_plugins = Arc::new(Chain::default());
    let no_validation = Arc::new(RequestValidation::default());
    let (shared_api, shared_stage): (Arc<str>, Arc<str>) = (
        api.name.as_str().into(),
        stage.name.get_ref().as_str().into(),
    );
    let stage_name = format!("{}/{}", api.name, stage.name.get_ref());
    let stage_buckets = stage_throttles(&stage_name, stage, &cx.server.throttle);
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
            route_path: &route.path,
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
            cx,
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
        // The route key as written: the route, its names and the router share one copy.
        let key: Arc<str> = route.name.get_ref().as_str().into();
        let mut compiled = Route {
            key: key.clone(),
            integration,
            plugins: if plugins.is_empty() {
                no_plugins.clone()
            } else {
                Arc::new(plugins)
            },
            metrics: RouteMetrics::default(),
            validation: validations
                .get(route.name.get_ref())
                .unwrap_or(&no_validation)
                .clone(),
            throttles: route_throttles(&stage_name, route, &stage_buckets),
            api_key_required: route.value.api_key_required,
            plan_method_throttles: plan_method_throttles(cx, api, stage, route),
            steps: Vec::new(),
            names: Arc::new(RouteNames {
                api: shared_api.clone(),
                stage: shared_stage.clone(),
                route: key.clone(),
                stage_variables: shared_variables.clone(),
            }),
        };
        let jwt = route_jwt(route, cx.jwt_authorizers, cx.declared_jwt, diags);
        compiled.steps = request_steps(&compiled, jwt, api.api_key_source, cx.authorizer_rules);
        let compiled = Arc::new(compiled);
        match parsed {
            ParsedRoute::Key(parsed_key, _) => {
                if let Err(conflict) = router.insert(parsed_key, key, compiled) {
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

/// The usage plans' method throttles on a route (few configs have any: the lookup, which keys
/// on copies of three names, is skipped when none do).
fn plan_method_throttles(
    cx: &ApiContext<'_>,
    api: &Api,
    stage: &Named<StageFile>,
    route: &Named<RouteFile>,
) -> Vec<(Arc<str>, Throttle)> {
    if cx.plans.method_throttles.is_empty() {
        return Vec::new();
    }
    let route_id = (
        api.name.clone(),
        stage.name.get_ref().clone(),
        route.name.get_ref().clone(),
    );
    cx.plans
        .method_throttles
        .get(&route_id)
        .cloned()
        .unwrap_or_default()
}

/// The buckets every route of a stage passes, most specific first: the stage's, the account's.
fn stage_throttles(
    stage_name: &str,
    stage: &Named<StageFile>,
    account: &Throttle,
) -> Vec<Arc<Bucket>> {
    let mut buckets = Vec::new();
    if let Some(limit) = &stage.value.throttle {
        buckets.push(throttle::bucket(Level::Stage, stage_name, limit));
    }
    buckets.push(throttle::bucket(Level::Account, "", account));
    buckets
}

/// The buckets of a route, most specific first: its own, then its stage's (`shared`).
fn route_throttles(
    stage_name: &str,
    route: &Named<RouteFile>,
    shared: &[Arc<Bucket>],
) -> Vec<Arc<Bucket>> {
    let Some(limit) = &route.value.throttle else {
        return shared.to_vec();
    };
    let route_name = format!("{stage_name}/{}", route.name.get_ref());
    let mut buckets = vec![throttle::bucket(Level::Route, &route_name, limit)];
    buckets.extend_from_slice(shared);
    buckets
}
