//! Backend pools for integration URIs: the `[upstreams]` pools, and a pool of one for each
//! `host:port` a URI names directly, shared by every route that names it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, InvalidHeaderValue};

use crate::config::*;
use crate::tls::UpstreamTls;
use crate::upstream::{Pool, ResolveError};

/// An integration URI's authority that names no pool.
#[derive(Debug, thiserror::Error)]
#[error("`{authority}` is neither an upstream name nor a reachable address: {source}")]
pub(super) struct UnknownAuthority {
    authority: String,
    source: ResolveError,
}

pub(super) struct Pools {
    pub(super) named: HashMap<String, Arc<Pool>>,
    pub(super) by_address: HashMap<String, Arc<Pool>>,
    /// Each `Host` header integrations send, built once: the routes' copies share its bytes.
    pub(super) host_headers: HashMap<String, HeaderValue>,
}

impl Pools {
    /// The pool for an integration URI's authority: a named upstream or a `host[:port]` (port
    /// 443 by default over TLS, else 80).
    pub(super) fn get(
        &mut self,
        authority: &str,
        tls: bool,
    ) -> Result<Arc<Pool>, UnknownAuthority> {
        if let Some(pool) = self.named.get(authority) {
            return Ok(pool.clone());
        }
        let default_port = if tls { 443 } else { 80 };
        let target = if has_port(authority) {
            authority.to_string()
        } else {
            format!("{authority}:{default_port}")
        };
        if let Some(pool) = self.by_address.get(&target) {
            return Ok(pool.clone());
        }
        let pool =
            Pool::resolve(authority, &[&target], Duration::from_secs(10)).map_err(|source| {
                UnknownAuthority {
                    authority: authority.to_string(),
                    source,
                }
            })?;
        let pool = Arc::new(pool);
        self.by_address.insert(target, pool.clone());
        Ok(pool)
    }

    /// The `Host` header `host`, shared with every integration that sends the same.
    pub(super) fn host_header(&mut self, host: String) -> Result<HeaderValue, InvalidHeaderValue> {
        if let Some(header) = self.host_headers.get(&host) {
            return Ok(header.clone());
        }
        let header = HeaderValue::try_from(host.as_str())?;
        self.host_headers.insert(host, header.clone());
        Ok(header)
    }
}

pub(super) fn has_port(authority: &str) -> bool {
    match authority.rsplit_once(':') {
        Some((host, port)) => !host.ends_with(':') && port.parse::<u16>().is_ok(),
        None => false,
    }
}

pub(super) fn compile_upstreams(
    upstreams: &[Named<UpstreamFile>],
    base: &Path,
    diags: &mut Diagnostics,
) -> HashMap<String, Arc<Pool>> {
    let mut pools = HashMap::new();
    for upstream in upstreams {
        let targets: Vec<&str> = upstream
            .value
            .targets
            .iter()
            .map(|t| t.get_ref().as_str())
            .collect();
        let span = upstream
            .value
            .targets
            .first()
            .map(|t| t.span())
            .unwrap_or(upstream.name.span());
        let fail_timeout = Duration::from_millis(upstream.value.fail_timeout_ms);
        let name = upstream.name.get_ref();
        let tls = match &upstream.value.tls {
            Some(file) => match UpstreamTls::compile(file, base, name) {
                Ok(tls) => tls,
                Err(e) => {
                    diags.error(
                        Some(upstream.name.span()),
                        &format!("{}.tls", upstream.path),
                        e,
                    );
                    continue;
                }
            },
            None => UpstreamTls::default(),
        };
        match Pool::resolve(name, &targets, fail_timeout) {
            Ok(mut pool) => {
                pool.tls = tls;
                pool.http2 = upstream.value.http2;
                pools.insert(name.clone(), Arc::new(pool));
            }
            Err(e) => diags.error(Some(span), &format!("{}.targets", upstream.path), e),
        }
    }
    pools
}
