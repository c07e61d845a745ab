//! wasmgate: a self-hosted API gateway on pingora with AWS API Gateway semantics.
//!
//! A config file ([`config`]) compiles into an immutable [`snapshot`] of stages, routes and
//! integrations; the [`gateway`] walks it per request on pingora's proxy phases; [`state`] swaps
//! snapshots on reload; [`admin`] serves health, metrics and reload; [`server`] runs it all.
#![deny(unsafe_code)]

pub mod access_log;
pub mod admin;
pub mod apikeys;
pub mod authorizer;
pub mod cache;
pub mod cli;
pub mod config;
pub mod cors;
pub mod drain;
pub mod edge;
pub mod gateway;
pub mod gateway_response;
pub mod integration;
pub mod jwt;
pub mod memory;
pub mod metrics;
pub mod plugin;
pub mod policy;
pub mod query;
pub mod routing;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod template;
pub mod throttle;
pub mod tls;
pub mod upstream;
pub mod validation;
pub mod watcher;
