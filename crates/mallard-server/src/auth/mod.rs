//! Dashboard authentication (spec 001): the admin password, in-memory sessions,
//! the login lockout, Mallard API keys, and the extractors that guard routes.
//!
//! Who is asking is decided once per request by [`AuthState::identify`]:
//! an API key (`Authorization: Bearer mm_...` or `X-API-Key`), else the
//! `mm_session` cookie, else open access while no password is configured and
//! the request comes straight from this machine (see [`peer`]). Any other
//! client gets nothing until the password is set; it may set it only with the
//! one-time setup token (see [`setup_token`]).

pub mod csrf;
pub mod desktop;
pub mod extract;
pub mod lockout;
pub mod password;
pub mod peer;
pub mod secrets;
pub mod sessions;
pub mod setup_token;

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use axum::http::{HeaderMap, header};
use mallard_core::Scope;
use mallard_store::auth::ApiKeyRecord;

use self::lockout::LoginLockout;
use self::secrets::{API_KEY_PREFIX, sha256_hex};
use self::sessions::Sessions;
use crate::local_admin::{LocalAdminToken, TOKEN_PREFIX};

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "mm_session";

/// Who a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// No password is configured and the request comes straight from this
    /// machine: it is the admin (open-access mode).
    OpenAccess,
    /// A logged-in dashboard user.
    Session,
    /// A client holding a valid API key of this scope.
    ApiKey(Scope),
    /// Nobody known.
    Anonymous,
    /// The request presented an API key that is unknown or revoked.
    InvalidKey,
}

impl Principal {
    /// Whether the principal may read stats.
    pub fn can_read_stats(self) -> bool {
        match self {
            Self::OpenAccess | Self::Session => true,
            Self::ApiKey(scope) => scope.can_read_stats(),
            Self::Anonymous | Self::InvalidKey => false,
        }
    }

    /// Whether the principal may manage keys and settings.
    pub fn can_administer(self) -> bool {
        match self {
            Self::OpenAccess | Self::Session => true,
            Self::ApiKey(scope) => scope.can_administer(),
            Self::Anonymous | Self::InvalidKey => false,
        }
    }

    /// Whether the request was authenticated by a key rather than by the
    /// browser (a cookie or open access): key requests cannot be forged by a
    /// web page, so they need no CSRF check.
    pub fn is_api_key(self) -> bool {
        matches!(self, Self::ApiKey(_))
    }
}

/// The state of authentication shared by all requests.
#[derive(Debug)]
pub struct AuthState {
    password_hash: RwLock<Option<String>>,
    keys: RwLock<HashMap<String, ApiKeyRecord>>,
    /// Live dashboard sessions.
    pub sessions: Sessions,
    /// Failed-login counts per client IP.
    pub lockout: LoginLockout,
    /// Failed bearer-token counts per client IP (`ADMIN_TOKEN`, the metrics
    /// token), with the login's limits.
    pub token_lockout: LoginLockout,
    /// Whether cookies carry the `Secure` attribute.
    pub secure_cookies: bool,
    /// Limits concurrent Argon2 computations, which are CPU-heavy by design.
    pub hashing: tokio::sync::Semaphore,
    /// The admin token this run publishes for local tools (`mallard keys`).
    pub local_admin: LocalAdminToken,
    /// One-time sign-in tokens minted by an embedding desktop shell.
    pub desktop: desktop::DesktopSignIn,
    /// The token that lets another machine set the first password.
    pub setup_token: setup_token::SetupToken,
}

impl AuthState {
    /// Builds the state from what the store holds.
    pub fn new(
        password_hash: Option<String>,
        keys: Vec<ApiKeyRecord>,
        session_ttl: Duration,
        max_login_attempts: u32,
        login_lockout: Duration,
        secure_cookies: bool,
        local_admin: LocalAdminToken,
    ) -> Self {
        Self {
            local_admin,
            desktop: desktop::DesktopSignIn::default(),
            setup_token: setup_token::SetupToken::default(),
            password_hash: RwLock::new(password_hash),
            keys: RwLock::new(keys.into_iter().map(|k| (k.key_hash.clone(), k)).collect()),
            sessions: Sessions::new(session_ttl),
            lockout: LoginLockout::new(max_login_attempts, login_lockout),
            token_lockout: LoginLockout::new(max_login_attempts, login_lockout),
            secure_cookies,
            hashing: tokio::sync::Semaphore::new(2),
        }
    }

    /// The stored password hash, if a password is configured.
    pub fn password_hash(&self) -> Option<String> {
        self.password_hash.read().ok().and_then(|hash| hash.clone())
    }

    /// Whether an admin password is configured.
    pub fn password_configured(&self) -> bool {
        self.password_hash.read().is_ok_and(|hash| hash.is_some())
    }

    /// Records a newly stored password hash.
    pub fn set_password_hash(&self, hash: String) {
        if let Ok(mut current) = self.password_hash.write() {
            *current = Some(hash);
        }
    }

    /// Records a newly stored key.
    pub fn add_key(&self, key: ApiKeyRecord) {
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(key.key_hash.clone(), key);
        }
    }

    /// Records a revocation.
    pub fn revoke_key(&self, key_hash: &str, revoked_at_ms: i64) {
        if let Ok(mut keys) = self.keys.write()
            && let Some(key) = keys.get_mut(key_hash)
        {
            key.revoked_at_ms.get_or_insert(revoked_at_ms);
        }
    }

    /// The scope of a presented plaintext key, if it is known and not revoked.
    pub fn key_scope(&self, plaintext: &str) -> Option<Scope> {
        let hash = sha256_hex(plaintext);
        let keys = self.keys.read().ok()?;
        let key = keys.get(&hash)?;
        // The map lookup compared digests; compare again in constant time so
        // that no timing depends on how much of a forged key matched.
        (secrets::secrets_match(&key.key_hash, &hash) && key.revoked_at_ms.is_none())
            .then_some(key.scope)
    }

    /// Decides who sent a request with `headers`; `direct_loopback` says
    /// whether it came straight from this machine ([`peer::DirectLoopback`]),
    /// the only case in which open access applies.
    pub fn identify(&self, headers: &HeaderMap, direct_loopback: bool) -> Principal {
        if let Some(token) = bearer(headers).filter(|t| t.starts_with(TOKEN_PREFIX)) {
            let valid = self.local_admin.matches(token);
            return if valid {
                Principal::ApiKey(Scope::Admin)
            } else {
                Principal::InvalidKey
            };
        }
        if let Some(key) = presented_api_key(headers) {
            return self
                .key_scope(key)
                .map_or(Principal::InvalidKey, Principal::ApiKey);
        }
        if session_token(headers).is_some_and(|token| self.sessions.is_valid(token)) {
            return Principal::Session;
        }
        if !self.password_configured() && direct_loopback {
            Principal::OpenAccess
        } else {
            Principal::Anonymous
        }
    }

    /// Whether `headers` carry this server's local admin token: the request
    /// comes from a tool on this machine that could read the data directory
    /// (`mallard keys`, `mallard import`).
    pub fn is_local_admin(&self, headers: &HeaderMap) -> bool {
        bearer(headers)
            .filter(|token| token.starts_with(TOKEN_PREFIX))
            .is_some_and(|token| self.local_admin.matches(token))
    }

    /// The `Set-Cookie` value that starts a session with `token`.
    pub fn session_cookie(&self, token: &str) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!(
            "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
            self.sessions.ttl().as_secs()
        )
    }

    /// The `Set-Cookie` value that clears the session cookie.
    pub fn cleared_cookie(&self) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")
    }
}

/// The token of `Authorization: Bearer <token>`, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The API key presented in `Authorization: Bearer mm_...` or `X-API-Key`.
pub fn presented_api_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = bearer(headers).filter(|token| token.starts_with(API_KEY_PREFIX));
    bearer.or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
    })
}

/// The value of the `mm_session` cookie, if sent.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn state(password: Option<&str>) -> AuthState {
        let key = ApiKeyRecord {
            key_hash: sha256_hex("mm_readonly"),
            name: "ro".into(),
            scope: Scope::ReadOnly,
            created_at_ms: 0,
            revoked_at_ms: None,
        };
        AuthState::new(
            password.map(String::from),
            vec![key],
            Duration::from_secs(60),
            5,
            Duration::from_secs(300),
            false,
            LocalAdminToken::generate().unwrap(),
        )
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn principals_follow_keys_then_cookies_then_open_access() {
        let open = state(None);
        assert_eq!(
            open.identify(&HeaderMap::new(), true),
            Principal::OpenAccess
        );
        assert_eq!(
            open.identify(&HeaderMap::new(), false),
            Principal::Anonymous,
            "open access is for this machine only"
        );
        let locked = state(Some("$argon2id$x"));
        assert_eq!(
            locked.identify(&HeaderMap::new(), true),
            Principal::Anonymous
        );
        assert_eq!(
            locked.identify(&headers(&[("x-api-key", "mm_readonly")]), false),
            Principal::ApiKey(Scope::ReadOnly)
        );
        assert_eq!(
            locked.identify(&headers(&[("authorization", "Bearer mm_readonly")]), false),
            Principal::ApiKey(Scope::ReadOnly)
        );
        assert_eq!(
            locked.identify(&headers(&[("authorization", "Bearer mm_wrong")]), false),
            Principal::InvalidKey
        );
        let token = locked.sessions.create().unwrap();
        let mut with_cookie = HeaderMap::new();
        with_cookie.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; mm_session={token}")).unwrap(),
        );
        assert_eq!(locked.identify(&with_cookie, false), Principal::Session);
        locked.revoke_key(&sha256_hex("mm_readonly"), 1);
        assert_eq!(
            locked.identify(&headers(&[("x-api-key", "mm_readonly")]), false),
            Principal::InvalidKey
        );
    }

    #[test]
    fn the_local_admin_token_is_an_admin_and_a_wrong_one_is_refused() {
        let auth = state(Some("$argon2id$x"));
        let mut headers = HeaderMap::new();
        let token = format!("Bearer {}", auth.local_admin.token_for_tests());
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&token).unwrap(),
        );
        assert_eq!(
            auth.identify(&headers, false),
            Principal::ApiKey(Scope::Admin)
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer mlt_guess"),
        );
        assert_eq!(auth.identify(&headers, false), Principal::InvalidKey);
    }

    #[test]
    fn cookies_carry_the_documented_attributes() {
        let auth = state(None);
        let cookie = auth.session_cookie("t");
        for part in [
            "mm_session=t",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(cookie.contains(part), "{cookie}");
        }
        assert!(!cookie.contains("Secure"));
        assert!(auth.cleared_cookie().contains("Max-Age=0"));
    }
}
