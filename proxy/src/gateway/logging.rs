//! The end of every request: its metrics and its access log line, with AWS `$context` names.

use std::time::{Duration, UNIX_EPOCH};

use pingora::proxy::Session;

use super::context::RequestCtx;
use crate::access_log::{AccessLog, AccessRecord};

/// Count the request in the metrics and write its access log line.
pub fn record(session: &Session, ctx: &RequestCtx, access_log: &AccessLog) {
    let status = session
        .response_written()
        .map_or(0, |header| header.status.as_u16());
    let (api, stage) = ctx.api_and_stage_names();
    let route = ctx.route.as_ref().map_or("", |r| r.key.as_ref());
    let latency = ctx.started.elapsed();
    match &ctx.route {
        Some(matched) => matched.metrics.record(
            [api, stage, route],
            status,
            latency,
            ctx.integration_latency,
        ),
        None => crate::metrics::METRICS
            .requests
            .with_label_values(&[api, stage, route, &status.to_string()])
            .inc(),
    }
    if !access_log.is_enabled() {
        return;
    }
    let request = session.req_header();
    let millis = |d: Duration| d.as_secs_f64() * 1000.0;
    let tls = ctx.connection_tls();
    let client_cert = ctx.client_cert.as_deref();
    access_log.write(&AccessRecord {
        request_id: &ctx.request_id,
        request_time_epoch: ctx
            .arrived
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
        source_ip: ctx.source_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        api_id: api,
        stage,
        route_key: route,
        http_method: request.method.as_str(),
        path: request.uri.path(),
        protocol: super::context::protocol(request),
        status,
        response_length: session.body_bytes_sent(),
        response_latency: millis(latency),
        integration_latency: ctx.integration_latency.map(millis),
        error_type: ctx.error.map(|kind| kind.response_type()),
        principal_id: ctx.principal.as_deref(),
        validation_error: ctx.validation_error.as_deref(),
        api_key_id: ctx.api_key_id.as_deref(),
        scheme: ctx.scheme(),
        tls_version: tls.map(|t| t.version),
        client_cert_subject_dn: client_cert.map(|c| c.subject_dn.as_str()),
        client_cert_serial_number: client_cert.map(|c| c.serial_number.as_str()),
    });
}
