//! Backend pools: round-robin over resolved addresses with passive health — a backend that fails
//! to connect or times out is skipped for the pool's `fail_timeout`. Health lives in a process-wide
//! table keyed by address, so it survives config reloads.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::tls::UpstreamTls;

/// Addresses that failed recently, with the moment they may be tried again.
static DOWN_UNTIL: LazyLock<DashMap<SocketAddr, Instant>> = LazyLock::new(DashMap::new);

/// Why a pool's targets do not resolve.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The resolver failed.
    #[error("cannot resolve `{target}`: {source}")]
    Failed {
        /// The `host:port`.
        target: String,
        /// What the resolver said.
        source: std::io::Error,
    },
    /// The name has no address.
    #[error("`{0}` resolves to no address")]
    NoAddress(String),
    /// No targets at all.
    #[error("an upstream needs at least one target")]
    NoTargets,
}

/// A set of interchangeable backends.
#[derive(Debug)]
pub struct Pool {
    name: String,
    targets: Vec<SocketAddr>,
    /// Each target's host as written (the TLS server name), in `targets`' order.
    hosts: Vec<String>,
    next: AtomicUsize,
    fail_timeout: Duration,
    /// How `https://` URIs reach the backends.
    pub tls: UpstreamTls,
    /// Whether the backends are spoken to in HTTP/2.
    pub http2: bool,
}

impl Pool {
    /// A pool over `targets` (each `host:port`, resolved now). `name` is for logs and errors.
    pub fn resolve(
        name: &str,
        targets: &[&str],
        fail_timeout: Duration,
    ) -> Result<Self, ResolveError> {
        let mut resolved = Vec::with_capacity(targets.len());
        let mut hosts = Vec::with_capacity(targets.len());
        for target in targets {
            let mut addrs = target
                .to_socket_addrs()
                .map_err(|source| ResolveError::Failed {
                    target: target.to_string(),
                    source,
                })?;
            let addr = addrs
                .next()
                .ok_or_else(|| ResolveError::NoAddress(target.to_string()))?;
            resolved.push(addr);
            hosts.push(host_of(target).to_string());
        }
        if resolved.is_empty() {
            return Err(ResolveError::NoTargets);
        }
        Ok(Self {
            name: name.to_string(),
            targets: resolved,
            hosts,
            next: AtomicUsize::new(0),
            fail_timeout,
            tls: UpstreamTls::default(),
            http2: false,
        })
    }

    /// The host backend `addr` was named by: the server name TLS sends and verifies.
    pub fn host(&self, addr: SocketAddr) -> &str {
        self.targets
            .iter()
            .position(|target| *target == addr)
            .map_or("", |index| &self.hosts[index])
    }

    /// The pool's name, as written in the integration URI.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many backends the pool has.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether the pool has no backends (never true for a resolved pool).
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The next healthy backend in round-robin order, skipping `exclude` (already tried).
    pub fn pick(&self, exclude: &[SocketAddr]) -> Option<SocketAddr> {
        let n = self.targets.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        (0..n)
            .map(|i| self.targets[(start + i) % n])
            .find(|addr| !exclude.contains(addr) && is_healthy(addr, now))
    }

    /// Record that `addr` failed: skip it for the pool's fail timeout.
    pub fn mark_failed(&self, addr: SocketAddr) {
        log::warn!(
            "upstream `{}`: backend {addr} failed, skipping it for {:?}",
            self.name,
            self.fail_timeout
        );
        DOWN_UNTIL.insert(addr, Instant::now() + self.fail_timeout);
    }
}

/// `host` of `host:port` or `[v6]:port`, without brackets.
fn host_of(target: &str) -> &str {
    let host = target.rsplit_once(':').map_or(target, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

fn is_healthy(addr: &SocketAddr, now: Instant) -> bool {
    if DOWN_UNTIL.is_empty() {
        return true;
    }
    match DOWN_UNTIL.get(addr).map(|until| *until) {
        Some(until) if until > now => false,
        Some(_) => {
            DOWN_UNTIL.remove_if(addr, |_, until| *until <= now);
            true
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_skips_failed_backends_until_they_recover() {
        let pool = Pool::resolve(
            "t",
            &["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"],
            Duration::from_millis(50),
        )
        .unwrap();
        let picks: Vec<u16> = (0..3).map(|_| pool.pick(&[]).unwrap().port()).collect();
        assert_eq!(picks, [1, 2, 3]);
        pool.mark_failed("127.0.0.1:2".parse().unwrap());
        let picks: Vec<u16> = (0..4).map(|_| pool.pick(&[]).unwrap().port()).collect();
        assert!(!picks.contains(&2), "{picks:?}");
        std::thread::sleep(Duration::from_millis(60));
        let picks: Vec<u16> = (0..3).map(|_| pool.pick(&[]).unwrap().port()).collect();
        assert!(picks.contains(&2), "{picks:?}");
    }

    #[test]
    fn excluded_and_failed_backends_leave_nothing() {
        let pool = Pool::resolve(
            "t",
            &["127.0.0.1:11", "127.0.0.1:12"],
            Duration::from_secs(5),
        )
        .unwrap();
        pool.mark_failed("127.0.0.1:11".parse().unwrap());
        assert_eq!(pool.pick(&["127.0.0.1:12".parse().unwrap()]), None);
    }
}
