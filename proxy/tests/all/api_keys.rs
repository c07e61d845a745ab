//! API keys and usage plans through the real gateway: keys made by the CLI work at once, missing,
//! unknown, disabled and rotated-away keys get 403, quotas answer 429 `Limit Exceeded` and survive
//! a restart and a `kill -9`, per-key buckets isolate keys, keys never reach the database file or
//! the logs in clear, and a damaged or locked database stops the start.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{assert_config_errors, client, get_json, plugin_path, Gateway};

fn plan_config(quota: &str, throttle: &str) -> String {
    format!(
        r#"
[apis.shop]
type = "rest"
[apis.shop.stages.prod]
[apis.shop.stages.beta]
[apis.shop.routes."GET /items"]
api_key_required = true
integration = {{ type = "mock", body = "items" }}
[apis.shop.routes."GET /slow"]
api_key_required = true
integration = {{ type = "mock", body = "slow" }}
[apis.shop.routes."GET /open"]
integration = {{ type = "mock", body = "open" }}

[usage_plans.gold]
stages = ["shop/prod"]
{quota}
{throttle}
method_throttles = {{ "shop/prod/GET /slow" = {{ rate = 0.5, burst = 2 }} }}
"#
    )
}

async fn get(gateway: &Gateway, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut request = client().get(format!("{}{path}", gateway.url));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn cli_json(gateway: &Gateway, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (ok, stdout, stderr) = gateway.cli(&all);
    assert!(ok, "wasmgate {args:?} failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
}

/// Every byte the gateway wrote: state database files and the access log.
fn written_bytes(gateway: &Gateway) -> Vec<u8> {
    let mut bytes = Vec::new();
    let state = gateway.dir().join(".wasmgate");
    for entry in std::fs::read_dir(&state).expect("state dir") {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    bytes.extend(std::fs::read(gateway.dir().join("access.log")).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn cli_keys_work_at_once_and_missing_unknown_disabled_or_rotated_keys_get_403() {
    let gateway = Gateway::start(&plan_config("", "")).await;
    let created = cli_json(
        &gateway,
        &["keys", "create", "--name", "ada", "--plan", "gold"],
    );
    let created = &created[0];
    let (id, value) = (
        created["id"].as_str().unwrap().to_string(),
        created["value"].as_str().unwrap().to_string(),
    );
    assert_eq!(created["enabled"], true);
    assert_eq!(created["plans"], json!(["gold"]));

    assert_eq!(get(&gateway, "/prod/items", Some(&value)).await.0, 200);
    let forbidden = json!({ "message": "Forbidden" });
    assert_eq!(
        get(&gateway, "/prod/items", None).await,
        (403, forbidden.clone())
    );
    let unknown = "x".repeat(40);
    assert_eq!(
        get(&gateway, "/prod/items", Some(&unknown)).await,
        (403, forbidden.clone())
    );
    assert_eq!(
        get(&gateway, "/prod/open", None).await.0,
        200,
        "no key needed"
    );
    assert_eq!(
        get(&gateway, "/beta/items", Some(&value)).await.0,
        403,
        "the plan does not cover the beta stage"
    );

    let (ok, table, _) = gateway.cli(&["keys", "list"]);
    assert!(ok);
    assert!(table.starts_with("ID") && table.contains(&id) && table.contains("ada"));
    assert!(!table.contains(&value), "list never shows values:\n{table}");

    cli_json(&gateway, &["keys", "disable", &id]);
    assert_eq!(
        get(&gateway, "/prod/items", Some(&value)).await,
        (403, forbidden.clone())
    );
    cli_json(&gateway, &["keys", "enable", &id]);
    assert_eq!(get(&gateway, "/prod/items", Some(&value)).await.0, 200);

    let rotated = cli_json(&gateway, &["keys", "rotate", &id]);
    let new_value = rotated[0]["value"].as_str().unwrap().to_string();
    assert_ne!(new_value, value);
    assert_eq!(get(&gateway, "/prod/items", Some(&value)).await.0, 403);
    assert_eq!(get(&gateway, "/prod/items", Some(&new_value)).await.0, 200);

    let line = gateway
        .access_log_line(|line| line["apiKeyId"] == id.as_str())
        .await;
    assert_eq!(line["status"], 200);
    let refused = gateway
        .access_log_line(|line| line["errorType"] == "INVALID_API_KEY")
        .await;
    assert_eq!(refused["status"], 403);

    let (ok, _, _) = gateway.cli(&["keys", "delete", &id]);
    assert!(ok);
    assert_eq!(get(&gateway, "/prod/items", Some(&new_value)).await.0, 403);
    let (ok, _, stderr) = gateway.cli(&["keys", "show", &id]);
    assert!(
        !ok && stderr.contains("404") && stderr.contains("no API key"),
        "{stderr}"
    );

    let written = written_bytes(&gateway);
    for secret in [&value, &new_value] {
        assert!(
            !contains(&written, secret),
            "a key value was written in clear"
        );
    }
}

#[tokio::test]
async fn admin_api_answers_rest_style_with_clear_errors() {
    let gateway = Gateway::start(&plan_config("", "")).await;
    let admin = |path: &str| format!("{}{path}", gateway.admin);
    let http = client();
    let created = http
        .post(admin("/admin/keys"))
        .json(&json!({ "name": "bob", "plans": ["gold"], "value": "bob-chose-this-long-value" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        get(&gateway, "/prod/items", Some("bob-chose-this-long-value"))
            .await
            .0,
        200
    );
    let cases = [
        (
            json!({ "name": "x", "plans": ["platinum"] }),
            400,
            "no usage plan `platinum`",
        ),
        (
            json!({ "name": "x", "value": "short" }),
            400,
            "at least 20 characters",
        ),
        (json!({ "name": "", "plans": [] }), 400, "name"),
        (
            json!({ "name": "x", "colour": "red" }),
            400,
            "unknown field",
        ),
        (
            json!({ "name": "again", "value": "bob-chose-this-long-value" }),
            409,
            "another API key has this value",
        ),
    ];
    for (body, status, words) in cases {
        let answer = http
            .post(admin("/admin/keys"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), status, "{body}");
        let message = answer.json::<Value>().await.unwrap()["message"].to_string();
        assert!(message.contains(words), "{body}: {message}");
    }
    let not_json = http
        .post(admin("/admin/keys"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status().as_u16(), 400);
    let missing = http.get(admin("/admin/keys/nope")).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let wrong_method = http.put(admin("/admin/keys")).send().await.unwrap();
    assert_eq!(wrong_method.status().as_u16(), 405);
    let patched = http
        .patch(admin(&format!("/admin/keys/{id}")))
        .json(&json!({ "enabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status().as_u16(), 200);
    assert_eq!(patched.json::<Value>().await.unwrap()["enabled"], false);
    let deleted = http
        .delete(admin(&format!("/admin/keys/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let (_, plans) = get_json(&admin("/admin/usage-plans"), &[]).await;
    assert_eq!(plans["items"][0]["name"], "gold");
    assert_eq!(plans["items"][0]["stages"], json!(["shop/prod"]));
}

#[tokio::test]
async fn a_quota_of_n_refuses_request_n_plus_1_and_a_restart_keeps_the_count() {
    let quota = r#"quota = { limit = 5, period = "MONTH" }"#;
    let mut gateway = Gateway::start(&plan_config(quota, "")).await;
    let key = cli_json(
        &gateway,
        &["keys", "create", "--name", "q", "--plan", "gold"],
    );
    let (id, value) = (
        key[0]["id"].as_str().unwrap().to_string(),
        key[0]["value"].as_str().unwrap().to_string(),
    );
    for _ in 0..3 {
        assert_eq!(get(&gateway, "/prod/items", Some(&value)).await.0, 200);
    }
    gateway.signal("TERM");
    assert!(gateway.wait_exit(Duration::from_secs(10)).is_some());
    gateway.restart().await;
    for _ in 0..2 {
        assert_eq!(get(&gateway, "/prod/items", Some(&value)).await.0, 200);
    }
    let refused = get(&gateway, "/prod/items", Some(&value)).await;
    assert_eq!(refused, (429, json!({ "message": "Limit Exceeded" })));

    let report = cli_json(&gateway, &["usage", "gold", "--key", &id]);
    let days = report["items"][&id].as_array().expect("the key's days");
    let today = days.last().unwrap();
    assert_eq!(
        today,
        &json!([5, 0]),
        "used 5 (the refused one is not counted), 0 left"
    );
    let (ok, table, _) = gateway.cli(&["usage", "gold"]);
    assert!(
        ok && table.starts_with("KEY") && table.contains(&id),
        "{table}"
    );
    gateway
        .metrics_containing(
            "wasmgate_api_key_refusals_total{api=\"shop\",reason=\"limit_exceeded\"",
        )
        .await;
}

#[tokio::test]
async fn per_key_buckets_isolate_keys_and_method_throttles_override_the_plan() {
    let throttle = "throttle = { rate = 20, burst = 10 }";
    let gateway = Gateway::start(&plan_config("", throttle)).await;
    let import = json!({ "keys": [
        { "name": "busy", "plans": ["gold"], "value": "busy-key-value-0123456789" },
        { "name": "calm", "plans": ["gold"], "value": "calm-key-value-0123456789" },
    ]});
    let imported: Value = client()
        .post(format!("{}/admin/keys/import", gateway.admin))
        .json(&import)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(imported["items"].as_array().unwrap().len(), 2);

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, throttled) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let url = format!("{}/prod/items", gateway.url);
    let started = Instant::now();
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, throttled, url) =
                (stop.clone(), ok.clone(), throttled.clone(), url.clone());
            tokio::spawn(async move {
                let client = client();
                while !stop.load(Ordering::SeqCst) {
                    let response = client
                        .get(&url)
                        .header("x-api-key", "busy-key-value-0123456789")
                        .send()
                        .await
                        .unwrap();
                    match response.status().as_u16() {
                        200 => ok.fetch_add(1, Ordering::SeqCst),
                        429 => {
                            assert!(response.headers().contains_key("retry-after"));
                            throttled.fetch_add(1, Ordering::SeqCst)
                        }
                        other => panic!("unexpected status {other}"),
                    };
                }
            })
        })
        .collect();
    let mut calm_statuses = Vec::new();
    for _ in 0..10 {
        let status = get(&gateway, "/prod/items", Some("calm-key-value-0123456789"))
            .await
            .0;
        calm_statuses.push(status);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    for task in busy {
        task.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        calm_statuses.iter().all(|s| *s == 200),
        "calm key: {calm_statuses:?}"
    );
    let (ok, throttled) = (ok.load(Ordering::SeqCst), throttled.load(Ordering::SeqCst));
    let expected = 10.0 + 20.0 * seconds;
    let accepted = ok as f64;
    assert!(
        throttled > 0 && (accepted - expected).abs() <= expected * 0.05 + 2.0,
        "busy key: {ok} accepted in {seconds:.2}s (expected ≈ {expected:.0}), {throttled} refused"
    );

    let slow: Vec<u16> = {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(
                get(&gateway, "/prod/slow", Some("calm-key-value-0123456789"))
                    .await
                    .0,
            );
        }
        statuses
    };
    assert_eq!(
        slow,
        [200, 200, 429],
        "the method throttle (burst 2) replaces the plan's"
    );
}

#[tokio::test]
async fn after_kill_9_under_load_acknowledged_keys_exist_and_usage_is_within_a_second() {
    // The load (a mock route, four clients) can pass AWS's default account limit of 10,000
    // requests/s: raised, so that every request is answered and counted.
    let mut gateway = Gateway::start_with(
        &plan_config("", ""),
        crate::support::Extra {
            server: "throttle = { rate = 1000000, burst = 100000 }",
            ..crate::support::Extra::default()
        },
    )
    .await;
    let loaded = cli_json(
        &gateway,
        &["keys", "create", "--name", "load", "--plan", "gold"],
    );
    let (load_id, load_value) = (
        loaded[0]["id"].as_str().unwrap().to_string(),
        loaded[0]["value"].as_str().unwrap().to_string(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let url = format!("{}/prod/items", gateway.url);
    let clients = 4;
    let load: Vec<_> = (0..clients)
        .map(|_| {
            let (stop, ok, url, key) = (stop.clone(), ok.clone(), url.clone(), load_value.clone());
            tokio::spawn(async move {
                let client = client();
                while !stop.load(Ordering::SeqCst) {
                    let sent = client.get(&url).header("x-api-key", &key).send().await;
                    match sent {
                        Ok(response) if response.status() == 200 => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(response) => panic!("unexpected status {}", response.status()),
                        Err(_) => return, // the gateway was killed
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut acknowledged = Vec::new();
    let http = client();
    while started.elapsed() < Duration::from_millis(2500) {
        let created = http
            .post(format!("{}/admin/keys", gateway.admin))
            .json(&json!({ "name": format!("k{}", acknowledged.len()), "plans": ["gold"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status().as_u16(), 201);
        let created: Value = created.json().await.unwrap();
        acknowledged.push((
            created["id"].as_str().unwrap().to_string(),
            created["value"].as_str().unwrap().to_string(),
        ));
    }
    gateway.signal("KILL");
    let killed_at = started.elapsed().as_secs_f64();
    assert!(gateway.wait_exit(Duration::from_secs(5)).is_some());
    stop.store(true, Ordering::SeqCst);
    for task in load {
        task.await.unwrap();
    }
    let answered = ok.load(Ordering::SeqCst) as f64;
    let rate = answered / killed_at;

    gateway.restart().await;
    assert!(
        acknowledged.len() >= 5,
        "only {} keys created",
        acknowledged.len()
    );
    for (id, value) in &acknowledged {
        assert_eq!(
            get(&gateway, "/prod/items", Some(value)).await.0,
            200,
            "key {id}"
        );
    }
    let report = cli_json(&gateway, &["usage", "gold", "--key", &load_id]);
    let counted = report["items"][&load_id]
        .as_array()
        .unwrap()
        .iter()
        .map(|day| day[0].as_u64().unwrap())
        .sum::<u64>() as f64;
    assert!(
        counted >= answered - rate && counted <= answered + clients as f64,
        "counted {counted} of {answered} answered requests ({rate:.0}/s): more than 1 s lost"
    );
}

#[tokio::test]
async fn keys_from_an_authorizer_and_from_the_config() {
    let config = format!(
        r#"
# Deadlines are not under test here: far above what parallel tests can delay a call by.
[plugins.tokens]
path = "{}"
isolation = "reuse"
timeout_ms = 2000
config = {{ tokens = {{
  "with-key" = {{ principal = "ada", context = {{ usageIdentifierKey = "partner-key-from-env-0123" }} }},
  "without-key" = {{ principal = "bob" }} }} }}

[apis.partners]
type = "http"
base_path = "/partners"
api_key_source = "authorizer"
[apis.partners.stages.prod]
[apis.partners.routes."GET /data"]
plugins = ["tokens"]
api_key_required = true
integration = {{ type = "mock", body = "data" }}

[apis.direct]
type = "http"
base_path = "/direct"
[apis.direct.stages.prod]
[apis.direct.routes."GET /data"]
api_key_required = true
integration = {{ type = "mock", body = "data" }}

[usage_plans.partners]
stages = ["partners/prod", "direct/prod"]
quota = {{ limit = 100, period = "DAY" }}

[api_keys.partner]
value_env = "WASMGATE_TEST_PARTNER_KEY"
plans = ["partners"]
"#,
        plugin_path("token_authorizer").display()
    );
    let env = [("WASMGATE_TEST_PARTNER_KEY", "partner-key-from-env-0123")];
    let gateway = Gateway::start_with_env(&config, &env).await;
    let bearer = |token: &str| {
        client()
            .get(format!("{}/partners/prod/data", gateway.url))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    assert_eq!(bearer("with-key").await.unwrap().status(), 200);
    assert_eq!(bearer("without-key").await.unwrap().status(), 403);
    let presented = get(
        &gateway,
        "/direct/prod/data",
        Some("partner-key-from-env-0123"),
    )
    .await;
    assert_eq!(presented.0, 200);
    let (_, listed) = get_json(&format!("{}/admin/keys", gateway.admin), &[]).await;
    assert_eq!(listed["items"][0]["id"], "partner");
    assert_eq!(listed["items"][0]["source"], "config");
    let changed = client()
        .patch(format!("{}/admin/keys/partner", gateway.admin))
        .json(&json!({ "enabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        changed.status().as_u16(),
        409,
        "config keys change in the config"
    );
    let report = cli_json(&gateway, &["usage", "partners", "--key", "partner"]);
    let today = report["items"]["partner"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(today, json!([2, 98]));
}

#[test]
fn plan_and_key_mistakes_are_config_errors_at_their_lines() {
    let config = r#"[apis.shop]
type = "rest"
[apis.shop.stages.prod]
[apis.shop.routes."GET /items"]
integration = { type = "mock" }

[usage_plans.gold]
stages = ["shop/prod", "shop/nope"]
[usage_plans.bronze]
quota = { limit = 10, period = "YEAR" }
[usage_plans.silver]
stages = ["shop/prod"]
method_throttles = { "shop/prod/GET /missing" = { rate = 1, burst = 1 } }

[api_keys.unset]
value_env = "WASMGATE_TEST_SURELY_UNSET_VARIABLE"

[api_keys.short]
value_file = "short.key"
plans = ["platinum"]
"#;
    assert_config_errors(
        "plans.toml",
        config,
        &[
            (8, "API `shop` has no stage `nope`"),
            (10, "unknown variant `YEAR`"),
            (13, "no route `GET /missing`"),
            (16, "`WASMGATE_TEST_SURELY_UNSET_VARIABLE` is not set"),
            (19, "cannot read `short.key`"),
            (20, "no usage plan named `platinum`"),
        ],
    );
}

#[test]
fn a_damaged_or_locked_state_database_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    let port = crate::support::free_port();
    let admin = crate::support::free_port();
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n"
        ),
    )
    .unwrap();
    let state = dir.path().join(".wasmgate");
    std::fs::create_dir_all(&state).unwrap();
    let garbage = vec![0x5a_u8; 16384];
    std::fs::write(state.join("state.db"), &garbage).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .arg("serve")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("server.state_dir") && stderr.contains("damaged or not a database"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(state.join("state.db")).unwrap(),
        garbage,
        "never reset"
    );

    std::fs::remove_file(state.join("state.db")).unwrap();
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .arg("serve")
        .arg(&config)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", admin)).is_err() {
        assert!(Instant::now() < deadline, "first gateway did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{}\"]\n[admin]\nlisten = \"127.0.0.1:{}\"\n",
            crate::support::free_port(),
            crate::support::free_port()
        ),
    )
    .unwrap();
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_wasmgate"))
        .arg("serve")
        .arg(&other)
        .output()
        .unwrap();
    let _ = first.kill();
    let _ = first.wait();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(stderr.contains("locked by another process"), "{stderr}");
}
