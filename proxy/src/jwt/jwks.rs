//! An issuer's signing keys (a JSON Web Key Set) from a file or an `http(s)` URL: kept in memory,
//! fetched off the request threads, and fetched again when a token names an unknown `kid` (key
//! rotation) or the keys are an hour old — but never more often than the configured interval,
//! so tokens with made-up `kid`s cannot turn the gateway into a flood of fetches. A fetch that
//! failed (the issuer unreachable at startup, say) is tried again at the next token after a
//! backoff of 1 s, doubling up to that interval, instead of a whole interval later.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Keys older than this are fetched again at the next chance.
const MAX_AGE: Duration = Duration::from_secs(3600);

/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest key set read.
const MAX_BYTES: u64 = 1 << 20;

/// One usable key.
struct Key {
    kid: Option<String>,
    alg: Option<Algorithm>,
    key: DecodingKey,
}

#[derive(Debug, Clone)]
enum Source {
    Url(String),
    File(PathBuf),
}

/// The first wait after a failed fetch.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// A key set and when it may be fetched again.
pub struct Jwks {
    source: Source,
    keys: ArcSwap<Vec<Key>>,
    fetches: Mutex<Fetches>,
    min_interval: Duration,
}

/// The last fetch: when it was claimed, and how many fetches in a row have failed.
#[derive(Default)]
struct Fetches {
    claimed: Option<Instant>,
    failures: u32,
}

impl Fetches {
    /// How long after the last claim another fetch may start.
    fn wait(&self, min_interval: Duration) -> Duration {
        match self.failures {
            0 => min_interval,
            n => FIRST_RETRY
                .saturating_mul(1 << (n - 1).min(16))
                .min(min_interval),
        }
    }
}

/// Why a key set could not be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// A `jwks_uri` that is not an HTTP URL.
    #[error("`{0}`: `jwks_uri` is an http:// or https:// URL")]
    NotAUrl(String),
    /// The file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The URL could not be fetched or read.
    #[error("cannot fetch `{url}`: {source}")]
    Fetch {
        /// The URL.
        url: String,
        /// What the client said.
        source: ureq::Error,
    },
    /// Not a JSON Web Key Set.
    #[error("not a JSON Web Key Set: {0}")]
    NotASet(#[from] serde_json::Error),
    /// The blocking fetch task failed.
    #[error("fetch task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl Jwks {
    /// Keys from `uri` (`http://` or `https://`), fetched at the first need.
    pub fn url(uri: &str, refresh_seconds: u64) -> Result<Self, JwksError> {
        if !(uri.starts_with("http://") || uri.starts_with("https://")) {
            return Err(JwksError::NotAUrl(uri.to_string()));
        }
        Ok(Self::new(Source::Url(uri.to_string()), refresh_seconds))
    }

    /// Keys from a file, read now (a broken file is a config error).
    pub fn file(path: &Path, refresh_seconds: u64) -> Result<Self, JwksError> {
        let jwks = Self::new(Source::File(path.to_path_buf()), refresh_seconds);
        let keys = fetch(&jwks.source)?;
        jwks.keys.store(Arc::new(keys));
        jwks.lock_fetches().claimed = Some(Instant::now());
        Ok(jwks)
    }

    fn new(source: Source, refresh_seconds: u64) -> Self {
        Self {
            source,
            keys: ArcSwap::from_pointee(Vec::new()),
            fetches: Mutex::new(Fetches::default()),
            min_interval: Duration::from_secs(refresh_seconds),
        }
    }

    /// The key for a token's `kid` and algorithm, fetching the set again when it is unknown
    /// (and allowed to).
    pub async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
        let stale = self
            .lock_fetches()
            .claimed
            .is_none_or(|at| at.elapsed() > MAX_AGE);
        if !stale {
            if let Some(key) = find(&self.keys.load(), kid, alg) {
                return Some(key);
            }
        }
        if self.claim_fetch() {
            let source = self.source.clone();
            let fetched = tokio::task::spawn_blocking(move || fetch(&source))
                .await
                .unwrap_or_else(|e| Err(e.into()));
            self.store(fetched, "");
        }
        find(&self.keys.load(), kid, alg)
    }

    /// Fetch now, blocking (at startup).
    pub fn prefetch(&self) {
        if self.claim_fetch() {
            self.store(fetch(&self.source), "; tried again at the next token");
        }
    }

    fn lock_fetches(&self) -> std::sync::MutexGuard<'_, Fetches> {
        self.fetches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keep what a fetch got, and count a failure towards the next wait.
    fn store(&self, fetched: Result<Vec<Key>, JwksError>, note: &str) {
        let ok = fetched.is_ok();
        match fetched {
            Ok(keys) => self.keys.store(Arc::new(keys)),
            Err(e) => log::warn!("JWKS: {e}{note}"),
        }
        let mut fetches = self.lock_fetches();
        fetches.failures = if ok { 0 } else { fetches.failures + 1 };
    }

    /// Whether this caller may fetch now: the first fetch, or the wait after the last one has
    /// passed. The winner records the time, so concurrent callers do not fetch too.
    fn claim_fetch(&self) -> bool {
        let mut fetches = self.lock_fetches();
        let wait = fetches.wait(self.min_interval);
        let allowed = fetches.claimed.is_none_or(|at| at.elapsed() >= wait);
        if allowed {
            fetches.claimed = Some(Instant::now());
        }
        allowed
    }
}

fn find(keys: &[Key], kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
    keys.iter()
        .filter(|key| key.alg.is_none_or(|key_alg| key_alg == alg))
        .find(|key| match kid {
            Some(kid) => key.kid.as_deref() == Some(kid),
            None => true,
        })
        .map(|key| key.key.clone())
}

/// Read and parse the key set; symmetric (`oct`) keys are ignored.
fn fetch(source: &Source) -> Result<Vec<Key>, JwksError> {
    let text = match source {
        Source::File(path) => std::fs::read_to_string(path).map_err(|source| JwksError::File {
            path: path.clone(),
            source,
        })?,
        Source::Url(url) => {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(FETCH_TIMEOUT))
                .build()
                .into();
            let failed = |source| JwksError::Fetch {
                url: url.clone(),
                source,
            };
            agent
                .get(url)
                .call()
                .map_err(failed)?
                .body_mut()
                .with_config()
                .limit(MAX_BYTES)
                .read_to_string()
                .map_err(failed)?
        }
    };
    let set: JwkSet = serde_json::from_str(&text)?;
    Ok(set
        .keys
        .iter()
        .filter(|jwk| !matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)))
        .filter_map(|jwk| {
            let key = DecodingKey::from_jwk(jwk).ok()?;
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|alg| alg.to_string().parse::<Algorithm>().ok());
            Some(Key {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_fetches_back_off_from_a_second_up_to_the_interval() {
        let interval = Duration::from_secs(30);
        let waits: Vec<u64> = (0..8)
            .map(|failures| {
                Fetches {
                    claimed: None,
                    failures,
                }
                .wait(interval)
                .as_secs()
            })
            .collect();
        assert_eq!(waits, [30, 1, 2, 4, 8, 16, 30, 30]);
    }
}
