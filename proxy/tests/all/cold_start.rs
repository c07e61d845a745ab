//! Cold starts: with an empty compile cache the gateway serves routes without slow plugins at
//! once, answers 503 on the routes of plugins still compiling (and says so on `/readyz`), and
//! reloads itself as each is ready (small ones first); `wasmgate plugins compile` fills the cache so that the
//! next start has every plugin ready.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{client, plugin_path, Extra, Gateway};

fn config() -> String {
    format!(
        r#"
[plugins.python]
path = "{}"
memory_mb = 128
timeout_ms = 2000
config = {{ tokens = {{ "ada-token" = {{ principal = "ada" }} }} }}

[plugins.rust]
path = "{}"
config = {{ tokens = {{ "ada-token" = {{ principal = "ada" }} }} }}

[plugins.filter]
path = "{}"
configuration = "cold"

[apis.a]
type = "http"
[apis.a.stages.prod]
[apis.a.routes."GET /plain"]
integration = {{ type = "mock", body = "plain" }}
[apis.a.routes."GET /guarded"]
plugins = ["python"]
integration = {{ type = "mock", body = "guarded" }}
[apis.a.routes."GET /rust"]
plugins = ["rust"]
integration = {{ type = "mock", body = "rust" }}
[apis.a.routes."GET /filter"]
plugins = ["filter"]
integration = {{ type = "mock", body = "filter" }}
"#,
        plugin_path("token_authorizer_py").display(),
        plugin_path("token_authorizer").display(),
        plugin_path("proxy_wasm_http_config").display()
    )
}

async fn guarded(gateway: &Gateway) -> (u16, Value) {
    route(gateway, "guarded").await
}

async fn route(gateway: &Gateway, name: &str) -> (u16, Value) {
    let response = client()
        .get(format!("{}/prod/{name}", gateway.url))
        .bearer_auth("ada-token")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn readyz(gateway: &Gateway) -> (u16, Value) {
    crate::support::get_json(&format!("{}/readyz", gateway.admin), &[]).await
}

#[tokio::test]
async fn plugins_compile_beside_a_serving_gateway_and_are_ready_at_the_next_start() {
    let cache = tempfile::tempdir().unwrap();
    let setting = format!("plugin_cache_dir = \"{}\"", cache.path().display());
    let extra = || Extra {
        server: &setting,
        before_plugins_compile: true,
        ..Extra::default()
    };
    let config = config();
    let started = Instant::now();
    let gateway = Gateway::start_with(&config, extra()).await;
    // A proxy-wasm filter compiles on the same queue, not on the loading thread behind the
    // Python compilation (outside tester: the plain route waited 8 s for it).
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the gateway took {:?} to serve",
        started.elapsed()
    );
    let plain = client()
        .get(format!("{}/prod/plain", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        plain.status(),
        200,
        "a route without plugins serves at once"
    );
    let (status, body) = guarded(&gateway).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["message"],
        "plugin `python` is still compiling; try again shortly"
    );
    let (status, body) = readyz(&gateway).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["pending_plugins"]
            .as_array()
            .unwrap()
            .contains(&"python".into()),
        "{body}"
    );

    // The small Rust plugin compiles first and serves while Python's runtime still compiles.
    let deadline = Instant::now() + Duration::from_secs(30);
    while route(&gateway, "rust").await.0 == 503 {
        assert!(
            Instant::now() < deadline,
            "the Rust plugin never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(route(&gateway, "rust").await.0, 200);
    assert_eq!(
        route(&gateway, "filter").await.0,
        200,
        "the filter compiled first"
    );
    assert_eq!(guarded(&gateway).await.0, 503, "Python is still compiling");

    let deadline = Instant::now() + Duration::from_secs(180);
    while guarded(&gateway).await.0 == 503 {
        assert!(Instant::now() < deadline, "the plugin never became ready");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        guarded(&gateway).await,
        (200, Value::String("guarded".into()))
    );
    assert_eq!(readyz(&gateway).await.0, 200);
    drop(gateway);

    // The next start finds the compiled plugin in the cache: ready from the first request.
    let again = Gateway::start_with(&config, extra()).await;
    assert_eq!(readyz(&again).await.0, 200);
    assert_eq!(guarded(&again).await.0, 200);
}

#[tokio::test]
async fn plugins_compile_fills_the_configured_cache() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gateway.toml"),
        format!(
            r#"[server]
plugin_cache_dir = "compiled"

[plugins.auth]
path = "{}"
config = {{ tokens = {{ "t" = {{ principal = "p" }} }} }}
"#,
            plugin_path("token_authorizer").display()
        ),
    )
    .unwrap();
    // Run from the config's directory with a relative path, as the README does: the cache
    // directory is then relative twice over (wasmtime used to refuse it and cache nothing).
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .args(["plugins", "compile", "gateway.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("1 plugin(s) compiled") && stdout.contains("compiled`"),
        "{stdout}"
    );
    let cached = walk(&dir.path().join("compiled"));
    assert!(cached > 0, "nothing was written to the cache");
}

/// Files under `path`, at any depth.
fn walk(path: &std::path::Path) -> usize {
    std::fs::read_dir(path).map_or(0, |entries| {
        entries
            .flatten()
            .map(|entry| match entry.file_type() {
                Ok(kind) if kind.is_dir() => walk(&entry.path()),
                _ => 1,
            })
            .sum()
    })
}
