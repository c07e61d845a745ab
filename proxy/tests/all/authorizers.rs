//! Authorizer plugins with AWS Lambda-authorizer semantics through the real gateway: identity
//! sources checked before the plugin is called, the validation regex, decisions (allow and deny)
//! cached per identity so the plugin is not called again (seen in the plugin call metric), TTL 0,
//! and the principal and context reaching the integration and the access log.

use crate::support::{assert_config_errors, client, get_json, plugin_path, Backend, Gateway};

fn config(backend: &Backend) -> String {
    let wasm = plugin_path("token_authorizer");
    let tokens =
        r#"tokens = { "good-token" = { principal = "ada", context = { plan = "gold" } } }"#;
    format!(
        r#"
# Deadlines are not under test here: far above what parallel tests can delay a call by.
[plugins.cached]
path = "{wasm}"
isolation = "reuse"
timeout_ms = 2000
config = {{ {tokens} }}
authorizer = {{ type = "token", validation_regex = "^Bearer [a-z-]+$", ttl_seconds = 300 }}

[plugins.uncached]
path = "{wasm}"
isolation = "reuse"
timeout_ms = 2000
config = {{ {tokens} }}
authorizer = {{ type = "token", ttl_seconds = 0 }}

[plugins.by_request]
path = "{wasm}"
isolation = "reuse"
timeout_ms = 2000
config = {{ {tokens} }}
authorizer = {{ type = "request", identity_sources = ["header.authorization", "querystring.tenant"] }}

[apis.a]
type = "http"
[apis.a.stages.prod]
[apis.a.routes."GET /cached"]
plugins = ["cached"]
[apis.a.routes."GET /cached".integration]
type = "http"
uri = "http://{addr}/seen"
request_parameters = {{ "overwrite:header.x-principal" = "$context.authorizer.principalId", "overwrite:header.x-plan" = "$context.authorizer.plan" }}
[apis.a.routes."GET /uncached"]
plugins = ["uncached"]
integration = {{ type = "mock", body = "ok" }}
[apis.a.routes."GET /request"]
plugins = ["by_request"]
integration = {{ type = "mock", body = "ok" }}
"#,
        wasm = wasm.display(),
        addr = backend.addr,
    )
}

/// Calls of `plugin`'s authorizer phase so far, from `/metrics`.
async fn calls(gateway: &Gateway, plugin: &str) -> u64 {
    let metrics = client()
        .get(format!("{}/metrics", gateway.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .filter(|line| line.starts_with("wasmgate_plugin_calls_total{"))
        .filter(|line| line.contains(&format!("plugin=\"{plugin}\"")))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn status(gateway: &Gateway, path: &str, authorization: Option<&str>) -> u16 {
    let mut request = client().get(format!("{}{path}", gateway.url));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn decisions_are_cached_per_identity_and_missing_identities_never_reach_the_plugin() {
    let backend = Backend::start("seen").await;
    let gateway = Gateway::start(&config(&backend)).await;
    let cached_url = format!("{}/prod/cached", gateway.url);

    let (_, answer) = get_json(&cached_url, &[("authorization", "Bearer good-token")]).await;
    assert_eq!(answer["headers"]["x-principal"], "ada");
    assert_eq!(answer["headers"]["x-plan"], "gold");
    assert_eq!(calls(&gateway, "cached").await, 1);
    assert_eq!(
        status(&gateway, "/prod/cached", Some("Bearer good-token")).await,
        200
    );
    assert_eq!(calls(&gateway, "cached").await, 1, "an allow is cached");
    let (_, cached_answer) = get_json(&cached_url, &[("authorization", "Bearer good-token")]).await;
    assert_eq!(
        cached_answer["headers"]["x-principal"], "ada",
        "the cached principal"
    );

    assert_eq!(
        status(&gateway, "/prod/cached", Some("Bearer bad-token")).await,
        403
    );
    assert_eq!(
        status(&gateway, "/prod/cached", Some("Bearer bad-token")).await,
        403
    );
    assert_eq!(calls(&gateway, "cached").await, 2, "a deny is cached too");

    assert_eq!(status(&gateway, "/prod/cached", None).await, 401);
    assert_eq!(
        status(&gateway, "/prod/cached", Some("Basic QWxhZGRpbg==")).await,
        401
    );
    assert_eq!(calls(&gateway, "cached").await, 2, "no identity, no call");

    for _ in 0..3 {
        assert_eq!(
            status(&gateway, "/prod/uncached", Some("Bearer good-token")).await,
            200
        );
    }
    assert_eq!(
        calls(&gateway, "uncached").await,
        3,
        "TTL 0 calls every time"
    );

    assert_eq!(
        status(&gateway, "/prod/request", Some("Bearer good-token")).await,
        401
    );
    assert_eq!(
        calls(&gateway, "by_request").await,
        0,
        "a missing source, no call"
    );
    for tenant in ["acme", "acme", "globex"] {
        let path = format!("/prod/request?tenant={tenant}");
        assert_eq!(
            status(&gateway, &path, Some("Bearer good-token")).await,
            200
        );
    }
    assert_eq!(
        calls(&gateway, "by_request").await,
        2,
        "cached per identity-source values"
    );

    let line = gateway
        .access_log_line(|line| line["routeKey"] == "GET /cached" && line["status"] == 200)
        .await;
    assert_eq!(line["principalId"], "ada");
}

#[test]
fn authorizer_settings_are_checked_at_load() {
    let wasm = plugin_path("token_authorizer");
    let headers = plugin_path("header_transformer");
    let config = format!(
        r#"[plugins.long]
path = "{wasm}"
config = {{ tokens = {{ "t" = {{ principal = "p" }} }} }}
authorizer = {{ type = "token", ttl_seconds = 7200 }}

[plugins.not_an_authorizer]
path = "{headers}"
config = {{ request = {{ set = {{ "x-a" = "b" }} }} }}
authorizer = {{ type = "token" }}

[plugins.bad_source]
path = "{wasm}"
config = {{ tokens = {{ "t" = {{ principal = "p" }} }} }}
authorizer = {{ type = "request", identity_sources = ["cookie.session"] }}
"#,
        wasm = wasm.display(),
        headers = headers.display()
    );
    assert_config_errors(
        "authorizers.toml",
        &config,
        &[
            (1, "`ttl_seconds` is at most 3600"),
            (6, "need a plugin that serves the authorizer phase"),
            (11, "`cookie.session` is not an identity source"),
        ],
    );
}
