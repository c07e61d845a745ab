//! The response cache driven by the cache-policy plugin: hits skip the backend, keys follow the
//! policy (query parameters, principal), authorizers run before the cache, refreshes, TTLs,
//! uncacheable responses, flushing, and the buffered (whole-body) path.

use std::time::Duration;

use reqwest::Response;
use serde_json::Value;

use crate::support::{client, plugin_path, Backend, Gateway};

fn plugins(cache_config: &str) -> String {
    format!(
        r#"
[plugins.auth]
path = "{}"
config = {{ tokens = {{ "ada-token" = {{ principal = "ada" }}, "bob-token" = {{ principal = "bob" }} }} }}
[plugins.cache]
path = "{}"
config = {cache_config}
[plugins.stamp]
path = "{}"
config = {{ response = {{ set = {{ "x-stamped" = "yes" }} }} }}
[plugins.redact]
path = "{}"
config = {{ fields = ["headers"] }}
"#,
        plugin_path("token_authorizer").display(),
        plugin_path("cache_policy").display(),
        plugin_path("header_transformer").display(),
        plugin_path("json_redactor").display(),
    )
}

fn cache_header(response: &Response) -> Option<String> {
    response
        .headers()
        .get("x-wasmgate-cache")
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn cache_policy_answers_repeats_from_the_cache() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&format!(
        r#"{}
[apis.c]
type = "rest"
plugins = ["auth"]
[apis.c.stages.prod]
[apis.c.routes."ANY /items"]
plugins = ["cache", "stamp"]
integration = {{ type = "http_proxy", uri = "http://{}/items" }}
"#,
        plugins(
            r#"{ ttl_seconds = 60, key_query = ["page"], per_principal = true, client_refresh = true }"#
        ),
        backend.addr
    ))
    .await;
    let url = format!("{}/prod/items", gateway.url);
    let get = |token: &str, query: &str| {
        client()
            .get(format!("{url}?{query}"))
            .bearer_auth(token)
            .send()
    };

    let first = get("ada-token", "page=1&x=1").await.unwrap();
    assert_eq!(cache_header(&first).as_deref(), Some("miss"));
    let first_id = first.headers()["x-request-id"].clone();
    let first_body: Value = first.json().await.unwrap();
    assert_eq!(backend.hits(), 1);

    let again = get("ada-token", "x=2&page=1").await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(cache_header(&again).as_deref(), Some("hit"));
    assert_eq!(
        again.headers()["x-stamped"],
        "yes",
        "transformers run on hits"
    );
    assert_ne!(again.headers()["x-request-id"], first_id);
    assert_eq!(again.json::<Value>().await.unwrap(), first_body);
    assert_eq!(backend.hits(), 1, "a hit does not reach the backend");

    let bob = get("bob-token", "page=1").await.unwrap();
    assert_eq!(
        cache_header(&bob).as_deref(),
        Some("miss"),
        "keyed per principal"
    );
    assert_eq!(
        client()
            .get(format!("{url}?page=1"))
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "the authorizer runs before the cache"
    );
    let page_two = get("ada-token", "page=2").await.unwrap();
    assert_eq!(cache_header(&page_two).as_deref(), Some("miss"));
    assert_eq!(backend.hits(), 3);

    let refreshed = client()
        .get(format!("{url}?page=1"))
        .bearer_auth("ada-token")
        .header("cache-control", "max-age=0")
        .send()
        .await
        .unwrap();
    assert_eq!(cache_header(&refreshed).as_deref(), Some("refresh"));
    assert_eq!(backend.hits(), 4);
    assert_eq!(
        cache_header(&get("ada-token", "page=1").await.unwrap()).as_deref(),
        Some("hit")
    );

    let post = client()
        .post(format!("{url}?page=1"))
        .bearer_auth("ada-token")
        .send()
        .await
        .unwrap();
    assert_eq!(cache_header(&post), None, "only GET is cached");
    assert_eq!(backend.hits(), 5);

    for _ in 0..2 {
        let failed = client()
            .get(format!("{url}?page=9"))
            .bearer_auth("ada-token")
            .header("x-echo-status", "500")
            .send()
            .await
            .unwrap();
        assert_eq!(failed.status(), 500);
        assert_eq!(
            cache_header(&failed).as_deref(),
            Some("miss"),
            "errors are not stored"
        );
    }
    let head = client()
        .head(format!("{url}?page=3"))
        .bearer_auth("ada-token")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let after_head = get("ada-token", "page=3").await.unwrap();
    assert_eq!(cache_header(&after_head).as_deref(), Some("miss"));
    assert!(after_head.json::<Value>().await.unwrap()["backend"] == "b");
    assert_eq!(backend.hits(), 9);

    let flushed = client()
        .delete(format!("{}/admin/cache", gateway.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(flushed.status(), 200);
    let after_flush = get("ada-token", "page=1").await.unwrap();
    assert_eq!(cache_header(&after_flush).as_deref(), Some("miss"));
    assert_eq!(backend.hits(), 10);

    gateway
        .metrics_containing(r#"wasmgate_cache_lookups_total{api="c",result="hit",stage="prod"} 2"#)
        .await;
}

#[tokio::test]
async fn entries_expire_and_whole_body_routes_cache_the_backend_response() {
    let backend = Backend::start("b").await;
    let gateway = Gateway::start(&format!(
        r#"{}
[apis.t]
type = "http"
plugins = ["cache"]
[apis.t.stages.prod]
[apis.t.routes."GET /short"]
integration = {{ type = "http_proxy", uri = "http://{addr}/short" }}
[apis.t.routes."GET /redacted"]
plugins = ["redact"]
integration = {{ type = "http_proxy", uri = "http://{addr}/redacted" }}
"#,
        plugins("{ ttl_seconds = 2 }"),
        addr = backend.addr
    ))
    .await;
    let get = |path: &str| client().get(format!("{}/prod{path}", gateway.url)).send();

    assert_eq!(
        cache_header(&get("/short").await.unwrap()).as_deref(),
        Some("miss")
    );
    assert_eq!(
        cache_header(&get("/short").await.unwrap()).as_deref(),
        Some("hit")
    );
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(
        cache_header(&get("/short").await.unwrap()).as_deref(),
        Some("miss")
    );
    assert_eq!(backend.hits(), 2);

    for expected in ["miss", "hit"] {
        let response = get("/redacted").await.unwrap();
        assert_eq!(cache_header(&response).as_deref(), Some(expected));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["path"], "/redacted");
        assert!(body.get("headers").is_none(), "{expected}: {body}");
    }
    assert_eq!(backend.hits(), 3);
}
