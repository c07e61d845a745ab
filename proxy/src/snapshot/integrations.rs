//! Compiling a route's integration for one stage: `mock` responses, and `http` / `http_proxy`
//! URIs (templates checked against the route's parameters), timeouts and parameter mappings.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use toml::Spanned;

use super::upstreams::Pools;
use crate::config::*;
use crate::integration::{
    split_uri, HttpIntegration, Integration, MockResponse, RequestMapping, ResponseMapping,
};
use crate::template::{substitute_stage_variables, Scope, Template};

pub(super) struct IntegrationContext<'a> {
    pub(super) kind: ApiKind,
    pub(super) params: &'a [&'a str],
    pub(super) variables: &'a BTreeMap<String, String>,
    pub(super) stage: &'a str,
    /// The route's config path (`apis.NAME.routes."KEY"`), for diagnostics.
    pub(super) route_path: &'a str,
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
        format!("{}.integration.{field}", self.route_path)
    }
}

pub(super) fn compile_integration(
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

pub(super) fn compile_mock(
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

pub(super) fn compile_headers(
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

pub(super) fn compile_http(
    http: &HttpIntegrationFile,
    cx: &IntegrationContext<'_>,
    pools: &mut Pools,
    diags: &mut Diagnostics,
) -> Option<HttpIntegration> {
    let settings = &http.settings;
    let uri_span = Some(settings.uri.span());
    let mut fail = |message: String| diags.error(uri_span.clone(), &cx.key("uri"), message);
    let uri = substitute_stage_variables(settings.uri.get_ref(), cx.variables)
        .map_err(|e| fail(format!("{e} (stage `{}`)", cx.stage)))
        .ok()?;
    let parts = split_uri(&uri).map_err(|e| fail(e.to_string())).ok()?;
    if parts.authority.contains(['$', '{', '}']) {
        fail("the host may use stage variables but nothing per request".to_string());
        return None;
    }
    let authority = parts.authority.to_string();
    let pool = pools
        .get(&authority, parts.tls)
        .map_err(|e| fail(e.to_string()))
        .ok()?;
    let host = match pool.tls.server_name().filter(|_| parts.tls) {
        Some(server_name) => server_name.to_string(),
        None => authority,
    };
    let host_header = pools
        .host_header(host)
        .map_err(|_| fail("the host is not a valid `Host` header".to_string()))
        .ok()?;
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
        host_header,
        tls: parts.tls,
        path,
        query,
        timeout: Duration::from_millis(timeout_ms),
        method,
        request_mapping,
        response_mapping,
    })
}

pub(super) fn compile_mappings(
    http: &HttpIntegrationFile,
    cx: &IntegrationContext<'_>,
    diags: &mut Diagnostics,
) -> Option<(RequestMapping, ResponseMapping)> {
    let mut ok = true;
    let mut request = RequestMapping::default();
    for (key, value) in &http.request_parameters {
        if let Err(e) = request.push(key.get_ref(), value.get_ref(), cx.scope(true)) {
            diags.error(Some(key.span()), &cx.key("request_parameters"), e);
            ok = false;
        }
    }
    let mut response = ResponseMapping::default();
    for (key, value) in &http.response_parameters {
        if let Err(e) = response.push(key.get_ref(), value.get_ref(), cx.scope(true)) {
            diags.error(Some(key.span()), &cx.key("response_parameters"), e);
            ok = false;
        }
    }
    ok.then_some((request, response))
}
