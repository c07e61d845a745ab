// wasmgate patch: a keep-alive pool for plain HTTP/1 upstream connections.
//
// pingora-core's pool (`TransportConnector::release_stream`) spends, per request on a kept-alive
// upstream connection: a read to test the stream on release and another on reuse, an
// `Arc<Mutex<Stream>>`, an LRU insert and a `DashMap` entry, a oneshot channel, a spawned task
// that watches the idle connection (woken and awaited on reuse: two more task switches) and a
// `getpeername` to check the descriptor. This pool keeps an idle connection as the stream alone
// in a list, tests it once when it is taken, and leaves watching to one sweeper task per pool
// that wakes each second while the pool holds connections.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt;
use log::{debug, warn};
use pingora_core::protocols::http::v1::client::HttpSession;
use pingora_core::protocols::{Stream, ALPN};
use pingora_core::upstreams::peer::Peer;
use tokio::io::AsyncReadExt;

/// How often the sweeper closes connections that expired or that the upstream closed.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Idle HTTP/1 connections to upstreams without a CONNECT proxy, most recently used last.
pub(crate) struct IdlePool {
    shared: Arc<Shared>,
    capacity: usize,
}

struct Shared {
    idle: Mutex<Idle>,
    /// pingora's count of pooled connections found holding unexpected data.
    unexpected_data: Arc<AtomicU64>,
}

#[derive(Default)]
struct Idle {
    connections: VecDeque<IdleConnection>,
    /// Whether a sweeper task is running (it stops when the pool is empty).
    sweeping: bool,
}

struct IdleConnection {
    /// The peer's `reuse_hash`.
    key: u64,
    expires: Option<Instant>,
    stream: Stream,
}

impl IdlePool {
    /// A pool of at most `capacity` connections (0: none are kept).
    pub(crate) fn new(capacity: usize, unexpected_data: Arc<AtomicU64>) -> Self {
        let shared = Shared {
            idle: Mutex::default(),
            unexpected_data,
        };
        IdlePool {
            shared: Arc::new(shared),
            capacity,
        }
    }

    /// `peer`'s key in this pool (its `reuse_hash`) if its connections go through it: plain
    /// HTTP/1 without a proxy (HTTP/2 and custom protocols stay in pingora's).
    pub(crate) fn key<P: Peer>(&self, peer: &P) -> Option<u64> {
        let served = self.capacity > 0
            && peer.get_proxy().is_none()
            && peer
                .get_peer_options()
                .is_none_or(|options| matches!(options.alpn, ALPN::H1));
        served.then(|| peer.reuse_hash())
    }

    /// The most recently released connection under `key` (`peer`'s) still open and quiet.
    pub(crate) fn take<P: Peer>(&self, key: u64, peer: &P) -> Option<Stream> {
        loop {
            let connection = {
                let mut idle = self.shared.lock();
                let at = idle.connections.iter().rposition(|c| c.key == key)?;
                idle.connections.remove(at)?
            };
            if connection.expired(Instant::now()) {
                continue;
            }
            let mut stream = connection.stream;
            if connects_to(&stream, peer) && still_idle(&mut stream, &self.shared.unexpected_data) {
                return Some(stream);
            }
        }
    }

    /// Keep `session`'s connection for the next request to `peer` (under `key`, `peer`'s) if
    /// HTTP allows it.
    pub(crate) async fn release<P: Peer>(&self, mut session: HttpSession, key: u64, peer: &P) {
        session.respect_keepalive();
        let Some(stream) = session.reuse().await else {
            return;
        };
        let connection = IdleConnection {
            key,
            expires: peer.idle_timeout().map(|idle| Instant::now() + idle),
            stream,
        };
        let (evicted, start_sweeper) = {
            let mut idle = self.shared.lock();
            let evicted = if idle.connections.len() >= self.capacity {
                idle.connections.pop_front()
            } else {
                None
            };
            idle.connections.push_back(connection);
            let start_sweeper = !idle.sweeping;
            idle.sweeping = true;
            (evicted, start_sweeper)
        };
        drop(evicted);
        if start_sweeper {
            tokio::spawn(sweep(self.shared.clone()));
        }
    }
}

impl IdleConnection {
    fn expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|expires| expires <= now)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Each [`SWEEP_INTERVAL`], close the connections that expired, that the upstream closed or that
/// hold unexpected data; stop when none is left.
async fn sweep(shared: Arc<Shared>) {
    loop {
        pingora_timeout::sleep(SWEEP_INTERVAL).await;
        let now = Instant::now();
        let mut closing = Vec::new();
        let done = {
            let mut idle = shared.lock();
            let mut at = 0;
            while at < idle.connections.len() {
                let connection = &mut idle.connections[at];
                if connection.expired(now)
                    || !still_idle(&mut connection.stream, &shared.unexpected_data)
                {
                    closing.extend(idle.connections.remove(at));
                } else {
                    at += 1;
                }
            }
            idle.sweeping = !idle.connections.is_empty();
            !idle.sweeping
        };
        debug!("closed {} idle upstream connections", closing.len());
        drop(closing);
        if done {
            return;
        }
    }
}

/// Whether `stream` is connected to `peer`'s address (a cheap guard against a `reuse_hash`
/// collision: the socket digest caches the address).
fn connects_to<P: Peer>(stream: &Stream, peer: &P) -> bool {
    match stream.get_socket_digest() {
        Some(digest) => digest.peer_addr() == Some(peer.address()),
        None => false,
    }
}

/// Whether an idle `stream` is still open with nothing to read: an upstream never speaks first
/// on an idle HTTP/1 connection. Reads nothing from the socket when it has not become readable.
fn still_idle(stream: &mut Stream, unexpected_data: &AtomicU64) -> bool {
    let mut byte = [0; 1];
    match tokio::task::unconstrained(stream.read(&mut byte)).now_or_never() {
        None => true,
        Some(Ok(0)) => {
            debug!("idle upstream connection closed by the upstream");
            false
        }
        Some(Ok(_)) => {
            warn!("unexpected data read in idle upstream connection");
            unexpected_data.fetch_add(1, Ordering::Relaxed);
            false
        }
        Some(Err(e)) => {
            debug!("idle upstream connection broken: {e}");
            false
        }
    }
}
