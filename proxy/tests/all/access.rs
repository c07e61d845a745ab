//! Access control through the real gateway: resource policies (allow, deny, IPv4 and IPv6 CIDR
//! blocks, `X-Forwarded-For` believed only from trusted proxies); the admin API's token is
//! tested in `admin`.

use serde_json::{json, Value};

use crate::support::{assert_config_errors, get_json, Extra, Gateway};

const POLICY_API: &str = r#"
[apis.inner]
type = "rest"
[apis.inner.resource_policy]
allow = ["10.0.0.0/8", "2001:db8::/32", "127.0.0.1"]
deny = ["10.6.6.0/24", "2001:db8:bad::/48"]
[apis.inner.stages.prod]
[apis.inner.routes."GET /data"]
integration = { type = "mock", body = "data" }

[apis.open]
type = "http"
base_path = "/open"
[apis.open.stages.prod]
[apis.open.routes."GET /data"]
integration = { type = "mock", body = "open" }
"#;

async fn get_from(gateway: &Gateway, path: &str, forwarded_for: Option<&str>) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = forwarded_for
        .map(|chain| ("x-forwarded-for", chain))
        .into_iter()
        .collect();
    get_json(&format!("{}{path}", gateway.url), &headers).await
}

#[tokio::test]
async fn resource_policies_allow_and_deny_v4_and_v6_blocks_seen_through_trusted_proxies() {
    let extra = Extra {
        server: r#"trusted_proxies = ["127.0.0.1"]"#,
        ..Extra::default()
    };
    let gateway = Gateway::start_with(POLICY_API, extra).await;
    let denied = |method_path: &str| {
        json!({ "message": format!(
            "User: anonymous is not authorized to perform: execute-api:Invoke on resource: \
             arn:wasmgate:execute-api:local:inner/prod/{method_path}") })
    };
    let cases = [
        (Some("10.1.2.3"), 200),
        (Some("10.6.6.9"), 403),
        (Some("192.0.2.1"), 403),
        (Some("2001:db8:1::5"), 200),
        (Some("2001:db8:bad::5"), 403),
        (Some("2001:dead::1"), 403),
        // A client cannot choose its address: only the entry the trusted proxy added counts.
        (Some("10.1.2.3, 192.0.2.1"), 403),
        (Some("192.0.2.1, 10.1.2.3"), 200),
        (None, 200),
    ];
    for (chain, status) in cases {
        let (got, body) = get_from(&gateway, "/prod/data", chain).await;
        assert_eq!(got, status, "X-Forwarded-For {chain:?}: {body}");
        if status == 403 {
            assert_eq!(body, denied("GET/data"));
        }
    }
    let (status, _) = get_from(&gateway, "/prod/nowhere", Some("192.0.2.1")).await;
    assert_eq!(status, 403, "the policy comes before route matching");
    let (status, _) = get_from(&gateway, "/open/prod/data", Some("192.0.2.1")).await;
    assert_eq!(status, 200, "another API without a policy");
    let line = gateway
        .access_log_line(|line| line["sourceIp"] == "2001:db8:bad::5")
        .await;
    assert_eq!(line["errorType"], "ACCESS_DENIED");
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let gateway = Gateway::start(&POLICY_API.replace(
        r#"allow = ["10.0.0.0/8", "2001:db8::/32", "127.0.0.1"]"#,
        r#"allow = ["10.0.0.0/8"]"#,
    ))
    .await;
    let (status, _) = get_from(&gateway, "/prod/data", Some("10.1.2.3")).await;
    assert_eq!(
        status, 403,
        "the peer (127.0.0.1) is not trusted, so it is the client"
    );
}

#[test]
fn bad_addresses_and_an_open_admin_listener_without_a_token_are_config_errors() {
    let config = r#"[server]
trusted_proxies = ["10.0.0.0/33"]

[admin]
listen = "0.0.0.0:9901"

[apis.a]
type = "http"
[apis.a.resource_policy]
allow = ["not-an-address"]
deny = ["2001:db8::/129"]
[apis.a.stages.prod]
[apis.a.routes."GET /x"]
integration = { type = "mock" }
"#;
    assert_config_errors(
        "access.toml",
        config,
        &[
            (2, "`10.0.0.0/33` is not an IP address or CIDR block"),
            (5, "an admin listener off loopback needs a bearer token"),
            (10, "`not-an-address` is not an IP address"),
            (11, "`2001:db8::/129` is not an IP address"),
        ],
    );
}
