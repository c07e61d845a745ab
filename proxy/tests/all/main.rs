//! End-to-end tests: each starts the real `wasmgate` binary on loopback ports with real TCP
//! backends and asserts on what a client sees.

mod access;
mod admin;
mod api_keys;
mod authorizers;
mod body_plugins;
mod caching;
mod cold_start;
mod cors;
mod edge;
mod errors;
mod hostile;
mod integrations;
mod jwt;
mod lifecycle;
mod plugin_outputs;
mod plugins;
mod proxy_wasm;
mod reload;
mod routing;
mod structure;
mod support;
mod throttling;
mod tls;
mod tls_support;
mod tls_tools;
mod upstream_pool;
mod validation;
