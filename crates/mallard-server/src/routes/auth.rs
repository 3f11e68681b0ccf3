//! `POST /api/auth/setup`, `/login`, `/logout` and `GET /api/auth/status`,
//! exactly as the authentication API documents them, with one addition: a
//! client that is not straight on this machine must present the one-time
//! setup token to set the first password (see [`crate::auth::setup_token`]).

use std::net::IpAddr;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::csrf::{self, Headerless};
use crate::auth::extract::principal_of;
use crate::auth::lockout::Refusal;
use crate::auth::password::{self, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use crate::auth::peer::DirectLoopback;
use crate::auth::session_token;
use crate::auth::setup_token::SETUP_TOKEN_HEADER;
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::state::AppState;

/// The authentication routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/setup", post(setup))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/status", get(status))
        .route("/api/auth/desktop", get(desktop_sign_in))
}

/// The query of `GET /api/auth/desktop`.
#[derive(Debug, Deserialize)]
struct DesktopSignInQuery {
    token: String,
    /// Where to go after signing in: a path of this server (default `/`).
    next: Option<String>,
}

/// `next` when it is a path on this server, else `/`: the redirect can never
/// leave the dashboard's origin.
fn same_origin_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path.len() <= 2048
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/",
    }
}

/// `GET /api/auth/desktop?token=...`: trades a one-time token minted by the
/// desktop shell for a session and sends the window on to the dashboard, so
/// the token never stays in the address bar (see [`crate::auth::desktop`]).
#[utoipa::path(
    get,
    path = "/api/auth/desktop",
    tag = "Auth",
    params(
        ("token" = String, Query, description = "The one-time token minted by the desktop shell"),
        ("next" = Option<String>, Query, description = "A path of this server to go to (default /)"),
    ),
    responses(
        (status = 303, description = "Signed in; Location is the dashboard"),
        (status = 400, description = "No token", body = crate::error::ErrorBody),
        (status = 401, description = "An invalid or expired token", body = crate::error::ErrorBody),
    ),
)]
async fn desktop_sign_in(
    State(state): State<AppState>,
    query: Result<Query<DesktopSignInQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Ok(Query(query)) = query else {
        return Err(ApiError::BadRequest("Missing sign-in token".into()));
    };
    if !state.auth.desktop.redeem(&query.token) {
        metrics::counter!("mallard_auth_logins_total", "outcome" => "desktop_refused").increment(1);
        return Err(ApiError::Unauthorized(
            "Invalid or expired desktop sign-in token".into(),
        ));
    }
    metrics::counter!("mallard_auth_logins_total", "outcome" => "desktop").increment(1);
    let token = state.auth.sessions.create().ok_or(ApiError::Internal)?;
    let cookie = state.auth.session_cookie(&token);
    let location = HeaderValue::from_str(same_origin_path(query.next.as_deref()))
        .unwrap_or_else(|_| HeaderValue::from_static("/"));
    let redirect = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    Ok(with_cookie(redirect, &cookie))
}

/// The body of login.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PasswordBody {
    password: String,
}

/// The body of setup: the password and, from another machine, the setup
/// token (or the `X-Setup-Token` header).
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SetupBody {
    /// 8 characters to 1024 bytes.
    password: String,
    /// The one-time setup token the server printed at start.
    setup_token: Option<String>,
}

/// A new session: the token is also set as the `mm_session` cookie.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionBody {
    token: String,
}

/// The answer to logout.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LoggedOut {
    /// `logged_out`.
    status: &'static str,
}

/// Whether a password is set, and whether the request is signed in.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuthStatus {
    setup_required: bool,
    authenticated: bool,
}

/// The setup token presented in the `X-Setup-Token` header or the body.
fn presented_setup_token<'a>(headers: &'a HeaderMap, body: &'a SetupBody) -> Option<&'a str> {
    headers
        .get(SETUP_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .or(body.setup_token.as_deref())
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

#[utoipa::path(
    post,
    path = "/api/auth/setup",
    tag = "Auth",
    request_body = SetupBody,
    responses(
        (status = 200, description = "The password is set; a session starts", body = SessionBody),
        (status = 400, description = "A password too short or too long", body = crate::error::ErrorBody),
        (status = 401, description = "From another machine without the setup token", body = crate::error::ErrorBody),
        (status = 403, description = "A cross-site request", body = crate::error::ErrorBody),
        (status = 409, description = "A password is already set", body = crate::error::ErrorBody),
        (status = 422, description = "Not the documented body", body = crate::error::ErrorBody),
    ),
)]
async fn setup(
    State(state): State<AppState>,
    DirectLoopback(direct): DirectLoopback,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SetupBody>,
) -> Result<Response, ApiError> {
    if state.auth.password_configured() {
        return Err(already_configured());
    }
    let token_valid =
        presented_setup_token(&headers, &body).is_some_and(|t| state.auth.setup_token.matches(t));
    if !direct && !token_valid {
        metrics::counter!("mallard_auth_logins_total", "outcome" => "setup_refused").increment(1);
        return Err(ApiError::Unauthorized(
            "Setting the password from another machine needs the setup token: the server \
             printed it at start and wrote it to the setup-token file in its data directory. \
             Send it as the X-Setup-Token header or the setup_token field."
                .into(),
        ));
    }
    // A page cannot know the setup token, and a client on this machine could
    // forge any header: either may omit Origin and Referer (but a foreign
    // Origin, or a cookie without one, is still refused).
    check_csrf(&state, &headers, Headerless::Vouched)?;
    if body.password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::BadRequest(
            "Password must be at least 8 characters".into(),
        ));
    }
    if body.password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::BadRequest(format!(
            "Password must be at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    if state.auth.password_configured() {
        return Err(already_configured());
    }
    let hash = hash_password(&state, body.password).await?;
    let stored = hash.clone();
    let saved = state
        .writer
        .run(move |conn| mallard_store::auth::set_password_hash_if_absent(conn, &stored))
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "storing the password failed");
            ApiError::Unavailable("Database unavailable".into())
        })?;
    if !saved {
        return Err(already_configured());
    }
    state.auth.set_password_hash(hash);
    state.auth.setup_token.retire(&state.config.data_dir);
    tracing::info!("admin password configured");
    start_session(&state)
}

/// `POST /api/auth/login`. The attempt runs in a task of its own, so a client
/// that hangs up cannot cancel it half-way: its reservation is settled and its
/// hashing permit is held until Argon2 has finished.
#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "Auth",
    request_body = PasswordBody,
    responses(
        (status = 200, description = "A session starts", body = SessionBody),
        (status = 400, description = "No password is set yet", body = crate::error::ErrorBody),
        (status = 401, description = "A wrong password", body = crate::error::ErrorBody),
        (status = 403, description = "A cross-site request", body = crate::error::ErrorBody),
        (status = 422, description = "Not the documented body", body = crate::error::ErrorBody),
        (status = 429, description = "Locked out after failed attempts", body = crate::error::ErrorBody),
    ),
)]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<Response, ApiError> {
    // The password is a secret no page has, so a program may log in without
    // Origin; a session cookie without Origin is still refused.
    check_csrf(&state, &headers, Headerless::Vouched)?;
    tokio::spawn(attempt_login(state, ip, body.password))
        .await
        .map_err(|_| ApiError::Internal)?
}

/// One login attempt: reserve it against the lockout of `ip` (it counts as a
/// failure while in flight, and `ip` has at most one in flight), wait for a
/// hashing permit, check the lockout again, then verify.
async fn attempt_login(
    state: AppState,
    ip: IpAddr,
    password: String,
) -> Result<Response, ApiError> {
    let attempt = state.auth.lockout.reserve(ip).map_err(refused)?;
    let Some(stored) = state.auth.password_hash() else {
        return Err(ApiError::BadRequest(
            "No admin password configured. Use /api/auth/setup first.".into(),
        ));
    };
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(failed_login(attempt.failed()));
    }
    let permit = state
        .auth
        .hashing
        .acquire()
        .await
        .map_err(|_| ApiError::Internal)?;
    attempt.still_allowed().map_err(refused)?;
    let matches = tokio::task::spawn_blocking(move || password::verify(&password, &stored))
        .await
        .map_err(|_| ApiError::Internal)?;
    drop(permit);
    if !matches {
        return Err(failed_login(attempt.failed()));
    }
    attempt.succeeded();
    metrics::counter!("mallard_auth_logins_total", "outcome" => "success").increment(1);
    start_session(&state)
}

/// Logout needs no authentication and always answers 200 (spec 001). It ends
/// the session unless the request names a foreign origin: a cross-site page
/// may not sign the user out, but it learns nothing from the answer either.
#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "Auth",
    responses((status = 200, description = "Signed out (always 200)", body = LoggedOut)),
)]
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let foreign = csrf::is_foreign(&headers, state.config.dashboard_origin.as_deref());
    let body = Json(LoggedOut {
        status: "logged_out",
    })
    .into_response();
    if foreign {
        return body;
    }
    if let Some(token) = session_token(&headers) {
        state.auth.sessions.remove(token);
    }
    with_cookie(body, &state.auth.cleared_cookie())
}

/// The authentication state: open access counts as authenticated only for a
/// client straight on this machine; anyone else sees `setup_required: true,
/// authenticated: false` until the password is set.
#[utoipa::path(
    get,
    path = "/api/auth/status",
    tag = "Auth",
    responses((status = 200, description = "The authentication state", body = AuthStatus)),
)]
async fn status(State(state): State<AppState>, parts: Parts) -> Json<AuthStatus> {
    Json(AuthStatus {
        setup_required: !state.auth.password_configured(),
        authenticated: principal_of(&parts, &state).can_read_stats(),
    })
}

fn check_csrf(
    state: &AppState,
    headers: &HeaderMap,
    headerless: Headerless,
) -> Result<(), ApiError> {
    if csrf::allows(
        &Method::POST,
        headers,
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

fn already_configured() -> ApiError {
    ApiError::Conflict("Admin password already configured".into())
}

/// The 429 of a login refused before its password was checked.
fn refused(refusal: Refusal) -> ApiError {
    let message = match refusal {
        Refusal::Locked(_) => {
            metrics::counter!("mallard_auth_logins_total", "outcome" => "locked").increment(1);
            "Too many failed login attempts. Try again later."
        }
        Refusal::Busy => {
            metrics::counter!("mallard_auth_logins_total", "outcome" => "busy").increment(1);
            "Another login attempt from this address is in progress. Try again later."
        }
    };
    ApiError::TooManyRequests {
        message: message.into(),
        retry_after_secs: refusal.retry_after_secs(),
    }
}

/// The 401 of a wrong password; `locked` is the lockout the failure started.
fn failed_login(locked: Option<u64>) -> ApiError {
    metrics::counter!("mallard_auth_logins_total", "outcome" => "failure").increment(1);
    // Mallard's name for the same count.
    metrics::counter!("mallard_login_failures_total").increment(1);
    if locked.is_some() {
        metrics::counter!("mallard_auth_lockouts_total").increment(1);
        tracing::warn!("login locked out after repeated failures");
    }
    ApiError::Unauthorized("Invalid password".into())
}

fn start_session(state: &AppState) -> Result<Response, ApiError> {
    let token = state.auth.sessions.create().ok_or(ApiError::Internal)?;
    let cookie = state.auth.session_cookie(&token);
    Ok(with_cookie(
        Json(SessionBody { token }).into_response(),
        &cookie,
    ))
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Hashes on a blocking thread.
async fn hash_password(state: &AppState, password: String) -> Result<String, ApiError> {
    with_argon2(state, move || password::hash(&password))
        .await?
        .map_err(|err| {
            tracing::error!(error = %err, "password hashing failed");
            ApiError::Internal
        })
}

/// Runs an Argon2 computation on a blocking thread, at most two at once: it is
/// CPU-heavy by design and must not starve the async workers.
async fn with_argon2<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _permit = state
        .auth
        .hashing
        .acquire()
        .await
        .map_err(|_| ApiError::Internal)?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ApiError::Internal)
}

#[cfg(test)]
mod tests {
    use super::same_origin_path;

    #[test]
    fn the_sign_in_redirect_stays_on_this_server() {
        assert_eq!(same_origin_path(None), "/");
        assert_eq!(
            same_origin_path(Some("/?site=a.com&period=7d")),
            "/?site=a.com&period=7d"
        );
        for hostile in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil.example",
            "",
            "/a\nb",
        ] {
            assert_eq!(same_origin_path(Some(hostile)), "/", "{hostile:?}");
        }
    }
}
