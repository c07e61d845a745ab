//! Native JWT / OIDC authorizers, as AWS HTTP API JWT authorizers: a bearer token verified
//! against the issuer's keys (a JWKS file or URL, see [`jwks`]) for its issuer, audience, expiry
//! and not-before (with leeway), then checked for one of the route's scopes. Asymmetric
//! algorithms only (RS256/384/512, PS256/384/512, ES256/384, EdDSA), unless an HS256 secret is
//! configured explicitly — a JWKS key is never used as an HMAC secret.
//!
//! Missing or invalid token → 401; valid token without a required scope → 403. The token's
//! `sub` is the principal; its claims are the authorizer context as `claims.<name>`.
//!
//! A verified token is remembered (by its SHA-256) for up to a minute and never past its `exp`,
//! so a client reusing its token costs a hash and a lookup instead of a signature check.

mod jwks;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use pingora::http::RequestHeader;
use sha2::Digest;

use crate::config::JwtAuthorizerFile;
use jwks::{Jwks, JwksError};

/// Why a JWT authorizer's config is refused.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    /// No issuer.
    #[error("`issuer` is the `iss` every token must carry")]
    NoIssuer,
    /// No audiences.
    #[error("`audiences` lists at least one `aud` a token may carry")]
    NoAudiences,
    /// An identity source that is not a header.
    #[error("`{0}`: the identity source is `header.<name>`")]
    IdentitySource(String),
    /// An algorithm outside the accepted ones.
    #[error(
        "`{0}` is not an accepted algorithm (RS256/384/512, PS256/384/512, ES256/384, EdDSA; \
         HS256 comes with a secret)"
    )]
    Algorithm(String),
    /// Neither or both of `jwks_uri` and `jwks_file`.
    #[error("give the issuer's keys as `jwks_uri` or `jwks_file` (one of them)")]
    KeySource,
    /// The key set could not be read.
    #[error(transparent)]
    Jwks(#[from] JwksError),
}

/// How long a verified token is remembered at most.
const REMEMBER: Duration = Duration::from_secs(60);

/// Most verified tokens remembered per authorizer.
const MAX_REMEMBERED: u64 = 100_000;

/// A verified token: its identity, scopes and expiry.
struct Remembered {
    verified: Verified,
    scopes: HashSet<String>,
    /// `exp` plus the leeway, in seconds since the epoch.
    valid_until: u64,
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The algorithms accepted without configuration.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A verified token's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The `sub` claim.
    pub principal: String,
    /// Every claim as `claims.<name>`: strings as they are, other values as JSON.
    pub context: Vec<(String, String)>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtRefusal {
    /// No token, or an invalid one: 401 (the reason goes to the log).
    Unauthorized(String),
    /// A valid token without any of the route's scopes: 403.
    Forbidden,
}

/// One `[jwt_authorizers.<name>]`.
pub struct JwtAuthorizer {
    /// The authorizer's name.
    pub name: String,
    header: http::HeaderName,
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    hs256: Option<DecodingKey>,
    leeway: u64,
    jwks: Option<Jwks>,
    remembered: moka::sync::Cache<[u8; 32], Arc<Remembered>>,
}

impl std::fmt::Debug for JwtAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuthorizer")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtAuthorizer {
    /// Check and compile an authorizer; `hs256_secret` is the secret read from its env or file.
    pub fn compile(
        name: &str,
        file: &JwtAuthorizerFile,
        hs256_secret: Option<String>,
        base_dir: &Path,
    ) -> Result<Self, JwtConfigError> {
        if file.issuer.is_empty() {
            return Err(JwtConfigError::NoIssuer);
        }
        if file.audiences.is_empty() {
            return Err(JwtConfigError::NoAudiences);
        }
        let header = file
            .identity_source
            .as_deref()
            .unwrap_or("header.authorization");
        let header = header
            .strip_prefix("header.")
            .and_then(|name| http::HeaderName::from_bytes(name.as_bytes()).ok())
            .ok_or_else(|| JwtConfigError::IdentitySource(header.to_string()))?;
        let mut algorithms = match &file.algorithms {
            None => ASYMMETRIC.to_vec(),
            Some(names) => names
                .iter()
                .map(|name| {
                    name.parse::<Algorithm>()
                        .ok()
                        .filter(|alg| ASYMMETRIC.contains(alg))
                        .ok_or_else(|| JwtConfigError::Algorithm(name.clone()))
                })
                .collect::<Result<_, _>>()?,
        };
        let hs256 = hs256_secret.map(|secret| {
            algorithms.push(Algorithm::HS256);
            DecodingKey::from_secret(secret.as_bytes())
        });
        let jwks = match (&file.jwks_uri, &file.jwks_file) {
            (Some(uri), None) => Some(Jwks::url(uri.get_ref(), file.jwks_refresh_seconds)?),
            (None, Some(path)) => Some(Jwks::file(
                &base_dir.join(path.get_ref()),
                file.jwks_refresh_seconds,
            )?),
            (None, None) if hs256.is_some() => None,
            _ => return Err(JwtConfigError::KeySource),
        };
        Ok(Self {
            name: name.to_string(),
            header,
            issuer: file.issuer.clone(),
            audiences: file.audiences.clone(),
            algorithms,
            hs256,
            leeway: file.leeway_seconds,
            jwks,
            remembered: moka::sync::Cache::builder()
                .max_capacity(MAX_REMEMBERED)
                .time_to_live(REMEMBER)
                .build(),
        })
    }

    /// Verify the request's token and check it has one of `scopes` (when any are required).
    pub async fn authorize(
        &self,
        request: &RequestHeader,
        scopes: &[String],
    ) -> Result<Verified, JwtRefusal> {
        let unauthorized = |reason: &str| JwtRefusal::Unauthorized(reason.to_string());
        let value = request
            .headers
            .get(&self.header)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthorized("no token"))?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => value.trim(),
        };
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let remembered = match self.remembered.get(&digest) {
            Some(hit) if now_seconds() < hit.valid_until => hit,
            _ => {
                let fresh = Arc::new(self.verify(token).await?);
                self.remembered.insert(digest, fresh.clone());
                fresh
            }
        };
        if !scopes.is_empty() && !scopes.iter().any(|s| remembered.scopes.contains(s)) {
            return Err(JwtRefusal::Forbidden);
        }
        Ok(remembered.verified.clone())
    }

    /// Check a token's signature and claims.
    async fn verify(&self, token: &str) -> Result<Remembered, JwtRefusal> {
        let unauthorized = |reason: &str| JwtRefusal::Unauthorized(reason.to_string());
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| JwtRefusal::Unauthorized(format!("malformed token: {e}")))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(JwtRefusal::Unauthorized(format!(
                "algorithm {:?} not accepted",
                header.alg
            )));
        }
        let key = match (header.alg, &self.hs256, &self.jwks) {
            (Algorithm::HS256, Some(secret), _) => secret.clone(),
            (Algorithm::HS256, None, _) => return Err(unauthorized("HS256 without a secret")),
            (alg, _, Some(jwks)) => jwks
                .key(header.kid.as_deref(), alg)
                .await
                .ok_or_else(|| unauthorized("no key for the token's kid"))?,
            (_, _, None) => return Err(unauthorized("no keys")),
        };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key,
            &validation,
        )
        .map_err(|e| JwtRefusal::Unauthorized(format!("invalid token: {e}")))?
        .claims;
        let scopes = token_scopes(&claims)
            .into_iter()
            .map(str::to_string)
            .collect();
        let valid_until = claims
            .get("exp")
            .and_then(|exp| exp.as_u64())
            .map_or(0, |exp| exp.saturating_add(self.leeway));
        let principal = claims
            .get("sub")
            .and_then(|sub| sub.as_str())
            .unwrap_or_default()
            .to_string();
        let context = claims
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (format!("claims.{name}"), text)
            })
            .collect();
        Ok(Remembered {
            verified: Verified { principal, context },
            scopes,
            valid_until,
        })
    }

    /// Fetch the keys now (at startup), so that the first request does not wait.
    pub fn prefetch(&self) {
        if let Some(jwks) = &self.jwks {
            jwks.prefetch();
        }
    }
}

/// The scopes a token holds: `scope` (space-separated) and `scp` (a list or a string).
fn token_scopes(claims: &serde_json::Map<String, serde_json::Value>) -> HashSet<&str> {
    let mut scopes = HashSet::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(serde_json::Value::String(text)) => scopes.extend(text.split_whitespace()),
            Some(serde_json::Value::Array(items)) => {
                scopes.extend(items.iter().filter_map(|item| item.as_str()))
            }
            _ => {}
        }
    }
    scopes
}
