//! CORS through the real gateway: preflights answered by the gateway, CORS headers on backend
//! answers and on the gateway's own errors, and a real browser (headless Chromium, installed by
//! `scripts/setup.sh --browser`) reading — or being refused — responses from two origins.

use tokio::net::TcpListener;

use crate::support::{assert_config_errors, client, plugin_path, serve_document, Gateway};

fn config(allowed_origin: &str) -> String {
    format!(
        r#"
# Deadlines are not under test here: far above what parallel tests can delay a call by.
[plugins.tokens]
path = "{wasm}"
isolation = "reuse"
timeout_ms = 2000
config = {{ tokens = {{ "good-token" = {{ principal = "ada" }} }} }}

[apis.web]
type = "http"
[apis.web.cors]
allow_origins = ["{allowed_origin}", "https://*.example.com"]
allow_methods = ["GET", "POST"]
allow_headers = ["x-custom", "authorization"]
expose_headers = ["x-request-id"]
max_age_seconds = 300
allow_credentials = true
[apis.web.stages.prod]
[apis.web.routes."GET /data"]
integration = {{ type = "mock", headers = {{ "content-type" = "application/json" }}, body = '{{"data": 42}}' }}
[apis.web.routes."GET /secure"]
plugins = ["tokens"]
integration = {{ type = "mock", body = "secret" }}
[apis.web.routes."GET /limited"]
throttle = {{ rate = 0.01, burst = 1 }}
integration = {{ type = "mock", body = "once" }}
"#,
        wasm = plugin_path("token_authorizer").display()
    )
}

/// A browser's preflight from `origin` for `method` (and `headers`) on `path`.
async fn send_preflight(
    gateway: &Gateway,
    path: &str,
    origin: &str,
    method: &str,
    headers: Option<&str>,
) -> reqwest::Response {
    let mut request = client()
        .request(reqwest::Method::OPTIONS, format!("{}{path}", gateway.url))
        .header("origin", origin)
        .header("access-control-request-method", method);
    if let Some(headers) = headers {
        request = request.header("access-control-request-headers", headers);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn preflights_are_answered_and_errors_carry_cors_headers() {
    let gateway = Gateway::start(&config("http://app.test:8000")).await;
    let http = client();
    let preflight = send_preflight(
        &gateway,
        "/prod/secure",
        "http://app.test:8000",
        "GET",
        Some("x-custom, authorization"),
    )
    .await;
    assert_eq!(preflight.status(), 204, "no authorizer, no route needed");
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "http://app.test:8000");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-allow-methods"], "GET, POST");
    assert_eq!(h["access-control-allow-headers"], "x-custom, authorization");
    assert_eq!(h["access-control-max-age"], "300");

    let foreign = send_preflight(&gateway, "/prod/data", "http://evil.test", "GET", None).await;
    assert!(!foreign
        .headers()
        .contains_key("access-control-allow-origin"));

    let refused_method = send_preflight(
        &gateway,
        "/prod/data",
        "http://app.test:8000",
        "DELETE",
        None,
    )
    .await;
    assert_eq!(refused_method.status(), 204);
    assert!(
        !refused_method
            .headers()
            .contains_key("access-control-allow-origin"),
        "a preflight for a method the API does not allow carries no CORS grant"
    );

    for (path, status) in [
        ("/prod/data", 200),
        ("/prod/secure", 401),
        ("/prod/limited", 200),
        ("/prod/limited", 429),
        ("/prod/nowhere", 404),
        ("/outside/every/api", 404),
    ] {
        let response = http
            .get(format!("{}{path}", gateway.url))
            .header("origin", "https://shop.example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        let h = response.headers();
        assert_eq!(
            h["access-control-allow-origin"], "https://shop.example.com",
            "{path} {status}"
        );
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(h["access-control-expose-headers"], "x-request-id");
        assert_eq!(h["vary"], "origin");
    }
    let foreign = http
        .get(format!("{}/outside/every/api", gateway.url))
        .header("origin", "https://evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
    assert!(
        !foreign
            .headers()
            .contains_key("access-control-allow-origin"),
        "an origin no API allows reads nothing outside the APIs either"
    );
}

const PAGE: &str = r#"<!doctype html><html><body><pre id="result">pending</pre><script>
(async () => {
  const out = {};
  for (const [name, path] of [["data", "/prod/data"], ["secure", "/prod/secure"]]) {
    try {
      const r = await fetch("GATEWAY" + path, { credentials: "include", headers: { "x-custom": "1" } });
      out[name] = r.status + " " + (await r.text()) + " id:" + (r.headers.get("x-request-id") ? "seen" : "hidden");
    } catch (e) {
      out[name] = "blocked";
    }
  }
  document.getElementById("result").textContent = JSON.stringify(out);
})();
</script></body></html>"#;

/// Load `url` in headless Chromium and return the page's result once its script finished.
fn browse(url: &str) -> serde_json::Value {
    let profile = tempfile::tempdir().unwrap();
    let output = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .expect("chromium (scripts/setup.sh --browser installs it)");
    let dom = String::from_utf8_lossy(&output.stdout);
    let result = dom
        .split("<pre id=\"result\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("no result in the page: {dom}"));
    let result = result.replace("&quot;", "\"").replace("&amp;", "&");
    serde_json::from_str(&result).unwrap_or_else(|_| panic!("page result: {result}"))
}

#[tokio::test]
async fn a_browser_reads_responses_only_from_the_allowed_origin_401s_included() {
    let listener_a = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener_b = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (origin_a, origin_b) = (
        listener_a.local_addr().unwrap(),
        listener_b.local_addr().unwrap(),
    );
    let gateway = Gateway::start(&config(&format!("http://{origin_a}"))).await;
    let page = PAGE.replace("GATEWAY", &gateway.url);
    serve_document(listener_a, "text/html", page.clone());
    serve_document(listener_b, "text/html", page);

    let from_a = tokio::task::spawn_blocking(move || browse(&format!("http://{origin_a}/")))
        .await
        .unwrap();
    assert_eq!(from_a["data"], "200 {\"data\": 42} id:seen", "{from_a}");
    assert_eq!(
        from_a["secure"], "401 {\"message\":\"Unauthorized\"} id:seen",
        "the gateway's 401 is readable by the allowed origin"
    );
    let from_b = tokio::task::spawn_blocking(move || browse(&format!("http://{origin_b}/")))
        .await
        .unwrap();
    assert_eq!(from_b["data"], "blocked", "{from_b}");
    assert_eq!(from_b["secure"], "blocked", "{from_b}");
}

#[test]
fn credentials_with_any_origin_and_bad_origins_are_config_errors() {
    let config = r#"[apis.a]
type = "http"
[apis.a.cors]
allow_origins = ["*"]
allow_credentials = true
[apis.a.stages.prod]
[apis.a.routes."GET /x"]
integration = { type = "mock" }

[apis.b]
type = "http"
base_path = "/b"
cors = { allow_origins = ["example.com"] }
[apis.b.stages.prod]
[apis.b.routes."GET /x"]
integration = { type = "mock" }
"#;
    assert_config_errors(
        "cors.toml",
        config,
        &[
            (3, "cannot go with the origin \"*\""),
            (13, "`example.com` is not an origin"),
        ],
    );
}
