//! Extractors that guard routes: [`StatsAccess`] for stats, [`AdminAccess`] for
//! key management and settings (which also enforces the CSRF check).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{Principal, csrf};
use crate::error::ApiError;
use crate::state::AppState;

/// Proof that the request may read stats: open access, a session, or any valid
/// API key.
#[derive(Debug, Clone, Copy)]
pub struct StatsAccess(pub Principal);

/// Proof that the request may manage keys and settings: open access, a session,
/// or an Admin key — and, unless a key authenticated it, that a state change
/// comes from the dashboard's own origin.
#[derive(Debug, Clone, Copy)]
pub struct AdminAccess(pub Principal);

impl FromRequestParts<AppState> for StatsAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = state.auth.identify(&parts.headers);
        if principal.can_read_stats() {
            Ok(Self(principal))
        } else {
            Err(refusal(principal))
        }
    }
}

impl FromRequestParts<AppState> for AdminAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = state.auth.identify(&parts.headers);
        if !principal.can_administer() {
            return Err(refusal(principal));
        }
        if !principal.is_api_key() {
            check_csrf(parts, state)?;
        }
        Ok(Self(principal))
    }
}

/// Refuses a browser-driven state change from a foreign origin with 403.
pub fn check_csrf(parts: &Parts, state: &AppState) -> Result<(), ApiError> {
    if csrf::allows(
        &parts.method,
        &parts.headers,
        state.config.dashboard_origin.as_deref(),
    ) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "CSRF check failed: cross-origin request refused".into(),
        ))
    }
}

fn refusal(principal: Principal) -> ApiError {
    match principal {
        Principal::InvalidKey => ApiError::Unauthorized("Invalid API key".into()),
        Principal::ApiKey(_) => {
            ApiError::Forbidden("This API key has ReadOnly scope; an Admin key is required".into())
        }
        _ => ApiError::Unauthorized("Authentication required".into()),
    }
}
