#!/usr/bin/env bash
# The TOML both benches/run.sh and benches/compare.sh give wasmgate for its plain and chain
# routes, sourced by them.

# plain_and_chain BACKEND_PORT ISOLATION: the `bench` API's plain `$default` route to the
# backend, and a 3-plugin chain route (token authorizer + request/response header transformer)
# with the plugins' instances kept by ISOLATION.
plain_and_chain() {
  cat <<CONF
[apis.bench]
type = "http"

[apis.bench.stages."\$default"]

[apis.bench.routes."\$default"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:$1" }

[plugins.auth]
path = "$PWD/plugins/dist/token_authorizer.wasm"
isolation = "$2"
config = { tokens = { "bench-token" = { principal = "bench" } } }

[plugins.headers]
path = "$PWD/plugins/dist/header_transformer.wasm"
isolation = "$2"
config = { request = { set = { "x-principal" = "\$principal" } }, response = { set = { "x-powered-by" = "wasmgate" } } }

[apis.bench.routes."ANY /chain/{proxy+}"]
plugins = ["auth", "headers"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:$1/{proxy}" }
CONF
}
