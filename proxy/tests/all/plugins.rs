//! WebAssembly plugins through the real gateway: the token authorizer and header transformer,
//! chains at API/stage/route level, failure modes, hostile plugins, reload under load.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{client, plugin_path, Backend, Gateway, Load};

fn tokens_plugin(isolation: &str) -> String {
    format!(
        r#"
[plugins.auth]
path = "{}"
isolation = "{isolation}"
config = {{ tokens = {{ "ada-token" = {{ principal = "ada", context = {{ tier = "gold" }} }}, "bob-token" = {{ principal = "bob" }} }} }}
"#,
        plugin_path("token_authorizer").display()
    )
}

fn headers_plugin() -> String {
    format!(
        r#"
[plugins.headers]
path = "{}"
config = {{ request = {{ set = {{ "x-principal" = "$principal", "x-tier" = "$context.tier" }}, remove = ["x-secret"], rename = {{ "x-old" = "x-new" }} }}, response = {{ set = {{ "x-powered-by" = "wasmgate" }}, remove = ["x-backend"] }} }}
"#,
        plugin_path("header_transformer").display()
    )
}

#[tokio::test]
async fn token_authorizer_and_header_transformer_chain() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&format!(
        r#"{}{}
[apis.shop]
type = "rest"
plugins = ["auth"]
[apis.shop.stages.prod]
[apis.shop.routes."GET /orders"]
plugins = ["headers"]
integration = {{ type = "http_proxy", uri = "http://{}/orders" }}
[apis.shop.routes."GET /hello"]
plugins = ["headers"]
integration = {{ type = "mock", headers = {{ "x-backend" = "mock" }}, body = "hi" }}
"#,
        tokens_plugin("request"),
        headers_plugin(),
        backend.addr
    ))
    .await;
    let client = client();
    let url = format!("{}/prod/orders", gateway.url);

    let missing = client.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["message"],
        "Unauthorized"
    );
    let wrong = client.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 403);
    assert_eq!(wrong.json::<Value>().await.unwrap()["message"], "Forbidden");
    assert_eq!(
        backend.hits(),
        0,
        "refused requests never reach the backend"
    );

    let allowed = client
        .get(&url)
        .bearer_auth("ada-token")
        .header("x-secret", "s3cr3t")
        .header("x-old", "renamed")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["x-powered-by"], "wasmgate");
    assert!(!allowed.headers().contains_key("x-backend"));
    let echo: Value = allowed.json().await.unwrap();
    assert_eq!(echo["headers"]["x-principal"], "ada");
    assert_eq!(
        echo["headers"]["x-tier"], "gold",
        "the transformer read the authorizer's context through the lent request context"
    );
    assert_eq!(echo["headers"]["x-new"], "renamed");
    assert!(echo["headers"].get("x-old").is_none());
    assert!(echo["headers"].get("x-secret").is_none());

    let mock = client
        .get(format!("{}/prod/hello", gateway.url))
        .bearer_auth("bob-token")
        .send()
        .await
        .unwrap();
    assert_eq!(mock.status(), 200);
    assert_eq!(mock.headers()["x-powered-by"], "wasmgate");
    assert!(!mock.headers().contains_key("x-backend"));
    assert_eq!(mock.text().await.unwrap(), "hi");

    gateway
        .metrics_containing(
            r#"wasmgate_plugin_calls_total{outcome="ok",phase="authorizer",plugin="auth"} 4"#,
        )
        .await;
    gateway
        .access_log_line(|line| line["principalId"] == "ada")
        .await;
}

#[tokio::test]
async fn warm_instances_serve_repeated_requests() {
    let gateway = Gateway::start(&format!(
        r#"{}
[apis.a]
type = "http"
plugins = ["auth"]
[apis.a.stages.prod]
[apis.a.routes."GET /x"]
integration = {{ type = "mock", body = "ok" }}
"#,
        tokens_plugin("reuse")
    ))
    .await;
    let client = client();
    for token in ["ada-token", "nope", "bob-token", "ada-token"] {
        let response = client
            .get(format!("{}/prod/x", gateway.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let expected = if token == "nope" { 403 } else { 200 };
        assert_eq!(response.status(), expected, "{token}");
    }
}

fn hostile_config(failure_mode: &str, backend: &Backend) -> String {
    format!(
        r#"
[plugins.hostile]
path = "{}"
timeout_ms = 1000
memory_mb = 64
failure_mode = "{failure_mode}"
allowed_hosts = ["{b}"]

[apis.h]
type = "http"
[apis.h.stages.prod]
[apis.h.routes."GET /guarded"]
plugins = ["hostile"]
integration = {{ type = "http_proxy", uri = "http://{b}/guarded" }}
[apis.h.routes."GET /plain"]
integration = {{ type = "http_proxy", uri = "http://{b}/plain" }}
"#,
        plugin_path("hostile").display(),
        b = backend.addr
    )
}

#[tokio::test]
async fn plugins_read_every_field_of_the_request_context() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&format!(
        r#"
[plugins.context]
path = "{}"
config = {{ request = {{ set = {{ "x-api" = "$api", "x-stage" = "$stage", "x-route" = "$route", "x-id" = "$path.id", "x-color" = "$stage-variable.color", "x-ip" = "$source-ip", "x-rid" = "$request-id", "x-nobody" = "$principal", "x-missing" = "$path.nope" }} }} }}

[apis.shop]
type = "http"
[apis.shop.stages.prod]
variables = {{ color = "teal" }}
[apis.shop.routes."GET /pets/{{id}}"]
plugins = ["context"]
integration = {{ type = "http_proxy", uri = "http://{}/pets" }}
"#,
        plugin_path("header_transformer").display(),
        backend.addr
    ))
    .await;
    let response = client()
        .get(format!("{}/prod/pets/42", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let echo: Value = response.json().await.unwrap();
    let seen = &echo["headers"];
    assert_eq!(seen["x-api"], "shop");
    assert_eq!(seen["x-stage"], "prod");
    assert_eq!(seen["x-route"], "GET /pets/{id}");
    assert_eq!(seen["x-id"], "42");
    assert_eq!(seen["x-color"], "teal");
    assert_eq!(seen["x-ip"], "127.0.0.1");
    assert_eq!(seen["x-rid"], request_id.as_str());
    assert_eq!(seen["x-nobody"], "", "no authorizer ran");
    assert_eq!(seen["x-missing"], "");
}

#[tokio::test]
async fn hostile_plugins_are_stopped_and_other_routes_keep_serving() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&hostile_config("closed", &backend)).await;

    // Load on another route while the attacks run.
    let url = format!("{}/prod/plain", gateway.url);
    let load = Load::start(4, move |client, _| client.get(&url));

    let client = client();
    for attack in ["loop", "memory", "trap", "oversized", "response-head"] {
        let started = Instant::now();
        let response = client
            .get(format!("{}/prod/guarded", gateway.url))
            .header("x-attack", attack)
            .send()
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(response.status(), 403, "{attack}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["message"],
            "Forbidden",
            "{attack}"
        );
        assert!(
            elapsed < Duration::from_millis(1500),
            "{attack} took {elapsed:?}"
        );
    }
    // A well-behaved request through the same plugin still works afterwards.
    let fine = client
        .get(format!("{}/prod/guarded", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);

    let (ok, failed) = load.finish().await;
    assert_eq!(failed, 0);
    assert!(ok > 20, "too little load ran: {ok}");
}

/// A plugin that burns its whole deadline yields to the other requests of its worker thread
/// every epoch tick: plain requests beside looping calls keep their normal latency (with
/// wasmtime's own yield, which rescheduled the call at once, a worker polled for I/O only every
/// 61 ticks and plain requests waited ~30 ms each).
#[tokio::test]
async fn looping_plugins_leave_other_requests_their_normal_latency() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(
        &hostile_config("closed", &backend).replace("timeout_ms = 1000", "timeout_ms = 3000"),
    )
    .await;
    let guarded = format!("{}/prod/guarded", gateway.url);
    let loopers: Vec<_> = (0..4)
        .map(|_| {
            let request = client().get(&guarded).header("x-attack", "loop").send();
            tokio::spawn(async move { request.await.map(|r| r.status().as_u16()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = client();
    let mut latencies = Vec::new();
    for _ in 0..40 {
        let started = Instant::now();
        let response = client
            .get(format!("{}/prod/plain", gateway.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    assert!(
        median < Duration::from_millis(10),
        "plain requests beside looping plugins: median {median:?}, all {latencies:?}"
    );
    for looper in loopers {
        assert_eq!(looper.await.unwrap().unwrap(), 403, "the loop times out");
    }
}

#[tokio::test]
async fn plugins_cannot_open_files_or_sockets() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&format!(
        r#"{}
[plugins.headers]
path = "{}"
config = {{ request = {{ set = {{ "x-principal" = "$principal" }} }} }}
"#,
        hostile_config("closed", &backend).replace(
            r#"plugins = ["hostile"]"#,
            r#"plugins = ["hostile", "headers"]"#
        ),
        plugin_path("header_transformer").display()
    ))
    .await;
    for attack in ["file", "socket"] {
        let response = client()
            .get(format!("{}/prod/guarded", gateway.url))
            .header("x-attack", attack)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{attack}");
        let echo: Value = response.json().await.unwrap();
        assert_eq!(
            echo["headers"]["x-principal"], "sandboxed",
            "{attack}: the plugin got through"
        );
    }
    // A plugin sees only the request headers its manifest declares.
    let snooped = client()
        .get(format!("{}/prod/guarded", gateway.url))
        .header("x-attack", "snoop")
        .header("authorization", "Bearer secret")
        .header("cookie", "session=1")
        .send()
        .await
        .unwrap();
    let echo: Value = snooped.json().await.unwrap();
    assert_eq!(echo["headers"]["x-principal"], "sees-x-attack");
    assert_eq!(
        echo["headers"]["cookie"], "session=1",
        "the backend still gets them"
    );
    // Outbound HTTP only reaches allow-listed hosts.
    let elsewhere = crate::support::free_port();
    // What a plugin sends is bounded: no header floods, no `host` of its own, no broken path.
    let allowed = format!("http://{}/introspect", backend.addr);
    let hits_before = backend.hits();
    for (attack, target, principal) in [
        ("http", allowed.clone(), "http-200"),
        (
            "http",
            format!("http://127.0.0.1:{elsewhere}/introspect"),
            "denied",
        ),
        ("http", "http://example.com/".to_string(), "denied"),
        ("http-flood", allowed.clone(), "failed"),
        ("http-host", allowed.clone(), "failed"),
        ("http", format!("{allowed} HTTP/1.1"), "failed"),
    ] {
        let response = client()
            .get(format!("{}/prod/guarded", gateway.url))
            .header("x-attack", attack)
            .header("x-target", &target)
            .send()
            .await
            .unwrap();
        let echo: Value = response.json().await.unwrap();
        assert_eq!(
            echo["headers"]["x-principal"], principal,
            "{attack} {target}"
        );
    }
    // The standard wasi:http import is there (components importing it load) but denied.
    let response = client()
        .get(format!("{}/prod/guarded", gateway.url))
        .header("x-attack", "wasi-http")
        .header("x-target", backend.addr.to_string())
        .send()
        .await
        .unwrap();
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["headers"]["x-principal"], "denied", "wasi:http");
    assert_eq!(
        backend.hits() - hits_before,
        8,
        "the seven guarded requests and the one allowed call arrive, none of the refused calls"
    );
}

#[tokio::test]
async fn failing_open_lets_requests_through() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&hostile_config("open", &backend)).await;
    let response = client()
        .get(format!("{}/prod/guarded", gateway.url))
        .header("x-attack", "trap")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn plugin_config_mistakes_are_config_errors() {
    crate::support::assert_config_errors(
        "plugins.toml",
        &format!(
            r#"[plugins.empty]
path = "{}"
config = {{ tokens = {{}} }}

[plugins.pinned]
path = "{}"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"

[plugins.weak]
path = "{}"
config = {{ hmac = {{ secret = "too-short" }} }}

[plugins.thrown]
path = "{}"
config = {{ tokens = {{}} }}

[apis.a]
type = "http"
plugins = ["nobody"]
[apis.a.stages.prod]
[apis.a.routes."GET /"]
integration = {{ type = "mock" }}
"#,
            plugin_path("token_authorizer").display(),
            plugin_path("header_transformer").display(),
            plugin_path("token_authorizer").display(),
            plugin_path("token_authorizer_js").display()
        ),
        &[
            (
                1,
                "rejected its config: `tokens` must list at least one token, or `hmac` be set",
            ),
            (5, "sha256 mismatch"),
            (9, "`hmac.secret` must be at least 32 bytes (it has 9)"),
            (
                13,
                "rejected its config: `tokens` must list at least one token",
            ),
            (19, "no plugin named `nobody`"),
        ],
    );
}

#[tokio::test]
async fn plugin_reload_under_load_fails_no_request() {
    let config = |token: &str| {
        format!(
            r#"
# The point is the reload: a deadline far above what parallel tests (a browser among them)
# can delay a fresh instance by on two cores.
[plugins.auth]
path = "{}"
timeout_ms = 2000
config = {{ tokens = {{ "{token}" = {{ principal = "p" }}, "steady" = {{ principal = "s" }} }} }}
[apis.r]
type = "http"
plugins = ["auth"]
[apis.r.stages.prod]
[apis.r.routes."GET /x"]
integration = {{ type = "mock", body = "ok" }}
"#,
            plugin_path("token_authorizer").display()
        )
    };
    let gateway = Gateway::start(&config("v0")).await;
    let url = format!("{}/prod/x", gateway.url);
    let load = Load::start(4, move |client, _| client.get(&url).bearer_auth("steady"));
    let client = client();
    for i in 1..=6 {
        gateway.rewrite_config(&config(&format!("v{i}")));
        let (status, answer) = gateway.reload().await;
        assert_eq!(status, 200, "{answer}");
        let fresh = client
            .get(format!("{}/prod/x", gateway.url))
            .bearer_auth(format!("v{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(fresh.status(), 200, "the new plugin config serves at once");
    }
    let (ok, failed) = load.finish().await;
    assert_eq!(failed, 0);
    assert!(ok > 20, "too little load ran: {ok}");
}

#[test]
fn the_readme_shows_the_first_authorizer_verbatim() {
    let readme = include_str!("../../../README.md");
    let code = include_str!("../../../plugins/first-authorizer/src/lib.rs");
    assert!(
        readme.contains(code),
        "README.md and plugins/first-authorizer/src/lib.rs differ"
    );
}

#[tokio::test]
async fn the_readme_authorizer_works() {
    let gateway = Gateway::start(&format!(
        r#"
[plugins.allow]
path = "{}"
config = {{ users = ["ada", "grace"] }}
[apis.a]
type = "http"
[apis.a.stages.prod]
[apis.a.routes."GET /x"]
plugins = ["allow"]
integration = {{ type = "mock", body = "in" }}
"#,
        plugin_path("first_authorizer").display()
    ))
    .await;
    let client = client();
    for (user, status) in [(None, 401), (Some("mallory"), 403), (Some("grace"), 200)] {
        let mut request = client.get(format!("{}/prod/x", gateway.url));
        if let Some(user) = user {
            request = request.header("x-api-user", user);
        }
        assert_eq!(request.send().await.unwrap().status(), status, "{user:?}");
    }
}

const HMAC_SECRET: &str = "a-secret-of-at-least-thirty-two-bytes";

/// A token signed the way the token authorizer's README says, expiring at `expires`.
fn signed_token(secret: &str, principal: &str, expires: u64) -> String {
    use base64::Engine;
    use hmac::Mac;
    let signed = format!("{principal}.{expires}");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    let signature =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signed}.{signature}")
}

#[tokio::test]
async fn token_authorizer_accepts_signed_tokens_until_they_expire() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&format!(
        r#"
[plugins.auth]
path = "{}"
config = {{ tokens = {{ "ada-token" = {{ principal = "ada" }} }}, hmac = {{ secret = "{HMAC_SECRET}", context = {{ plan = "signed" }} }} }}
[plugins.headers]
path = "{}"
config = {{ request = {{ set = {{ "x-principal" = "$principal", "x-plan" = "$context.plan", "x-expires" = "$context.expires" }} }} }}
[apis.a]
type = "rest"
plugins = ["auth", "headers"]
[apis.a.stages.prod]
[apis.a.routes."GET /me"]
integration = {{ type = "http_proxy", uri = "http://{}/me" }}
"#,
        plugin_path("token_authorizer").display(),
        plugin_path("header_transformer").display(),
        backend.addr
    ))
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let valid = signed_token(HMAC_SECRET, "svc.billing", now + 600);
    let response = client()
        .get(format!("{}/prod/me", gateway.url))
        .bearer_auth(&valid)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["headers"]["x-principal"], "svc.billing");
    assert_eq!(echoed["headers"]["x-plan"], "signed");
    assert_eq!(echoed["headers"]["x-expires"], (now + 600).to_string());

    let tampered = valid.replacen("svc.billing", "svc.admin", 1);
    let refused = [
        signed_token(HMAC_SECRET, "ada", now - 1),
        signed_token("another-secret-of-thirty-two-bytes!!", "ada", now + 600),
        tampered,
        format!("{valid}x"),
        "ada.notatime.c2ln".to_string(),
    ];
    for token in refused {
        let response = client()
            .get(format!("{}/prod/me", gateway.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{token}");
    }
    let listed = client()
        .get(format!("{}/prod/me", gateway.url))
        .bearer_auth("ada-token")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
}

/// The principal and context tier a request is allowed with, if it is.
type Allowed = Option<(&'static str, &'static str)>;

/// The same token authorizer written four times — Rust with the SDK, Rust with plain
/// wit-bindgen, Python with componentize-py, JavaScript with componentize-js, both at their
/// default settings (the JavaScript component imports `wasi:http`) — answers the same cases the
/// same way.
#[tokio::test]
async fn rust_python_and_javascript_token_authorizers_pass_the_same_cases() {
    const LANGUAGES: [&str; 4] = ["rust", "plain_rust", "python", "javascript"];
    let backend = Backend::start("b").await;
    let mut config = format!(
        "{}{}",
        headers_plugin(),
        tokens_plugin("request").replace("[plugins.auth]", "[plugins.rust]")
    );
    for (language, component) in [
        ("plain_rust", "plain_token_authorizer"),
        ("python", "token_authorizer_py"),
        ("javascript", "token_authorizer_js"),
    ] {
        config.push_str(&format!(
            r#"
[plugins.{language}]
path = "{}"
memory_mb = 128
timeout_ms = 2000
config = {{ tokens = {{ "ada-token" = {{ principal = "ada", context = {{ tier = "gold" }} }}, "bob-token" = {{ principal = "bob" }} }} }}
"#,
            plugin_path(component).display()
        ));
    }
    for language in LANGUAGES {
        config.push_str(&format!(
            r#"
[apis.{language}]
type = "rest"
base_path = "/{language}"
plugins = ["{language}", "headers"]
[apis.{language}.stages.prod]
[apis.{language}.routes."GET /orders"]
integration = {{ type = "http_proxy", uri = "http://{}/orders" }}
"#,
            backend.addr
        ));
    }
    let gateway = Gateway::start(&config).await;
    let client = client();
    for language in LANGUAGES {
        let url = format!("{}/{language}/prod/orders", gateway.url);
        let cases: [(Option<&str>, u16, Allowed); 5] = [
            (None, 401, None),
            (Some("Basic YWRhOmFkYQ=="), 401, None),
            (Some("Bearer nope"), 403, None),
            (Some("Bearer ada-token"), 200, Some(("ada", "gold"))),
            (Some("bearer bob-token"), 200, Some(("bob", ""))),
        ];
        for (authorization, status, allowed) in cases {
            let mut request = client.get(&url);
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), status, "{language}: {authorization:?}");
            let body: Value = response.json().await.unwrap();
            match allowed {
                Some((principal, tier)) => {
                    assert_eq!(body["headers"]["x-principal"], principal, "{language}");
                    assert_eq!(body["headers"]["x-tier"], tier, "{language}: the context");
                }
                None => assert!(body["message"].is_string(), "{language}: {body}"),
            }
        }
    }
}

#[tokio::test]
async fn replacing_a_plugin_file_swaps_it_in_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let component = dir.path().join("auth.wasm");
    std::fs::copy(plugin_path("first_authorizer"), &component).unwrap();
    let gateway = Gateway::start(&format!(
        r#"
# The point is the swap: a deadline far above what parallel tests can delay a call by.
[plugins.auth]
path = "{}"
timeout_ms = 2000
config = {{ users = ["ada"] }}
[apis.r]
type = "http"
plugins = ["auth"]
[apis.r.stages.prod]
[apis.r.routes."GET /x"]
integration = {{ type = "mock", body = "ok" }}
"#,
        component.display()
    ))
    .await;
    let anonymous = |gateway: &Gateway| client().get(format!("{}/prod/x", gateway.url)).send();
    assert_eq!(anonymous(&gateway).await.unwrap().status(), 401);

    let url = format!("{}/prod/x", gateway.url);
    let load = Load::start(4, move |client, _| {
        client.get(&url).header("x-api-user", "ada")
    });
    // The replacement lets everyone in: the swap is visible to anonymous callers.
    std::fs::copy(plugin_path("hostile"), dir.path().join("next.wasm")).unwrap();
    std::fs::rename(dir.path().join("next.wasm"), &component).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while anonymous(&gateway).await.unwrap().status() != 200 {
        assert!(
            Instant::now() < deadline,
            "the new plugin file was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ok, failed) = load.finish().await;
    assert_eq!(failed, 0);
    assert!(ok > 20, "too little load ran: {ok}");
}

/// Settings out of range and keys of the other kind of plugin are config errors (outside
/// tester: `memory_mb = 100000`, `timeout_ms = 0` and `bodies` on a component were accepted), and
/// a filter importing a function no proxy-wasm host has is refused at load, as Envoy refuses it.
#[test]
fn plugin_settings_out_of_range_are_config_errors() {
    let token = crate::support::plugin_path("token_authorizer");
    let dir = tempfile::tempdir().unwrap();
    // A core module exporting the ABI version, importing `env.not_in_the_abi`.
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]); // type 0: () -> ()
    module.extend_from_slice(&[2, 22, 1, 3]);
    module.extend_from_slice(b"env");
    module.extend_from_slice(&[14]);
    module.extend_from_slice(b"not_in_the_abi");
    module.extend_from_slice(&[0, 0]); // func of type 0
    module.extend_from_slice(&[3, 2, 1, 0]); // one function of type 0
    let export = b"proxy_abi_version_0_2_1";
    module.extend_from_slice(&[7, export.len() as u8 + 4, 1, export.len() as u8]);
    module.extend_from_slice(export);
    module.extend_from_slice(&[0, 1]); // export function 1
    module.extend_from_slice(&[10, 4, 1, 2, 0, 0x0b]); // its empty body
    let unknown = dir.path().join("unknown_import.wasm");
    std::fs::write(&unknown, module).unwrap();
    crate::support::assert_config_errors(
        "settings.toml",
        &format!(
            r#"[plugins.big]
path = "{token}"
memory_mb = 100000

[plugins.instant]
path = "{token}"
timeout_ms = 0

[plugins.bodies]
path = "{token}"
bodies = []

[plugins.unknown]
path = "{unknown}"
"#,
            token = token.display(),
            unknown = unknown.display()
        ),
        &[
            (1, "memory_mb = 100000: from 1 to 256"),
            (5, "timeout_ms = 0: from 1 to 60000"),
            (9, "`bodies` applies to proxy-wasm filters only"),
            (13, "not_in_the_abi"),
        ],
    );
}
