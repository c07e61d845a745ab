//! Throttling through the real gateway: accepted rate within 5% of rate + burst under concurrent
//! load, 429 with `Retry-After`, the strictest level applying, buckets surviving a reload, and
//! bad limits as config errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{client, Gateway};

/// Send requests from `clients` concurrent loops for `duration`; (200s, 429s, seconds taken).
async fn blast(url: &str, clients: usize, duration: Duration) -> (usize, usize, f64) {
    let ok = Arc::new(AtomicUsize::new(0));
    let throttled = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (url, ok, throttled) = (url.to_string(), ok.clone(), throttled.clone());
            tokio::spawn(async move {
                let client = client();
                while Instant::now() < deadline {
                    let status = client.get(&url).send().await.unwrap().status().as_u16();
                    match status {
                        200 => ok.fetch_add(1, Ordering::SeqCst),
                        429 => throttled.fetch_add(1, Ordering::SeqCst),
                        other => panic!("unexpected status {other}"),
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (
        ok.load(Ordering::SeqCst),
        throttled.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64(),
    )
}

#[tokio::test]
async fn accepted_rate_is_rate_plus_burst_and_the_strictest_level_applies() {
    let gateway = Gateway::start(
        r#"
[apis.t]
type = "http"
[apis.t.stages.prod]
throttle = { rate = 60, burst = 30 }
[apis.t.routes."GET /route"]
throttle = { rate = 100, burst = 50 }
integration = { type = "mock", body = "ok" }
[apis.t.routes."GET /stage"]
integration = { type = "mock", body = "ok" }
[apis.t.stages.open]
[apis.t.routes."GET /strict"]
throttle = { rate = 5, burst = 5 }
integration = { type = "mock", body = "ok" }
"#,
    )
    .await;
    // In the `open` stage only the route's own bucket applies: 100/s with a burst of 50.
    let (ok, throttled, seconds) = blast(
        &format!("{}/open/route", gateway.url),
        8,
        Duration::from_secs(2),
    )
    .await;
    let expected = 50.0 + 100.0 * seconds;
    assert!(
        (ok as f64 - expected).abs() <= expected * 0.05,
        "accepted {ok} in {seconds:.2} s, expected {expected:.0} ± 5%"
    );
    assert!(throttled > 0, "the load exceeded the limit");

    // In `prod` the stage's 60/s (burst 30) is stricter than the route's 100/s.
    let (ok, _, seconds) = blast(
        &format!("{}/prod/route", gateway.url),
        8,
        Duration::from_secs(2),
    )
    .await;
    let expected = 30.0 + 60.0 * seconds;
    assert!(
        (ok as f64 - expected).abs() <= expected * 0.05,
        "accepted {ok} in {seconds:.2} s, expected {expected:.0} ± 5%"
    );
    gateway
        .metrics_containing(r#"level="stage",route="GET /route",stage="prod""#)
        .await;

    let mut refused = None;
    for _ in 0..10 {
        let response = client()
            .get(format!("{}/open/strict", gateway.url))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("the sixth request in a burst of 5 is refused");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry_after, 1);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        serde_json::json!({ "message": "Too Many Requests" })
    );
}

#[tokio::test]
async fn buckets_keep_their_state_across_reloads() {
    let config = |body: &str| {
        format!(
            r#"
[apis.t]
type = "http"
[apis.t.stages.prod]
[apis.t.routes."GET /slow"]
throttle = {{ rate = 0.1, burst = 2 }}
integration = {{ type = "mock", body = "{body}" }}
"#
        )
    };
    let gateway = Gateway::start(&config("a")).await;
    let url = format!("{}/prod/slow", gateway.url);
    let statuses = async || {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(client().get(&url).send().await.unwrap().status().as_u16());
        }
        statuses
    };
    assert_eq!(statuses().await, [200, 200, 429]);
    gateway.rewrite_config(&config("b"));
    let (status, _) = gateway.reload().await;
    assert_eq!(status, 200);
    assert_eq!(
        statuses().await,
        [429, 429, 429],
        "a reload is no way around a limit"
    );
}

#[test]
fn bad_limits_are_config_errors() {
    crate::support::assert_config_errors(
        "throttle.toml",
        r#"[server]
throttle = { rate = 100, burst = 0 }

[apis.t]
type = "http"
[apis.t.stages.prod]
throttle = { rate = -1, burst = 5 }
[apis.t.routes."GET /x"]
throttle = { rate = 10, brust = 5 }
integration = { type = "mock" }
"#,
        &[
            (2, "`burst` must be at least 1"),
            (7, "`rate` must be a number of requests per second above 0"),
            (9, "brust"),
        ],
    );
}

#[tokio::test]
async fn requests_that_match_no_route_take_account_tokens_too() {
    let gateway = Gateway::start_with(
        r#"
[apis.t]
type = "http"
[apis.t.stages.prod]
[apis.t.routes."GET /x"]
integration = { type = "mock", body = "ok" }
"#,
        crate::support::Extra {
            server: "throttle = { rate = 0.5, burst = 3 }",
            ..crate::support::Extra::default()
        },
    )
    .await;
    let mut statuses = Vec::new();
    for path in [
        "/prod/unknown",
        "/nowhere",
        "/prod/unknown",
        "/nowhere",
        "/prod/x",
    ] {
        let response = client()
            .get(format!("{}{path}", gateway.url))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status == 429 {
            assert!(response.headers().contains_key("retry-after"));
            assert_eq!(
                response.headers()["x-amzn-errortype"],
                "TooManyRequestsException"
            );
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [404, 404, 404, 429, 429]);
    gateway
        .metrics_containing(r#"wasmgate_throttled_requests_total{api="",level="account""#)
        .await;
}
