//! Key values: generated from the OS's random source, and kept only as SHA-256 digests (values
//! are long and random, so a fast digest suffices; the value itself is shown once, at creation).

use sha2::{Digest, Sha256};

/// The SHA-256 of a key value: how keys are stored and looked up.
pub type KeyDigest = [u8; 32];

/// Shortest value accepted for a key, as AWS.
pub const MIN_VALUE_LEN: usize = 20;

/// The digest of a presented or declared key value.
pub fn digest(value: &str) -> KeyDigest {
    Sha256::digest(value.as_bytes()).into()
}

/// A new key value: 40 characters of base62 (about 238 bits).
pub fn new_value() -> Result<String, getrandom::Error> {
    random_text(40)
}

/// A new key id: 10 lowercase letters and digits, as AWS key ids.
pub fn new_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes)?;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

fn random_text(len: usize) -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut text = String::with_capacity(len);
    let mut bytes = [0u8; 64];
    while text.len() < len {
        getrandom::fill(&mut bytes)?;
        // Rejection sampling keeps every character equally likely (248 = 4 × 62).
        text.extend(
            bytes
                .iter()
                .filter(|b| **b < 248)
                .map(|b| ALPHABET[usize::from(*b) % 62] as char)
                .take(len - text.len()),
        );
    }
    Ok(text)
}

/// Why a chosen key value is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyValueError {
    /// Shorter than [`MIN_VALUE_LEN`].
    #[error("an API key value needs at least {MIN_VALUE_LEN} characters")]
    TooShort,
    /// A space, control or non-ASCII character.
    #[error("an API key value uses printable ASCII without spaces")]
    NotPrintable,
}

/// Check a chosen key value.
pub fn check_value(value: &str) -> Result<(), KeyValueError> {
    if value.len() < MIN_VALUE_LEN {
        return Err(KeyValueError::TooShort);
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(KeyValueError::NotPrintable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_are_long_distinct_and_valid() {
        let a = new_value().unwrap();
        let b = new_value().unwrap();
        assert_eq!(a.len(), 40);
        assert_ne!(a, b);
        assert!(check_value(&a).is_ok());
        assert_eq!(new_id().unwrap().len(), 10);
    }

    #[test]
    fn short_or_spaced_values_are_refused() {
        assert!(check_value("short").is_err());
        assert!(check_value("with a space in the middle!").is_err());
        assert_eq!(digest("x"), digest("x"));
        assert_ne!(digest("x"), digest("y"));
    }
}
