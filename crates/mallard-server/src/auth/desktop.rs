//! Desktop sign-in: the desktop shell, which runs this server in its own
//! process, mints a one-time token and points its window at
//! `GET /api/auth/desktop?token=...`, which trades the token for a session
//! cookie and redirects to the dashboard. The owner of the desktop app is
//! therefore signed in without typing the password, while browsers still need
//! it.
//!
//! A token is 256 random bits, lives for [`TOKEN_LIFETIME`], works once, and is
//! kept only as its SHA-256 digest; it never leaves the process except in the
//! one request that redeems it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::secrets::{new_token, secrets_match, sha256_hex};

/// How long a minted token can be redeemed.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// The most tokens waiting to be redeemed; minting more drops the oldest.
const MAX_PENDING: usize = 8;

/// Tokens minted by the embedding desktop shell and not yet redeemed.
#[derive(Debug, Default)]
pub struct DesktopSignIn {
    pending: Mutex<Vec<(String, Instant)>>,
}

impl DesktopSignIn {
    /// Mints a one-time token (None if the OS random number generator failed).
    pub fn mint(&self) -> Option<String> {
        let token = new_token().ok()?;
        let mut pending = self.pending.lock().ok()?;
        let now = Instant::now();
        pending.retain(|(_, expires)| *expires > now);
        if pending.len() >= MAX_PENDING {
            pending.remove(0);
        }
        pending.push((sha256_hex(&token), now + TOKEN_LIFETIME));
        Some(token)
    }

    /// Redeems `token`: true, and the token is spent, if it was minted here,
    /// not yet redeemed and not expired.
    pub fn redeem(&self, token: &str) -> bool {
        let Ok(mut pending) = self.pending.lock() else {
            return false;
        };
        let now = Instant::now();
        pending.retain(|(_, expires)| *expires > now);
        let digest = sha256_hex(token);
        // Every pending digest is compared in constant time, so the answer's
        // timing says nothing about how much of a forged token matched.
        let mut found = None;
        for (index, (stored, _)) in pending.iter().enumerate() {
            if secrets_match(&digest, stored) {
                found = Some(index);
            }
        }
        found.map(|index| pending.remove(index)).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_works_once() {
        let sign_in = DesktopSignIn::default();
        let token = sign_in.mint().unwrap();
        assert_eq!(token.len(), 64);
        assert!(!sign_in.redeem("forged"));
        assert!(sign_in.redeem(&token));
        assert!(!sign_in.redeem(&token));
    }

    #[test]
    fn only_the_newest_tokens_are_kept() {
        let sign_in = DesktopSignIn::default();
        let first = sign_in.mint().unwrap();
        let later: Vec<String> = (0..MAX_PENDING).map(|_| sign_in.mint().unwrap()).collect();
        assert!(!sign_in.redeem(&first));
        assert!(later.iter().all(|token| sign_in.redeem(token)));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let sign_in = DesktopSignIn::default();
        let token = sign_in.mint().unwrap();
        if let Ok(mut pending) = sign_in.pending.lock() {
            pending[0].1 = Instant::now() - Duration::from_secs(1);
        }
        assert!(!sign_in.redeem(&token));
    }
}
