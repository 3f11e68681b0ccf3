//! Random secrets and their digests: session tokens, API keys, comparisons.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix of Mallard API keys.
pub const API_KEY_PREFIX: &str = "mm_";

/// 32 bytes from the OS CSPRNG.
pub fn random_bytes() -> Result<[u8; 32], getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

/// A new 256-bit token, hex encoded (64 characters).
pub fn new_token() -> Result<String, getrandom::Error> {
    Ok(hex::encode(random_bytes()?))
}

/// A new API key: `mm_` and 256 random bits in hex.
pub fn new_api_key() -> Result<String, getrandom::Error> {
    Ok(format!("{API_KEY_PREFIX}{}", new_token()?))
}

/// The SHA-256 of `secret` as lowercase hex: how keys are stored and named.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two secrets in constant time (over their digests, so that the
/// length does not leak either).
pub fn secrets_match(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    given.ct_eq(&expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_random_and_hashed_to_64_hex_digits() {
        let a = new_api_key().unwrap();
        let b = new_api_key().unwrap();
        assert!(a.starts_with("mm_") && a.len() == 3 + 64);
        assert_ne!(a, b);
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(secrets_match("same", "same"));
        assert!(!secrets_match("same", "Same"));
    }
}
