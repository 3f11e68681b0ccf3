//! Errors of the Mallard API family and their documented JSON body.
//!
//! Every error of `/api/*`, `/health*` and `/metrics` is answered with the flat
//! body `{"error": "human-readable description"}` and the status code from the
//! API overview's table.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mallard_store::error::WriteFailure;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error of the Mallard family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"error": "Invalid site_id"}))]
pub struct ErrorBody {
    /// What went wrong, in words.
    pub error: String,
}

/// An error answered on the Mallard API family.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400: missing or invalid parameters.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid session or API key.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: origin not allowed, or CSRF check failed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 409: the resource already exists.
    #[error("{0}")]
    Conflict(String),
    /// 405: the path exists but not with this method.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// 408: the request took longer than the server-side limit.
    #[error("Request timeout")]
    Timeout,
    /// 413: the body is larger than the route allows.
    #[error("Request body too large (limit: {limit_kb} KB)")]
    PayloadTooLarge {
        /// The limit in KiB.
        limit_kb: usize,
    },
    /// 422: the JSON is well-formed but does not have the expected shape.
    #[error("{0}")]
    Unprocessable(String),
    /// 429: rate limited; `retry_after_secs` goes into `Retry-After`.
    #[error("{message}")]
    TooManyRequests {
        /// What was limited.
        message: String,
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// 503: the database cannot serve the request right now.
    #[error("{0}")]
    Unavailable(String),
    /// 415: a `Content-Encoding` the route does not decode.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 500: an internal failure; the details are logged, not sent.
    #[error("Internal server error")]
    Internal,
    /// 500: stored data the answer needs is damaged (a day segment that
    /// fails its checksum); the message says which and what to do.
    #[error("{0}")]
    DamagedData(String),
    /// 503 with `Retry-After`: a limited resource (request bodies held in
    /// memory, chart rendering) is busy; a retry shortly after can succeed.
    #[error("{message}")]
    Busy {
        /// What is busy.
        message: String,
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Internal | Self::DamagedData(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short, stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Timeout => "timeout",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Unprocessable(_) => "unprocessable",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::UnsupportedMediaType(_) => "unsupported_encoding",
            Self::Internal => "internal",
            Self::DamagedData(_) => "damaged_data",
            Self::Busy { .. } => "busy",
        }
    }
}

impl ApiError {
    /// The 503 of a request whose body does not fit the in-flight body budget.
    pub fn bodies_busy() -> Self {
        Self::Busy {
            message: "Server busy: too many request bodies in flight, retry shortly".into(),
            retry_after_secs: crate::body_budget::RETRY_AFTER_SECS,
        }
    }
}

impl From<WriteFailure> for ApiError {
    fn from(failure: WriteFailure) -> Self {
        match failure {
            WriteFailure::DiskFull => {
                Self::Unavailable("Database unavailable: the disk is full".into())
            }
            WriteFailure::Stopped => Self::Unavailable("Server is shutting down".into()),
            WriteFailure::Unavailable(detail) => {
                tracing::warn!(%detail, "write refused until the writer state reloads");
                Self::Unavailable("Database unavailable".into())
            }
            WriteFailure::Database(detail) => {
                tracing::error!(%detail, "write failed");
                Self::Unavailable("Database unavailable".into())
            }
        }
    }
}

impl ApiError {
    /// The answer to a failed read: a damaged day segment is a 500 that says
    /// so (logged with its site and day), anything else a 503.
    pub fn from_read_failure(err: &mallard_store::StoreError) -> Self {
        if let mallard_store::StoreError::DamagedSegment { site_id, day } = err {
            tracing::error!(site_id, day, error = %err, "damaged day segment");
            return Self::DamagedData(format!("Stored data is damaged: {err}"));
        }
        if matches!(err, mallard_store::StoreError::Cancelled) {
            // Nobody waits for this answer: the client went away.
            tracing::debug!("a cancelled read stopped");
        } else {
            tracing::error!(error = %err, "read failed");
        }
        Self::Unavailable("Database not ready".into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: self.to_string(),
        };
        let mut response = (status, Json(body)).into_response();
        if let Self::TooManyRequests {
            retry_after_secs, ..
        }
        | Self::Busy {
            retry_after_secs, ..
        } = self
        {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn the_body_is_the_flat_error_object_and_429_carries_retry_after() {
        let response = ApiError::TooManyRequests {
            message: "slow down".into(),
            retry_after_secs: 3,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value, json!({"error": "slow down"}));
    }

    #[tokio::test]
    async fn a_damaged_segment_is_a_500_naming_its_site_and_day() {
        let err = mallard_store::StoreError::DamagedSegment {
            site_id: 3,
            day: 20_000,
        };
        let response = ApiError::from_read_failure(&err).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let message = value["error"].as_str().unwrap();
        assert!(
            message.contains("site 3") && message.contains("2024-10-04"),
            "{message}"
        );
        let other = mallard_store::StoreError::WriterStopped;
        assert_eq!(
            ApiError::from_read_failure(&other).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
