//! Prometheus metrics: one process-wide registry, exported on the admin listener's `/metrics`.
//! Per-route handles are resolved at a route's first request, not per request.

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds, from 100 µs to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];
/// Plugin calls take microseconds: buckets from 2.5 µs up to past any deadline.
const PLUGIN_CALL_BUCKETS: &[f64] = &[
    0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    /// `wasmgate_requests_total{api,stage,route,status}`.
    pub requests: IntCounterVec,
    /// `wasmgate_request_duration_seconds{api,stage,route}`.
    pub latency: HistogramVec,
    /// `wasmgate_integration_duration_seconds{api,stage,route}`.
    pub integration_latency: HistogramVec,
    /// `wasmgate_config_reloads_total{result}`.
    pub reloads: IntCounterVec,
    /// `wasmgate_upstream_failures_total{upstream}`.
    pub upstream_failures: IntCounterVec,
    /// `wasmgate_requests_in_flight`.
    pub in_flight: IntGauge,
    /// `wasmgate_plugin_calls_total{plugin,phase,outcome}` (outcome: ok, trap, timeout, invalid).
    pub plugin_calls: IntCounterVec,
    /// `wasmgate_plugin_call_duration_seconds{plugin,phase}`.
    pub plugin_latency: HistogramVec,
    /// `wasmgate_plugin_counter_total{plugin,name}`: counters plugins define.
    pub plugin_counters: IntCounterVec,
    /// `wasmgate_plugin_observations{plugin,name}`: histograms plugins define.
    pub plugin_histograms: HistogramVec,
    /// `wasmgate_plugin_gauge{plugin,name}`: gauges proxy-wasm filters define.
    pub plugin_gauges: IntGaugeVec,
    /// `wasmgate_cache_lookups_total{api,stage,result}` (result: hit, miss, refresh, bypass).
    pub cache_lookups: IntCounterVec,
    /// `wasmgate_throttled_requests_total{api,stage,route,level}`: 429s by refusing bucket.
    pub throttled: IntCounterVec,
    /// `wasmgate_api_key_refusals_total{api,stage,route,reason}` (reason: missing, unknown,
    /// disabled, not_in_plan, throttled, limit_exceeded).
    pub api_key_refusals: IntCounterVec,
}

/// The process-wide metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let route_labels = &["api", "stage", "route"];
        let requests = IntCounterVec::new(
            Opts::new(
                "wasmgate_requests_total",
                "Requests answered, by route and status.",
            ),
            &["api", "stage", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "wasmgate_request_duration_seconds",
                "Time from request to the end of the response, by route.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            route_labels,
        )
        .expect("valid metric");
        let integration_latency = HistogramVec::new(
            HistogramOpts::new(
                "wasmgate_integration_duration_seconds",
                "Time from sending to the backend to its response header, by route.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            route_labels,
        )
        .expect("valid metric");
        let reloads = IntCounterVec::new(
            Opts::new(
                "wasmgate_config_reloads_total",
                "Config reloads, by result.",
            ),
            &["result"],
        )
        .expect("valid metric");
        let upstream_failures = IntCounterVec::new(
            Opts::new(
                "wasmgate_upstream_failures_total",
                "Backend connection failures and timeouts, by upstream.",
            ),
            &["upstream"],
        )
        .expect("valid metric");
        let in_flight = IntGauge::new("wasmgate_requests_in_flight", "Requests being served.")
            .expect("valid metric");
        let plugin_calls = IntCounterVec::new(
            Opts::new(
                "wasmgate_plugin_calls_total",
                "Plugin calls, by plugin, phase and outcome.",
            ),
            &["plugin", "phase", "outcome"],
        )
        .expect("valid metric");
        let plugin_latency = HistogramVec::new(
            HistogramOpts::new(
                "wasmgate_plugin_call_duration_seconds",
                "Plugin call time including instantiation, by plugin and phase.",
            )
            .buckets(PLUGIN_CALL_BUCKETS.to_vec()),
            &["plugin", "phase"],
        )
        .expect("valid metric");
        let plugin_counters = IntCounterVec::new(
            Opts::new(
                "wasmgate_plugin_counter_total",
                "Counters defined by plugins.",
            ),
            &["plugin", "name"],
        )
        .expect("valid metric");
        let plugin_histograms = HistogramVec::new(
            HistogramOpts::new(
                "wasmgate_plugin_observations",
                "Histograms defined by plugins.",
            ),
            &["plugin", "name"],
        )
        .expect("valid metric");
        let plugin_gauges = IntGaugeVec::new(
            Opts::new(
                "wasmgate_plugin_gauge",
                "Gauges defined by proxy-wasm filters.",
            ),
            &["plugin", "name"],
        )
        .expect("valid metric");
        let cache_lookups = IntCounterVec::new(
            Opts::new(
                "wasmgate_cache_lookups_total",
                "Response cache decisions, by API, stage and result.",
            ),
            &["api", "stage", "result"],
        )
        .expect("valid metric");
        let throttled = IntCounterVec::new(
            Opts::new(
                "wasmgate_throttled_requests_total",
                "Requests refused with 429 by a throttle, by route and the level that refused.",
            ),
            &["api", "stage", "route", "level"],
        )
        .expect("valid metric");
        let api_key_refusals = IntCounterVec::new(
            Opts::new(
                "wasmgate_api_key_refusals_total",
                "Requests refused by API key checks, by route and reason.",
            ),
            &["api", "stage", "route", "reason"],
        )
        .expect("valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(integration_latency.clone()),
            Box::new(reloads.clone()),
            Box::new(upstream_failures.clone()),
            Box::new(in_flight.clone()),
            Box::new(plugin_calls.clone()),
            Box::new(plugin_latency.clone()),
            Box::new(plugin_counters.clone()),
            Box::new(plugin_histograms.clone()),
            Box::new(plugin_gauges.clone()),
            Box::new(cache_lookups.clone()),
            Box::new(throttled.clone()),
            Box::new(api_key_refusals.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric registered once");
        }
        Self {
            registry,
            requests,
            latency,
            integration_latency,
            reloads,
            upstream_failures,
            in_flight,
            plugin_calls,
            plugin_latency,
            plugin_counters,
            plugin_histograms,
            plugin_gauges,
            cache_lookups,
            throttled,
            api_key_refusals,
        }
    }

    /// Everything in the Prometheus text format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        out
    }
}

/// The metric handles of one route, each resolved from its labels at the route's first use of
/// it (not per request, and not at load: a route never requested holds no histograms, and a
/// reload of 10,000 routes hashes no labels).
#[derive(Debug, Default)]
pub struct RouteMetrics {
    /// Whole-request latency.
    latency: OnceLock<Histogram>,
    /// Backend latency.
    integration_latency: OnceLock<Histogram>,
    /// The `status="200"` counter: most requests end there, and a labelled lookup hashes four
    /// strings.
    ok: OnceLock<IntCounter>,
}

impl RouteMetrics {
    /// Count a request of this route (`api`, `stage`, `route` its labels) answered `status`
    /// after `latency`, `integration` of it waiting for the backend.
    pub fn record(
        &self,
        labels: [&str; 3],
        status: u16,
        latency: Duration,
        integration: Option<Duration>,
    ) {
        let [api, stage, route] = labels;
        if status == 200 {
            let ok = self.ok.get_or_init(|| {
                METRICS
                    .requests
                    .with_label_values(&[api, stage, route, "200"])
            });
            ok.inc();
        } else {
            let status = status.to_string();
            METRICS
                .requests
                .with_label_values(&[api, stage, route, &status])
                .inc();
        }
        self.latency
            .get_or_init(|| METRICS.latency.with_label_values(&labels))
            .observe(latency.as_secs_f64());
        if let Some(integration) = integration {
            self.integration_latency
                .get_or_init(|| METRICS.integration_latency.with_label_values(&labels))
                .observe(integration.as_secs_f64());
        }
    }
}
