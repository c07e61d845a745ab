//! Hot reload: through the admin API, SIGHUP and file watching; invalid configs are rejected
//! while the old one keeps serving; reloading under load fails no request.

use std::time::{Duration, Instant};

use crate::support::{client, Backend, Gateway, Load};

fn config(route: &str, body: &str) -> String {
    format!(
        r#"
[apis.r]
type = "http"
[apis.r.stages.prod]
[apis.r.routes."GET /{route}"]
integration = {{ type = "mock", body = "{body}" }}
"#
    )
}

async fn get(gateway: &Gateway, path: &str) -> (u16, String) {
    let response = client()
        .get(format!("{}{path}", gateway.url))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn admin_reload_serves_a_valid_config_and_rejects_an_invalid_one() {
    let gateway = Gateway::start(&config("old", "old")).await;
    assert_eq!(get(&gateway, "/prod/old").await, (200, "old".to_string()));

    gateway.rewrite_config(&config("new", "new"));
    let (status, body) = gateway.reload().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&gateway, "/prod/new").await, (200, "new".to_string()));
    assert_eq!(get(&gateway, "/prod/old").await.0, 404);

    gateway.rewrite_config(&format!(
        "{}\n[apis.r.routes.\"BAD /x\"]\nintegration = {{ type = \"mock\" }}\n",
        config("newer", "newer")
    ));
    let (status, body) = gateway.reload().await;
    assert_eq!(status, 400, "{body}");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    let error = errors[0].as_str().unwrap();
    assert!(
        error.contains("gateway.toml:") && error.contains("BAD"),
        "{error}"
    );
    // The previous config keeps serving.
    assert_eq!(get(&gateway, "/prod/new").await, (200, "new".to_string()));
    assert_eq!(get(&gateway, "/prod/newer").await.0, 404);
}

async fn wait_for(gateway: &Gateway, path: &str, expected: (u16, &str)) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = get(gateway, path).await;
        if (got.0, got.1.as_str()) == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{path} still answers {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sighup_and_file_changes_reload() {
    let gateway = Gateway::start(&config("a", "a")).await;
    gateway.rewrite_config(&config("b", "b"));
    gateway.signal("HUP");
    wait_for(&gateway, "/prod/b", (200, "b")).await;
    // Without a signal: the watcher sees the file change.
    gateway.rewrite_config(&config("c", "c"));
    wait_for(&gateway, "/prod/c", (200, "c")).await;
    gateway
        .metrics_containing("wasmgate_config_reloads_total{result=\"ok\"}")
        .await;
}

#[tokio::test]
async fn twenty_reloads_under_concurrent_load_fail_no_request() {
    let backend = Backend::start("b").await;
    let versions: Vec<String> = (0..2)
        .map(|v| {
            format!(
                r#"
[apis.r]
type = "http"
[apis.r.stages.prod]
[apis.r.routes."GET /mock"]
integration = {{ type = "mock", body = "v{v}" }}
[apis.r.routes."GET /proxy"]
integration = {{ type = "http_proxy", uri = "http://{}/p{v}" }}
"#,
                backend.addr
            )
        })
        .collect();
    let gateway = Gateway::start(&versions[0]).await;
    let url = gateway.url.clone();
    let load = Load::start(8, move |client, index| {
        let path = if index % 2 == 0 {
            "/prod/mock"
        } else {
            "/prod/proxy"
        };
        client.get(format!("{url}{path}"))
    });
    for i in 0..20 {
        gateway.rewrite_config(&versions[(i + 1) % 2]);
        let (status, body) = gateway.reload().await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ok, failed) = load.finish().await;
    assert_eq!(failed, 0, "{failed} of {} requests failed", ok + failed);
    assert!(ok > 100, "only {ok} requests ran during the reloads");
}

/// A reload applies `[server]` keys such as the account throttle at once, and names exactly the
/// keys that wait for a restart (here `server.threads`).
#[tokio::test]
async fn reload_applies_server_throttle_at_once_and_names_restart_only_keys() {
    let gateway = Gateway::start_with(
        &config("t", "t"),
        crate::support::Extra {
            server: "throttle = { rate = 1000, burst = 1000 }",
            ..Default::default()
        },
    )
    .await;
    for _ in 0..3 {
        assert_eq!(get(&gateway, "/prod/t").await.0, 200);
    }
    gateway.edit_config(
        "throttle = { rate = 1000, burst = 1000 }",
        "throttle = { rate = 0.01, burst = 1 }",
    );
    gateway.edit_config("threads = 2", "threads = 1");
    let (status, body) = gateway.reload().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["restart_needed"],
        serde_json::json!(["server.threads"])
    );
    let statuses = [
        get(&gateway, "/prod/t").await.0,
        get(&gateway, "/prod/t").await.0,
    ];
    assert_eq!(
        statuses,
        [200, 429],
        "the new account throttle applies at once"
    );

    // What needs a restart is measured against what runs, not against the last reload: still
    // named after an unrelated reload, no longer once the running value is back.
    let text = std::fs::read_to_string(&gateway.config_path).unwrap();
    std::fs::write(&gateway.config_path, format!("{text}\n# a comment\n")).unwrap();
    let (_, body) = gateway.reload().await;
    assert_eq!(
        body["restart_needed"],
        serde_json::json!(["server.threads"])
    );
    gateway.edit_config("threads = 1", "threads = 2");
    let (_, body) = gateway.reload().await;
    assert_eq!(body["restart_needed"], serde_json::json!([]));
}

/// The default per-thread runtimes and the work-stealing one (`server.work_stealing = true`)
/// both proxy concurrent requests to a real backend; switching between them waits for a restart.
#[tokio::test]
async fn work_stealing_runtime_serves_and_switching_it_waits_for_a_restart() {
    let backend = Backend::start("stolen").await;
    let config = format!(
        r#"
[apis.r]
type = "http"
[apis.r.stages.prod]
[apis.r.routes."GET /echo"]
integration = {{ type = "http_proxy", uri = "http://{}" }}
"#,
        backend.addr
    );
    let gateway = Gateway::start_with(
        &config,
        crate::support::Extra {
            server: "work_stealing = true",
            ..Default::default()
        },
    )
    .await;
    let requests = (0..64).map(|i| {
        let url = format!("{}/prod/echo?sleep_ms={}", gateway.url, i % 8);
        async move { client().get(url).send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    assert_eq!(backend.hits(), 64);

    gateway.edit_config("work_stealing = true", "work_stealing = false");
    let (status, body) = gateway.reload().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["restart_needed"],
        serde_json::json!(["server.work_stealing"])
    );
    assert_eq!(get(&gateway, "/prod/echo").await.0, 200);
}
