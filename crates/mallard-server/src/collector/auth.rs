//! Authentication of collector ingest requests under `API_KEY_MODE`.
//!
//! Credentials are `Authorization: Bearer <token>`. The token is either a
//! workspace api key (`lk_live_` + 32 base62 characters, looked up by its
//! SHA-256 digest among the active keys held in memory) or, in the legacy
//! flows, the public site id.
//!
//! `/events` (browser):
//! - `disabled`: the bearer is the site id; no key lookup.
//! - `tag`: a key is tried first; otherwise the bearer is taken as a site id,
//!   counted in `mallard_collector_legacy_auth_total` and logged with
//!   `reason=legacy_auth` (at INFO once per process, then at DEBUG, so that a
//!   busy site does not write one INFO line per event). A key-shaped bearer that matches no active
//!   key (unknown or revoked) is 401, never a site id.
//! - `require`: anything but an active key is 401 `api_key_required`.
//!
//! A key needs `ingest:write` or `admin` (else 403 `insufficient_scope`); the
//! site comes from `X-Site-Id`, or else from the body's `site_id`.
//!
//! `/s2s/events` (server): a site-id bearer is always refused. Server keys are
//! keys with scope `ingest:server` (or `admin`); in `tag` mode a key with
//! `ingest:write` is accepted too; in `require` mode only `ingest:write` or
//! `admin` keys are, and a server-only key gets the `api_key_required` body.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::http::{HeaderMap, header};
use mallard_core::SiteId;
use mallard_store::collector::ApiKeyRecord;
use sha2::{Digest, Sha256};

use super::error::CollectorError;
use super::settings::ApiKeyMode;

/// The prefix of every collector api key.
pub const KEY_PREFIX: &str = "lk_live_";

/// The scope that lets a key ingest browser events.
pub const SCOPE_INGEST_WRITE: &str = "ingest:write";
/// The scope of server keys (`/s2s/events`).
pub const SCOPE_INGEST_SERVER: &str = "ingest:server";
/// The scope that allows everything.
pub const SCOPE_ADMIN: &str = "admin";
/// Every scope a key may carry.
pub const SCOPES: [&str; 3] = [SCOPE_INGEST_WRITE, SCOPE_INGEST_SERVER, SCOPE_ADMIN];

/// Which ingest endpoint is authenticating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/events`: browser-side ingest.
    Browser,
    /// `/s2s/events`: server-to-server ingest.
    Server,
}

/// Who sent an ingest request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The site the credentials name (`X-Site-Id` or the legacy bearer);
    /// `None` when a key was sent without `X-Site-Id`.
    pub site: Option<SiteId>,
    /// The key of the per-credential rate gate.
    pub credential: String,
    /// The workspace of the api key, if a key authenticated.
    pub workspace: Option<String>,
}

/// The active api keys, by SHA-256 digest of the plaintext.
#[derive(Debug, Default)]
pub struct KeyRegistry {
    keys: RwLock<HashMap<[u8; 32], Arc<ApiKeyRecord>>>,
}

impl KeyRegistry {
    /// A registry holding `keys`.
    pub fn new(keys: impl IntoIterator<Item = ([u8; 32], ApiKeyRecord)>) -> Self {
        let keys = keys
            .into_iter()
            .map(|(hash, record)| (hash, Arc::new(record)))
            .collect();
        Self {
            keys: RwLock::new(keys),
        }
    }

    /// Adds a newly minted key.
    pub fn insert(&self, hash: [u8; 32], record: ApiKeyRecord) {
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(hash, Arc::new(record));
        }
    }

    /// Forgets a revoked key.
    pub fn revoke(&self, id: &str) {
        if let Ok(mut keys) = self.keys.write() {
            keys.retain(|_, record| record.id != id);
        }
    }

    /// The active key whose plaintext is `token`.
    pub fn lookup(&self, token: &str) -> Option<Arc<ApiKeyRecord>> {
        if !token.starts_with(KEY_PREFIX) {
            return None;
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.keys.read().ok()?.get(&hash).cloned()
    }
}

/// The bearer token of `headers`, if the header is present and well-formed.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn has_scope(key: &ApiKeyRecord, accepted: &[&str]) -> bool {
    key.scopes.iter().any(|s| accepted.contains(&s.as_str()))
}

/// The site named by `X-Site-Id`, if any.
fn site_header(headers: &HeaderMap) -> Result<Option<SiteId>, CollectorError> {
    let Some(value) = headers.get("x-site-id") else {
        return Ok(None);
    };
    let raw = value.to_str().unwrap_or_default().trim();
    SiteId::parse(raw)
        .map(Some)
        .map_err(|e| CollectorError::Unauthorized(format!("Invalid X-Site-Id: {e}")))
}

fn key_principal(key: &ApiKeyRecord, headers: &HeaderMap) -> Result<Principal, CollectorError> {
    Ok(Principal {
        site: site_header(headers)?,
        credential: format!("key:{}", key.id),
        workspace: Some(key.workspace_id.clone()),
    })
}

/// Authenticates an ingest request; `upgrade_docs` gives the URL of this app's
/// key page for the `api_key_required` body.
pub fn authenticate(
    mode: ApiKeyMode,
    keys: &KeyRegistry,
    headers: &HeaderMap,
    endpoint: Endpoint,
    upgrade_docs: &dyn Fn() -> String,
) -> Result<Principal, CollectorError> {
    let key_required = || CollectorError::ApiKeyRequired {
        upgrade_docs: upgrade_docs(),
    };
    let Some(token) = bearer(headers) else {
        return Err(match mode {
            ApiKeyMode::Require => key_required(),
            _ => CollectorError::Unauthorized("Missing or malformed bearer token".into()),
        });
    };
    let lookup = || match (mode, endpoint) {
        (ApiKeyMode::Disabled, Endpoint::Browser) => None,
        _ => keys.lookup(token),
    };
    match endpoint {
        Endpoint::Browser => match lookup() {
            Some(key) => {
                if !has_scope(&key, &[SCOPE_INGEST_WRITE, SCOPE_ADMIN]) {
                    return Err(CollectorError::InsufficientScope(SCOPE_INGEST_WRITE));
                }
                key_principal(&key, headers)
            }
            None if mode == ApiKeyMode::Require => Err(key_required()),
            None if mode == ApiKeyMode::Tag && token.starts_with(KEY_PREFIX) => Err(
                CollectorError::Unauthorized("Unknown or revoked api key".into()),
            ),
            None => {
                let site = SiteId::parse(token).map_err(|_| {
                    CollectorError::Unauthorized(
                        "The bearer is neither an api key nor a site id".into(),
                    )
                })?;
                if mode == ApiKeyMode::Tag {
                    note_legacy_auth(&site);
                }
                Ok(Principal {
                    credential: format!("site:{site}"),
                    site: Some(site),
                    workspace: None,
                })
            }
        },
        Endpoint::Server => {
            let Some(key) = lookup() else {
                return Err(match mode {
                    ApiKeyMode::Require => key_required(),
                    _ => CollectorError::Unauthorized(
                        "A server key is required; a site id is not accepted here".into(),
                    ),
                });
            };
            let accepted: &[&str] = match mode {
                ApiKeyMode::Disabled => &[SCOPE_INGEST_SERVER, SCOPE_ADMIN],
                ApiKeyMode::Tag => &[SCOPE_INGEST_SERVER, SCOPE_INGEST_WRITE, SCOPE_ADMIN],
                ApiKeyMode::Require => &[SCOPE_INGEST_WRITE, SCOPE_ADMIN],
            };
            if !has_scope(&key, accepted) {
                return Err(match mode {
                    ApiKeyMode::Require => key_required(),
                    _ => CollectorError::InsufficientScope(SCOPE_INGEST_SERVER),
                });
            }
            key_principal(&key, headers)
        }
    }
}

/// Counts a site-id bearer accepted in `tag` mode and logs it: the first one
/// of the process at INFO (operators learn that the migration to keys is not
/// finished), every one at DEBUG.
fn note_legacy_auth(site: &SiteId) {
    static FIRST: std::sync::Once = std::sync::Once::new();
    metrics::counter!("mallard_collector_legacy_auth_total").increment(1);
    let mut first = false;
    FIRST.call_once(|| first = true);
    if first {
        tracing::info!(
            reason = "legacy_auth",
            site = %site,
            "site-id bearer accepted; further ones are logged at debug level and counted in mallard_collector_legacy_auth_total"
        );
    } else {
        tracing::debug!(reason = "legacy_auth", site = %site, "site-id bearer accepted");
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const WRITE_KEY: &str = "lk_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const SERVER_KEY: &str = "lk_live_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

    fn record(id: &str, scopes: &[&str]) -> ApiKeyRecord {
        ApiKeyRecord {
            id: id.into(),
            workspace_id: "ws".into(),
            name: id.into(),
            prefix: "lk_live_AAAA".into(),
            suffix: "AAAA".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            created_at: 0,
            revoked_at: None,
        }
    }

    fn registry() -> KeyRegistry {
        let hash = |k: &str| -> [u8; 32] { Sha256::digest(k.as_bytes()).into() };
        KeyRegistry::new([
            (hash(WRITE_KEY), record("write", &[SCOPE_INGEST_WRITE])),
            (hash(SERVER_KEY), record("server", &[SCOPE_INGEST_SERVER])),
        ])
    }

    fn headers(bearer: Option<&str>, site: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(token) = bearer {
            map.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            );
        }
        if let Some(site) = site {
            map.insert("x-site-id", HeaderValue::from_str(site).unwrap());
        }
        map
    }

    fn auth(
        mode: ApiKeyMode,
        endpoint: Endpoint,
        bearer: Option<&str>,
    ) -> Result<Principal, CollectorError> {
        authenticate(
            mode,
            &registry(),
            &headers(bearer, Some("a.test")),
            endpoint,
            &|| "http://x/#/keys".into(),
        )
    }

    fn code(result: Result<Principal, CollectorError>) -> &'static str {
        result.map_or_else(|e| e.code(), |_| "ok")
    }

    #[test]
    fn browser_endpoint_modes() {
        use ApiKeyMode::*;
        use Endpoint::Browser;
        assert_eq!(code(auth(Disabled, Browser, Some("a.test"))), "ok");
        assert_eq!(
            code(auth(Disabled, Browser, Some("not a site"))),
            "unauthorized"
        );
        assert_eq!(code(auth(Disabled, Browser, None)), "unauthorized");
        assert_eq!(code(auth(Tag, Browser, Some(WRITE_KEY))), "ok");
        assert_eq!(code(auth(Tag, Browser, Some("a.test"))), "ok");
        assert_eq!(
            code(auth(
                Tag,
                Browser,
                Some("lk_live_unknownunknownunknownunknown1")
            )),
            "unauthorized"
        );
        assert_eq!(
            code(auth(Tag, Browser, Some(SERVER_KEY))),
            "insufficient_scope"
        );
        assert_eq!(code(auth(Require, Browser, Some(WRITE_KEY))), "ok");
        assert_eq!(
            code(auth(Require, Browser, Some("a.test"))),
            "api_key_required"
        );
        assert_eq!(code(auth(Require, Browser, None)), "api_key_required");
        let principal = auth(Tag, Browser, Some(WRITE_KEY)).unwrap();
        assert_eq!(principal.workspace.as_deref(), Some("ws"));
        assert_eq!(principal.site.unwrap().as_str(), "a.test");
        assert_eq!(principal.credential, "key:write");
    }

    #[test]
    fn server_endpoint_modes() {
        use ApiKeyMode::*;
        use Endpoint::Server;
        for mode in [Disabled, Tag] {
            assert_eq!(code(auth(mode, Server, Some(SERVER_KEY))), "ok");
            assert_eq!(code(auth(mode, Server, Some("a.test"))), "unauthorized");
        }
        assert_eq!(
            code(auth(Disabled, Server, Some(WRITE_KEY))),
            "insufficient_scope"
        );
        assert_eq!(code(auth(Tag, Server, Some(WRITE_KEY))), "ok");
        assert_eq!(code(auth(Require, Server, Some(WRITE_KEY))), "ok");
        assert_eq!(
            code(auth(Require, Server, Some(SERVER_KEY))),
            "api_key_required"
        );
        assert_eq!(
            code(auth(Require, Server, Some("a.test"))),
            "api_key_required"
        );
    }

    #[test]
    fn revoked_keys_stop_matching() {
        let keys = registry();
        assert!(keys.lookup(WRITE_KEY).is_some());
        keys.revoke("write");
        assert!(keys.lookup(WRITE_KEY).is_none());
        assert!(keys.lookup("a.test").is_none());
    }
}
