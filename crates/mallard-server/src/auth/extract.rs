//! Extractors that guard routes: [`StatsAccess`] for stats, [`AdminAccess`] for
//! key management and settings (which also enforces the CSRF check).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::csrf::{self, Headerless};
use super::{Principal, peer};
use crate::error::ApiError;
use crate::state::AppState;

/// Proof that the request may read stats: open access (from this machine), a
/// session, or any valid API key.
#[derive(Debug, Clone, Copy)]
pub struct StatsAccess(pub Principal);

/// Proof that the request may manage keys and settings: open access (from this
/// machine), a session, or an Admin key — and, unless a key authenticated it, that a state change
/// comes from the dashboard's own origin.
#[derive(Debug, Clone, Copy)]
pub struct AdminAccess(pub Principal);

impl FromRequestParts<AppState> for StatsAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = principal_of(parts, state);
        if principal.can_read_stats() {
            Ok(Self(principal))
        } else {
            Err(refusal(principal, state))
        }
    }
}

impl FromRequestParts<AppState> for AdminAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = principal_of(parts, state);
        if !principal.can_administer() {
            return Err(refusal(principal, state));
        }
        if !principal.is_api_key() {
            // Only open access from this machine may omit Origin and Referer:
            // a session came with a cookie a browser sent on its own.
            let headerless = if principal == Principal::OpenAccess {
                Headerless::Vouched
            } else {
                Headerless::Refused
            };
            check_csrf(parts, state, headerless)?;
        }
        Ok(Self(principal))
    }
}

/// Who sent the request of `parts` (see [`super::AuthState::identify`]).
pub fn principal_of(parts: &Parts, state: &AppState) -> Principal {
    let direct = peer::is_direct_loopback(parts, &state.config.trusted_proxies);
    state.auth.identify(&parts.headers, direct)
}

/// Refuses a browser-driven state change from a foreign origin with 403.
pub fn check_csrf(parts: &Parts, state: &AppState, headerless: Headerless) -> Result<(), ApiError> {
    if csrf::allows(
        &parts.method,
        &parts.headers,
        state.config.dashboard_origin.as_deref(),
        headerless,
    ) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "CSRF check failed: cross-origin request refused".into(),
        ))
    }
}

fn refusal(principal: Principal, state: &AppState) -> ApiError {
    match principal {
        Principal::Anonymous if !state.auth.password_configured() => ApiError::Unauthorized(
            "Authentication required: no admin password is set yet, and open access is only \
             for clients on the server's own machine. Set the password with \
             POST /api/auth/setup and the setup token the server printed at start."
                .into(),
        ),
        Principal::InvalidKey => ApiError::Unauthorized("Invalid API key".into()),
        Principal::ApiKey(_) => {
            ApiError::Forbidden("This API key has ReadOnly scope; an Admin key is required".into())
        }
        _ => ApiError::Unauthorized("Authentication required".into()),
    }
}
