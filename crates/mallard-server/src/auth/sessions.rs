//! Dashboard sessions, kept in memory as documented: they expire after
//! `session_ttl_secs` and are cleared on restart.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::secrets::{new_token, sha256_hex};

/// The most sessions kept; the oldest is dropped when a new one would exceed it.
const MAX_SESSIONS: usize = 10_000;

/// The live sessions, keyed by the SHA-256 of their token.
#[derive(Debug)]
pub struct Sessions {
    ttl: Duration,
    live: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    /// An empty store whose sessions last `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// How long a session lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Creates a session and returns its token (None if the OS RNG failed).
    pub fn create(&self) -> Option<String> {
        let token = new_token().ok()?;
        let now = Instant::now();
        let mut live = self.live.lock().ok()?;
        live.retain(|_, expires| *expires > now);
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live.iter().min_by_key(|(_, e)| **e).map(|(k, _)| k.clone())
        {
            live.remove(&oldest);
        }
        live.insert(sha256_hex(&token), now + self.ttl);
        Some(token)
    }

    /// Whether `token` names a live session.
    pub fn is_valid(&self, token: &str) -> bool {
        let key = sha256_hex(token);
        self.live.lock().is_ok_and(|live| {
            live.get(&key)
                .is_some_and(|expires| *expires > Instant::now())
        })
    }

    /// Ends the session of `token`, if any.
    pub fn remove(&self, token: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(&sha256_hex(token));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_valid_until_removed_or_expired() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let token = sessions.create().unwrap();
        assert!(sessions.is_valid(&token));
        assert!(!sessions.is_valid("forged"));
        sessions.remove(&token);
        assert!(!sessions.is_valid(&token));
        let expired = Sessions::new(Duration::ZERO);
        let token = expired.create().unwrap();
        assert!(!expired.is_valid(&token));
    }
}
