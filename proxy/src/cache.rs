//! The response cache that cache-policy plugins drive: complete backend responses stored under
//! `(api, stage, key)` for the TTL the policy chose, bounded by total size (least recently used
//! entries go first). It lives for the whole process, across config reloads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue};
use moka::sync::Cache;
use moka::Expiry;
use pingora::http::ResponseHeader;

use crate::edge::HOP_BY_HOP;

/// Largest response body stored (AWS's limit for a cached response).
pub const MAX_ENTRY_BYTES: usize = 1 << 20;
/// Longest TTL a policy may choose.
pub const MAX_TTL: Duration = Duration::from_secs(3600);

/// Where an entry lives: API, stage, and the policy's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    api: String,
    stage: String,
    key: String,
}

impl CacheKey {
    /// The key `key` chosen by a policy for a request to `api`/`stage`.
    pub fn new(api: &str, stage: &str, key: String) -> Self {
        Self {
            api: api.to_string(),
            stage: stage.to_string(),
            key,
        }
    }
}

/// A stored response.
#[derive(Debug)]
pub struct CachedResponse {
    /// Status code.
    pub status: u16,
    /// Headers as the backend (and the route's response mappings) gave them.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The whole body.
    pub body: Bytes,
    ttl: Duration,
}

impl CachedResponse {
    fn weight(&self) -> u32 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        u32::try_from(self.body.len() + headers + 64).unwrap_or(u32::MAX)
    }
}

struct TtlPerEntry;

impl Expiry<CacheKey, Arc<CachedResponse>> for TtlPerEntry {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Arc<CachedResponse>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        value: &Arc<CachedResponse>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The process's response cache.
pub struct ResponseCache {
    entries: Cache<CacheKey, Arc<CachedResponse>>,
}

impl ResponseCache {
    /// A cache holding at most `capacity_bytes` of responses.
    pub fn new(capacity_bytes: u64) -> Self {
        let entries = Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|_key, value: &Arc<CachedResponse>| value.weight())
            .expire_after(TtlPerEntry)
            .build();
        Self { entries }
    }

    /// The live entry under `key`.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<CachedResponse>> {
        self.entries.get(key)
    }

    /// Drop every entry (`DELETE /admin/cache`).
    pub fn flush(&self) {
        self.entries.invalidate_all();
    }

    /// Store a completed fill.
    fn insert(&self, key: CacheKey, response: CachedResponse) {
        self.entries.insert(key, Arc::new(response));
    }
}

/// A response being recorded on its way to the client, stored when it completes.
#[derive(Debug)]
pub struct Fill {
    key: CacheKey,
    ttl: Duration,
    outcome: &'static str,
    head: Option<(u16, Vec<(HeaderName, HeaderValue)>)>,
    body: BytesMut,
    storable: bool,
}

impl Fill {
    /// Record the response for `key`, to live `ttl`; `outcome` says why it is fetched (`miss`
    /// or `refresh`).
    pub fn new(key: CacheKey, ttl: Duration, outcome: &'static str) -> Self {
        Self {
            key,
            ttl,
            outcome,
            head: None,
            body: BytesMut::new(),
            storable: true,
        }
    }

    /// Why the response is being fetched.
    pub fn outcome(&self) -> &'static str {
        self.outcome
    }

    /// Take the response head; responses that must not be stored end the recording here.
    pub fn head(&mut self, response: &ResponseHeader) {
        self.storable = is_storable(response);
        if self.storable {
            let headers = response
                .headers
                .iter()
                .filter(|(name, _)| !is_per_response(name))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            self.head = Some((response.status.as_u16(), headers));
        }
    }

    /// Take a body chunk; past [`MAX_ENTRY_BYTES`] the response is not stored.
    pub fn chunk(&mut self, chunk: &[u8]) {
        if !self.storable {
            return;
        }
        if self.body.len() + chunk.len() > MAX_ENTRY_BYTES {
            self.storable = false;
            self.body = BytesMut::new();
            return;
        }
        self.body.extend_from_slice(chunk);
    }

    /// The response ended completely: store it if it may be.
    pub fn finish(self, cache: &ResponseCache) {
        if let (true, Some((status, headers))) = (self.storable, self.head) {
            cache.insert(
                self.key,
                CachedResponse {
                    status,
                    headers,
                    body: self.body.freeze(),
                    ttl: self.ttl,
                },
            );
        }
    }
}

/// Only complete successful responses meant for anyone are stored.
fn is_storable(response: &ResponseHeader) -> bool {
    let status = response.status.as_u16();
    if !(200..300).contains(&status) || status == 206 {
        return false;
    }
    if response.headers.contains_key(http::header::SET_COOKIE) {
        return false;
    }
    !response
        .headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|directive| {
            let directive = directive.trim();
            directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("private")
        })
}

/// Headers that belong to one response or one connection, never replayed from the cache.
fn is_per_response(name: &HeaderName) -> bool {
    let name = name.as_str();
    HOP_BY_HOP.contains(&name) || matches!(name, "content-length" | "x-request-id" | "date")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&'static str, &'static str)]) -> ResponseHeader {
        let mut head = ResponseHeader::build(status, None).unwrap();
        for (name, value) in headers {
            head.append_header(*name, *value).unwrap();
        }
        head
    }

    fn fill(cache: &ResponseCache, key: &str, head: &ResponseHeader, body: &[u8]) {
        let mut fill = Fill::new(
            CacheKey::new("a", "s", key.into()),
            Duration::from_secs(60),
            "miss",
        );
        fill.head(head);
        fill.chunk(body);
        fill.finish(cache);
    }

    #[test]
    fn stores_only_complete_shareable_successes() {
        let cache = ResponseCache::new(10 << 20);
        let ok = response(
            200,
            &[("content-type", "text/plain"), ("x-request-id", "r1")],
        );
        fill(&cache, "ok", &ok, b"hello");
        let stored = cache.get(&CacheKey::new("a", "s", "ok".into())).unwrap();
        assert_eq!(stored.status, 200);
        assert_eq!(stored.body, "hello");
        assert_eq!(stored.headers.len(), 1, "x-request-id is per response");

        let refused = [
            ("error", response(500, &[])),
            ("partial", response(206, &[])),
            ("cookie", response(200, &[("set-cookie", "a=b")])),
            (
                "no-store",
                response(200, &[("cache-control", "max-age=5, no-store")]),
            ),
            ("private", response(200, &[("cache-control", "Private")])),
        ];
        for (key, head) in &refused {
            fill(&cache, key, head, b"x");
            assert!(
                cache
                    .get(&CacheKey::new("a", "s", key.to_string()))
                    .is_none(),
                "{key}"
            );
        }
        fill(&cache, "big", &ok, &vec![b'x'; MAX_ENTRY_BYTES + 1]);
        assert!(cache.get(&CacheKey::new("a", "s", "big".into())).is_none());
    }

    #[test]
    fn keys_are_scoped_by_api_and_stage_and_flush_empties() {
        let cache = ResponseCache::new(10 << 20);
        fill(&cache, "k", &response(200, &[]), b"v");
        assert!(cache.get(&CacheKey::new("a", "s", "k".into())).is_some());
        assert!(cache
            .get(&CacheKey::new("a", "other", "k".into()))
            .is_none());
        assert!(cache.get(&CacheKey::new("b", "s", "k".into())).is_none());
        cache.flush();
        assert!(cache.get(&CacheKey::new("a", "s", "k".into())).is_none());
    }
}
