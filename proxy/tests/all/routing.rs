//! Route precedence, greedy paths, `$default`, path parameters and stage variables in URIs.

use serde_json::Value;

use crate::support::{client, Backend, Gateway};

#[tokio::test]
async fn precedence_greedy_and_default_route() {
    let backend = Backend::start("b").await;
    let b = backend.addr;
    let gateway = Gateway::start(&format!(
        r#"
[apis.web]
type = "http"
[apis.web.stages.prod]
[apis.web.routes."GET /pets"]
integration = {{ type = "mock", body = "literal" }}
[apis.web.routes."GET /pets/{{id}}"]
integration = {{ type = "mock", body = "param" }}
[apis.web.routes."GET /pets/{{id}}/toys"]
integration = {{ type = "mock", body = "param-literal" }}
[apis.web.routes."ANY /pets/{{rest+}}"]
integration = {{ type = "mock", body = "greedy" }}
[apis.web.routes."POST /pets/{{id}}"]
integration = {{ type = "mock", body = "post-param" }}
[apis.web.routes."$default"]
integration = {{ type = "http_proxy", uri = "http://{b}" }}
"#
    ))
    .await;
    let client = client();
    let cases = [
        ("GET", "/prod/pets", "literal"),
        ("GET", "/prod/pets/7", "param"),
        ("POST", "/prod/pets/7", "post-param"),
        ("GET", "/prod/pets/7/toys", "param-literal"),
        ("GET", "/prod/pets/7/food/bowl", "greedy"),
        ("DELETE", "/prod/pets/7", "greedy"),
    ];
    for (method, path, expected) in cases {
        let response = client
            .request(method.parse().unwrap(), format!("{}{path}", gateway.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{method} {path}");
        assert_eq!(response.text().await.unwrap(), expected, "{method} {path}");
    }
    // Nothing else matches: the HTTP API's $default route proxies with the path after the stage.
    let response = client
        .get(format!("{}/prod/other/thing?x=1", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echo: Value = response.json().await.unwrap();
    assert_eq!(echo["path"], "/other/thing");
    assert_eq!(echo["query"], "x=1");
}

#[tokio::test]
async fn path_parameters_and_stage_variables_build_the_backend_uri() {
    let backend = Backend::start("b").await;
    let b = backend.addr;
    let gateway = Gateway::start(&format!(
        r#"
[apis.shop]
type = "rest"
[apis.shop.stages.prod]
variables = {{ host = "{b}", version = "v2" }}
[apis.shop.stages.beta]
variables = {{ host = "{b}", version = "v3-beta" }}
[apis.shop.routes."GET /users/{{user}}/orders/{{order}}"]
integration = {{ type = "http_proxy", uri = "http://${{stageVariables.host}}/${{stageVariables.version}}/orders/{{order}}?user={{user}}" }}
[apis.shop.routes."ANY /files/{{proxy+}}"]
integration = {{ type = "http_proxy", uri = "http://${{stageVariables.host}}/store/{{proxy}}" }}
"#
    ))
    .await;
    let client = client();
    let cases = [
        (
            "/prod/users/ada/orders/42?expand=1",
            "/v2/orders/42",
            "user=ada&expand=1",
        ),
        ("/beta/users/bob/orders/7", "/v3-beta/orders/7", "user=bob"),
        ("/prod/files/a/b%20c/d.txt", "/store/a/b%20c/d.txt", ""),
    ];
    for (path, backend_path, query) in cases {
        let response = client
            .get(format!("{}{path}", gateway.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let echo: Value = response.json().await.unwrap();
        assert_eq!(echo["path"], backend_path, "{path}");
        assert_eq!(echo["query"].as_str().unwrap_or(""), query, "{path}");
    }
}
