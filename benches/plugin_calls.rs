//! Plugin call latency: the token authorizer called through the gateway's plugin host on a warm
//! instance (`isolation = "reuse"`) and on a fresh instance per call (`isolation = "request"`),
//! plus a no-op-sized call for scale. Prints median, p90 and p99 per case.
//!
//! Run with `benches/run.sh plugins` (builds the plugins first) or
//! `cargo bench -p wasmgate --bench plugin_calls [-- warm|fresh]` after `scripts/build-plugins.sh`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue, Method};
use wasmgate::config::parse_source;
use wasmgate::plugin::{load_all, Patience, Plugin, RequestContext, RequestView};

const CALLS: usize = 20_000;

fn load(isolation: &str) -> Plugin {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist/token_authorizer.wasm");
    let text = format!(
        "[plugins.auth]\npath = {:?}\nisolation = \"{isolation}\"\nconfig = {{ tokens = {{ \"t\" = {{ principal = \"p\" }} }} }}\n",
        dist.display().to_string()
    );
    let loaded = parse_source(Path::new("bench.toml"), &text).expect("bench config parses");
    let mut plugins = load_all(&loaded.file.plugins, Path::new("."), Patience::Forever);
    assert!(plugins.errors.is_empty(), "{:?}", plugins.errors);
    let plugin = plugins.by_name.remove("auth").expect("plugin loaded");
    Arc::into_inner(plugin).expect("sole owner")
}

fn request() -> Arc<RequestView> {
    let value = HeaderValue::from_static("some value of a typical length");
    let mut headers: Vec<(HeaderName, HeaderValue)> = (0..10)
        .map(|i| {
            let name = HeaderName::try_from(format!("x-header-{i}")).expect("header name");
            (name, value.clone())
        })
        .collect();
    headers.push((
        http::header::AUTHORIZATION,
        HeaderValue::from_static("Bearer t"),
    ));
    Arc::new(RequestView {
        method: Method::GET,
        path: "/prod/orders/42".into(),
        query: Some("expand=1".into()),
        headers,
    })
}

fn context() -> Arc<RequestContext> {
    Arc::new(RequestContext {
        route: None,
        path_parameters: vec![("id".into(), "42".into())],
        source_ip: Some([127, 0, 0, 1].into()),
        request_id: "00000000-0000-4000-8000-000000000000".into(),
        principal: None,
        authorizer_context: Vec::new(),
        scheme: "http",
        client_cert: None,
    })
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e6;
    println!(
        "{name:<34} median {:>7.2} µs   p90 {:>7.2} µs   p99 {:>7.2} µs   ({} calls)",
        at(0.5),
        at(0.9),
        at(0.99),
        samples.len()
    );
}

async fn measure(plugin: &Plugin) -> Vec<Duration> {
    let (request, ctx) = (request(), context());
    for _ in 0..1_000 {
        plugin
            .authorize(&request, None, &ctx)
            .await
            .expect("warm-up call");
    }
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        plugin.authorize(&request, None, &ctx).await.expect("call");
        samples.push(started.elapsed());
    }
    samples
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // `cargo bench` passes `--bench`; any other argument selects the cases whose name contains it.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let selected = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    runtime.block_on(async {
        for (name, isolation) in [
            ("authorizer, warm instance", "reuse"),
            ("authorizer, fresh instance + call", "request"),
        ] {
            if selected(name) {
                report(name, measure(&load(isolation)).await);
            }
        }
    });
}
