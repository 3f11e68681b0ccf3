//! Argon2id hashing of the admin password.
//!
//! The argon2 crate's defaults are the OWASP recommendation (Argon2id, 19 MiB,
//! two passes, one lane). Hashing is deliberately slow, so it runs on a blocking
//! thread and at most two hashes run at once.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use super::secrets::random_bytes;

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted, in bytes (Argon2 input is bounded to keep
/// hashing cheap to refuse).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The OS random number generator failed.
    #[error("random number generator failed")]
    Random,
    /// Argon2 refused the input.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes `password` into a PHC string with a fresh random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let salt_bytes = random_bytes().map_err(|_| PasswordError::Random)?;
    let salt = SaltString::encode_b64(&salt_bytes[..16])
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `stored` (false for a malformed hash).
///
/// Each call is counted in `mallard_auth_password_verifications_total`, so the
/// number of guesses that reached Argon2 can be watched.
pub fn verify(password: &str, stored: &str) -> bool {
    metrics::counter!("mallard_auth_password_verifications_total").increment(1);
    PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(!stored.contains("correct horse"));
        assert!(verify("correct horse", &stored));
        assert!(!verify("correct horsf", &stored));
        assert!(!verify("correct horse", "not a phc string"));
        assert_ne!(hash("correct horse").unwrap(), stored, "salts differ");
    }
}
