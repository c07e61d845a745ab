//! An issuer's signing keys (a JSON Web Key Set) from a file or an `http(s)` URL: kept in memory,
//! fetched off the request threads, and fetched again when a token names an unknown `kid` (key
//! rotation) or the keys are an hour old — but never more often than the configured interval,
//! so tokens with made-up `kid`s cannot turn the gateway into a flood of fetches.

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

/// A key set and when it may be fetched again.
pub struct Jwks {
    source: Source,
    keys: ArcSwap<Vec<Key>>,
    /// When the keys were last fetched (or tried).
    fetched: Mutex<Option<Instant>>,
    min_interval: Duration,
}

impl Jwks {
    /// Keys from `uri` (`http://` or `https://`), fetched at the first need.
    pub fn url(uri: &str, refresh_seconds: u64) -> Result<Self, String> {
        if !(uri.starts_with("http://") || uri.starts_with("https://")) {
            return Err(format!("`{uri}`: `jwks_uri` is an http:// or https:// URL"));
        }
        Ok(Self::new(Source::Url(uri.to_string()), refresh_seconds))
    }

    /// Keys from a file, read now (a broken file is a config error).
    pub fn file(path: &Path, refresh_seconds: u64) -> Result<Self, String> {
        let jwks = Self::new(Source::File(path.to_path_buf()), refresh_seconds);
        let keys = fetch(&jwks.source)?;
        jwks.keys.store(Arc::new(keys));
        *jwks.fetched.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        Ok(jwks)
    }

    fn new(source: Source, refresh_seconds: u64) -> Self {
        Self {
            source,
            keys: ArcSwap::from_pointee(Vec::new()),
            fetched: Mutex::new(None),
            min_interval: Duration::from_secs(refresh_seconds),
        }
    }

    /// The key for a token's `kid` and algorithm, fetching the set again when it is unknown
    /// (and allowed to).
    pub async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
        let stale = self
            .fetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|at| at.elapsed() > MAX_AGE);
        if !stale {
            if let Some(key) = find(&self.keys.load(), kid, alg) {
                return Some(key);
            }
        }
        if self.claim_fetch() {
            let source = self.source.clone();
            match tokio::task::spawn_blocking(move || fetch(&source)).await {
                Ok(Ok(keys)) => self.keys.store(Arc::new(keys)),
                Ok(Err(e)) => log::warn!("JWKS: {e}"),
                Err(e) => log::warn!("JWKS fetch task: {e}"),
            }
        }
        find(&self.keys.load(), kid, alg)
    }

    /// Fetch now, blocking (at startup).
    pub fn prefetch(&self) {
        if self.claim_fetch() {
            match fetch(&self.source) {
                Ok(keys) => self.keys.store(Arc::new(keys)),
                Err(e) => log::warn!("JWKS: {e}; fetched again at the first token"),
            }
        }
    }

    /// Whether this caller may fetch now: the first fetch, or the interval has passed. The
    /// winner records the time, so concurrent callers do not fetch too.
    fn claim_fetch(&self) -> bool {
        let mut fetched = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
        let allowed = fetched.is_none_or(|at| at.elapsed() >= self.min_interval);
        if allowed {
            *fetched = Some(Instant::now());
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
fn fetch(source: &Source) -> Result<Vec<Key>, String> {
    let text = match source {
        Source::File(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?,
        Source::Url(url) => {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(FETCH_TIMEOUT))
                .build()
                .into();
            agent
                .get(url)
                .call()
                .map_err(|e| format!("cannot fetch `{url}`: {e}"))?
                .body_mut()
                .with_config()
                .limit(MAX_BYTES)
                .read_to_string()
                .map_err(|e| format!("cannot read `{url}`: {e}"))?
        }
    };
    let set: JwkSet =
        serde_json::from_str(&text).map_err(|e| format!("not a JSON Web Key Set: {e}"))?;
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
