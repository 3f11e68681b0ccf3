//! Errors of the event collector family and their documented bodies.
//!
//! Every error is answered with the envelope
//! `{"error": {"code", "message", "details"}}`, except the two flat bodies the
//! contract fixes on purpose: `{"error": "api_key_required", "upgrade_docs": ...}`
//! and the infrastructure limiters' `{"error": "rate_limited"}`.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mallard_store::error::WriteFailure;
use serde::Serialize;
use utoipa::ToSchema;

use crate::excerpt::shorten;

/// One per-field problem, listed in the envelope's `details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field, as a dotted path (`props.plan`, `context.screen.w`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`; long quoted values in either are cut (see
    /// [`crate::excerpt`]).
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        let cut = |text: String| match shorten(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(short) => short,
        };
        Self {
            field: cut(field.into()),
            message: cut(message.into()),
        }
    }
}

/// The error envelope of the collector family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// A stable code: `invalid_json`, `missing_field`, `invalid_field`,
    /// `schema_validation_failed`, `unauthorized`, `forbidden`, ...
    pub code: String,
    /// What went wrong, in words.
    pub message: String,
    /// The fields at fault, if any.
    pub details: Vec<FieldError>,
}

/// Every error body of the collector family: the envelope, or one of the two
/// flat bodies the contract fixes (`api_key_required` with `upgrade_docs`,
/// and `rate_limited`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CollectorErrorBody {
    /// `{"error": {"code", "message", "details"}}`.
    Envelope {
        /// The envelope.
        error: ErrorEnvelope,
    },
    /// `{"error": "api_key_required", "upgrade_docs": ...}` or
    /// `{"error": "rate_limited"}`.
    Flat {
        /// `api_key_required` or `rate_limited`.
        error: String,
        /// Where to read about keys (with `api_key_required`).
        #[serde(skip_serializing_if = "Option::is_none")]
        upgrade_docs: Option<String>,
    },
}

/// Which rate-limit gate refused a request (the `x-ratelimit-reason` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitGate {
    /// The per-client-IP gate, before authentication.
    Ip,
    /// The per-api-key (per credential) gate, after authentication.
    ApiKey,
    /// The per-workspace sustained-rate gate.
    Workspace,
    /// The per-site rate limit (`rate_limit_per_site`).
    Site,
}

impl LimitGate {
    /// The value of the `x-ratelimit-reason` header.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Ip => "per_ip",
            Self::ApiKey => "per_api_key",
            Self::Workspace => "per_workspace",
            Self::Site => "per_site",
        }
    }
}

/// An error answered on the collector family.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectorError {
    /// 400 `invalid_json`: the body is not a JSON object.
    #[error("{0}")]
    InvalidJson(String),
    /// 400 `missing_field`: a required field is absent.
    #[error("Required field `{0}` is missing")]
    MissingField(String),
    /// 400 `invalid_field`: a field has the wrong type or an unusable value.
    #[error("The event has invalid fields")]
    InvalidField(Vec<FieldError>),
    /// 400 `site_mismatch`: the body's `site_id` is not the authenticated site.
    #[error("The event's site_id does not match the site named by the credentials")]
    SiteMismatch,
    /// 400 `schema_validation_failed`: the tracking plan rejected the event.
    #[error("The event does not match the site's tracking plan")]
    SchemaValidationFailed(Vec<FieldError>),
    /// 400 `invalid_encoding`: the compressed body is corrupt.
    #[error("The body is not valid {0} data")]
    InvalidEncoding(&'static str),
    /// 400 `invalid_request`: a malformed request (e.g. query string, path).
    #[error("{0}")]
    InvalidRequest(String),
    /// 401 `unauthorized`: bearer missing, malformed or unrecognised.
    #[error("{0}")]
    Unauthorized(String),
    /// 401 with the flat `api_key_required` body.
    #[error("api_key_required")]
    ApiKeyRequired {
        /// Where to get a key: this app's key page.
        upgrade_docs: String,
    },
    /// 402 `monthly_quota_exceeded`.
    #[error("The workspace's monthly event quota is exhausted")]
    MonthlyQuotaExceeded,
    /// 403 `consent_required`.
    #[error("A consent token (X-Consent) is required")]
    ConsentRequired,
    /// 403 `insufficient_scope`: a known key without the needed scope.
    #[error("The api key lacks the scope this endpoint needs ({0})")]
    InsufficientScope(&'static str),
    /// 404 `not_found`.
    #[error("{0}")]
    NotFound(String),
    /// 413 `payload_too_large`.
    #[error("The decompressed body exceeds the {limit_mb} MB limit")]
    PayloadTooLarge {
        /// The limit in MiB.
        limit_mb: usize,
    },
    /// 415 `unsupported_encoding`.
    #[error("Content-Encoding {0:?} is not supported (use gzip or br)")]
    UnsupportedEncoding(String),
    /// 429 with the flat `rate_limited` body (per-IP and per-key gates).
    #[error("rate_limited")]
    RateLimited(LimitGate),
    /// 429 `rate_limit_exceeded` in the envelope (per-workspace gate).
    #[error("The workspace's rate limit is exceeded")]
    WorkspaceRateLimited,
    /// 429 `rate_limit_exceeded` in the envelope: too many wrong admin tokens
    /// from this address; `retry_after_secs` goes into `Retry-After`.
    #[error("Too many failed admin token attempts. Try again later.")]
    TooManyFailedAttempts {
        /// Seconds until the address may try again.
        retry_after_secs: u64,
    },
    /// 503 `unavailable`: admin endpoints without `ADMIN_TOKEN`, or the
    /// database cannot take writes right now.
    #[error("{0}")]
    Unavailable(String),
    /// 503 `server_busy` with `Retry-After`: the server holds as many request
    /// bodies in memory as its budget allows.
    #[error("The server is receiving too many request bodies at once; retry shortly")]
    ServerBusy,
    /// 500 `internal`: a transient server failure (details are logged).
    #[error("Internal server error")]
    Internal,
    /// 403 `site_not_allowed`: a site allowlist is set and lacks the site.
    #[error("{0}")]
    SiteNotAllowed(String),
    /// 403 `site_limit_reached`: the site is new and events have created
    /// `max_new_sites_per_day` sites today; the message says how to add it.
    #[error("{0}")]
    SiteLimitReached(String),
    /// 429 `rate_limit_exceeded` in the envelope: the site's
    /// `rate_limit_per_site` is reached.
    #[error("The site's rate limit is exceeded")]
    SiteRateLimited {
        /// Seconds until a retry can succeed (the `Retry-After` header).
        retry_after_secs: u64,
    },
}

impl CollectorError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidJson(_)
            | Self::MissingField(_)
            | Self::InvalidField(_)
            | Self::SiteMismatch
            | Self::SchemaValidationFailed(_)
            | Self::InvalidEncoding(_)
            | Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::ApiKeyRequired { .. } => StatusCode::UNAUTHORIZED,
            Self::MonthlyQuotaExceeded => StatusCode::PAYMENT_REQUIRED,
            Self::ConsentRequired | Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited(_)
            | Self::WorkspaceRateLimited
            | Self::TooManyFailedAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::ServerBusy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::SiteNotAllowed(_) | Self::SiteLimitReached(_) => StatusCode::FORBIDDEN,
            Self::SiteRateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The stable code callers branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::MissingField(_) => "missing_field",
            Self::InvalidField(_) => "invalid_field",
            Self::SiteMismatch => "site_mismatch",
            Self::SchemaValidationFailed(_) => "schema_validation_failed",
            Self::InvalidEncoding(_) => "invalid_encoding",
            Self::InvalidRequest(_) => "invalid_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::ApiKeyRequired { .. } => "api_key_required",
            Self::MonthlyQuotaExceeded => "monthly_quota_exceeded",
            Self::ConsentRequired => "consent_required",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::NotFound(_) => "not_found",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedEncoding(_) => "unsupported_encoding",
            Self::RateLimited(_) => "rate_limited",
            Self::WorkspaceRateLimited | Self::TooManyFailedAttempts { .. } => {
                "rate_limit_exceeded"
            }
            Self::Unavailable(_) => "unavailable",
            Self::ServerBusy => "server_busy",
            Self::Internal => "internal",
            Self::SiteNotAllowed(_) => "site_not_allowed",
            Self::SiteLimitReached(_) => "site_limit_reached",
            Self::SiteRateLimited { .. } => "rate_limit_exceeded",
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::MissingField(field) => vec![FieldError {
                field: field.clone(),
                message: "required".into(),
            }],
            Self::InvalidField(list) | Self::SchemaValidationFailed(list) => list.clone(),
            _ => Vec::new(),
        }
    }

    /// The body of this error (see [`CollectorErrorBody`]).
    fn body(&self) -> CollectorErrorBody {
        match self {
            Self::ApiKeyRequired { upgrade_docs } => CollectorErrorBody::Flat {
                error: "api_key_required".into(),
                upgrade_docs: Some(upgrade_docs.to_string()),
            },
            Self::RateLimited(_) => CollectorErrorBody::Flat {
                error: "rate_limited".into(),
                upgrade_docs: None,
            },
            _ => CollectorErrorBody::Envelope {
                error: ErrorEnvelope {
                    code: self.code().into(),
                    message: shorten(&self.to_string()).into_owned(),
                    details: self.details(),
                },
            },
        }
    }
}

impl From<WriteFailure> for CollectorError {
    fn from(failure: WriteFailure) -> Self {
        match failure {
            WriteFailure::DiskFull => Self::Unavailable("The disk is full".into()),
            WriteFailure::Stopped => Self::Unavailable("The server is shutting down".into()),
            WriteFailure::Unavailable(detail) => {
                tracing::warn!(%detail, "collector write refused until the writer state reloads");
                Self::Unavailable("The database cannot be written right now".into())
            }
            WriteFailure::Database(detail) => {
                tracing::error!(%detail, "collector write failed");
                Self::Internal
            }
        }
    }
}

impl IntoResponse for CollectorError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(self.body())).into_response();
        let gate = match &self {
            Self::RateLimited(gate) => Some(*gate),
            Self::WorkspaceRateLimited => Some(LimitGate::Workspace),
            _ => None,
        };
        if let Self::TooManyFailedAttempts { retry_after_secs } = &self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(*retry_after_secs.max(&1)),
            );
        }
        if let Self::ServerBusy = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::body_budget::RETRY_AFTER_SECS),
            );
        }
        if let Some(gate) = gate {
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            headers.insert(
                "x-ratelimit-reason",
                HeaderValue::from_static(gate.reason()),
            );
        }
        if let Self::SiteRateLimited { retry_after_secs } = &self {
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            headers.insert(
                "x-ratelimit-reason",
                HeaderValue::from_static(LimitGate::Site.reason()),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    async fn body_of(error: CollectorError) -> (StatusCode, axum::http::HeaderMap, Value) {
        let response = error.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        (status, headers, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn errors_use_the_envelope_with_details() {
        let (status, _, body) = body_of(CollectorError::MissingField("anon_id".into())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "missing_field");
        assert_eq!(body["error"]["details"][0]["field"], "anon_id");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("anon_id")
        );
    }

    #[tokio::test]
    async fn the_two_flat_bodies_keep_their_exact_shape() {
        let (status, _, body) = body_of(CollectorError::ApiKeyRequired {
            upgrade_docs: "http://127.0.0.1:1/#/keys".into(),
        })
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            json!({"error": "api_key_required", "upgrade_docs": "http://127.0.0.1:1/#/keys"})
        );
        let (status, headers, body) = body_of(CollectorError::RateLimited(LimitGate::Ip)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body, json!({"error": "rate_limited"}));
        assert_eq!(headers[header::RETRY_AFTER], "1");
        assert_eq!(headers["x-ratelimit-reason"], "per_ip");
        let (_, headers, body) = body_of(CollectorError::WorkspaceRateLimited).await;
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        assert_eq!(headers["x-ratelimit-reason"], "per_workspace");
        let (status, headers, body) = body_of(CollectorError::SiteRateLimited {
            retry_after_secs: 3,
        })
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        assert_eq!(headers[header::RETRY_AFTER], "3");
        assert_eq!(headers["x-ratelimit-reason"], "per_site");
    }
}
