//! HMAC-signed bearer tokens: `<principal>.<expires>.<signature>`, where `expires` is a Unix time
//! in seconds and `signature` the unpadded base64url HMAC-SHA256 of `<principal>.<expires>` under
//! the configured secret. The principal may itself contain dots (the last two fields are split
//! off from the right).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// The shortest secret accepted, in bytes.
const MIN_SECRET_BYTES: usize = 32;

/// `hmac = { secret = "...", context = { ... } }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signer {
    secret: String,
    /// Context given to every principal of a signed token.
    #[serde(default)]
    pub context: BTreeMap<String, String>,
}

/// What a valid signed token says.
pub struct Claims {
    pub principal: String,
    pub expires: u64,
}

impl Signer {
    /// Config mistakes, reported when the gateway loads the plugin.
    pub fn check(&self) -> Result<(), String> {
        if self.secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "`hmac.secret` must be at least {MIN_SECRET_BYTES} bytes (it has {})",
                self.secret.len()
            ));
        }
        Ok(())
    }

    /// The claims of `token` when its signature is right and it has not expired.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let (signed, signature) = token.rsplit_once('.')?;
        let (principal, expires) = signed.rsplit_once('.')?;
        if principal.is_empty() {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).ok()?;
        mac.update(signed.as_bytes());
        mac.verify_slice(&signature).ok()?;
        let expires: u64 = expires.parse().ok()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        (now < expires).then(|| Claims {
            principal: principal.to_string(),
            expires,
        })
    }
}
