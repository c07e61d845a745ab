//! Throttling: token buckets at account, stage and route level (GCRA from `governor`: one atomic
//! per bucket, no lock on the request path). A request must be admitted by every bucket that
//! applies, most specific first, so the strictest limit answers 429 with `Retry-After`. Buckets
//! live in a process-wide registry keyed by what they limit and their limits, so a reload keeps
//! their state and only a changed limit starts a fresh bucket. Per-key buckets of usage plans
//! live in a cache that forgets a bucket once it would be full again.

use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::Throttle;

/// What a bucket limits, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// Every request the gateway serves.
    Account,
    /// Every route of one stage together.
    Stage,
    /// One route in one stage.
    Route,
    /// One API key in one usage plan.
    Key,
}

impl Level {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Level::Account => "account",
            Level::Stage => "stage",
            Level::Route => "route",
            Level::Key => "key",
        }
    }
}

/// One token bucket.
pub struct Bucket {
    /// What it limits.
    pub level: Level,
    limiter: DefaultDirectRateLimiter,
    /// How long an untouched bucket takes to fill up again.
    refill: Duration,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl Bucket {
    /// Take a token, or say how long until one is free.
    pub fn admit(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BucketKey {
    level: Level,
    name: String,
    rate_bits: u64,
    burst: u32,
}

static BUCKETS: LazyLock<DashMap<BucketKey, Arc<Bucket>>> = LazyLock::new(DashMap::new);

/// The bucket limiting `name` at `level` to `limit`, shared with earlier snapshots that had the
/// same limit.
pub fn bucket(level: Level, name: &str, limit: &Throttle) -> Arc<Bucket> {
    let key = BucketKey {
        level,
        name: name.to_string(),
        rate_bits: limit.rate.to_bits(),
        burst: limit.burst.get(),
    };
    BUCKETS
        .entry(key)
        .or_insert_with(|| Arc::new(Bucket::new(level, limit)))
        .clone()
}

impl Bucket {
    fn new(level: Level, limit: &Throttle) -> Self {
        let period = Duration::from_secs_f64(1.0 / limit.rate);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(limit.burst);
        Self {
            level,
            limiter: RateLimiter::direct(quota),
            refill: period.saturating_mul(limit.burst.get()),
        }
    }
}

/// What a per-key bucket limits: a key in a plan, optionally on one route, at a limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct KeyBucketId {
    key: Arc<str>,
    plan: Arc<str>,
    route: Option<Box<str>>,
    rate_bits: u64,
    burst: u32,
}

/// Forgets a bucket once it has been untouched long enough to be full again, when it is the
/// same as a new one: memory follows the keys in use, not every key ever seen.
struct UntilFull;

impl moka::Expiry<KeyBucketId, Arc<Bucket>> for UntilFull {
    fn expire_after_create(
        &self,
        _key: &KeyBucketId,
        bucket: &Arc<Bucket>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(bucket.refill + Duration::from_secs(1))
    }

    fn expire_after_read(
        &self,
        _key: &KeyBucketId,
        bucket: &Arc<Bucket>,
        _read_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
        _last_modified_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(bucket.refill + Duration::from_secs(1))
    }
}

/// Most per-key buckets kept at once; past it the least recently used are dropped early.
const MAX_KEY_BUCKETS: u64 = 1_000_000;

/// The per-key buckets of usage plans.
pub struct KeyBuckets {
    buckets: moka::sync::Cache<KeyBucketId, Arc<Bucket>>,
}

impl KeyBuckets {
    /// No buckets yet.
    pub fn new() -> Self {
        Self {
            buckets: moka::sync::Cache::builder()
                .max_capacity(MAX_KEY_BUCKETS)
                .expire_after(UntilFull)
                .build(),
        }
    }

    /// The bucket of `key` in `plan` (on `route` when the plan overrides the limit there).
    pub fn bucket(
        &self,
        key: &Arc<str>,
        plan: &Arc<str>,
        route: Option<&str>,
        limit: &Throttle,
    ) -> Arc<Bucket> {
        let id = KeyBucketId {
            key: key.clone(),
            plan: plan.clone(),
            route: route.map(Box::from),
            rate_bits: limit.rate.to_bits(),
            burst: limit.burst.get(),
        };
        self.buckets
            .get_with(id, || Arc::new(Bucket::new(Level::Key, limit)))
    }
}

impl Default for KeyBuckets {
    fn default() -> Self {
        Self::new()
    }
}

/// Seconds for `Retry-After`: the wait rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(rate: f64, burst: u32) -> Throttle {
        Throttle {
            rate,
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    #[test]
    fn a_bucket_admits_its_burst_then_refuses_with_a_wait() {
        let bucket = bucket(Level::Route, "test/burst", &limit(1.0, 3));
        for _ in 0..3 {
            assert!(bucket.admit().is_ok());
        }
        let wait = bucket.admit().unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert_eq!(retry_after_seconds(wait), 1);
    }

    #[test]
    fn the_same_limit_shares_a_bucket_and_a_new_limit_starts_fresh() {
        let first = bucket(Level::Stage, "test/shared", &limit(1.0, 1));
        assert!(first.admit().is_ok());
        let again = bucket(Level::Stage, "test/shared", &limit(1.0, 1));
        assert!(again.admit().is_err(), "a reload keeps the bucket's state");
        let changed = bucket(Level::Stage, "test/shared", &limit(2.0, 1));
        assert!(changed.admit().is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(2500)), 3);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
    }
}
