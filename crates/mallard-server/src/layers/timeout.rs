//! The server-side request time limit, answered with the documented 408 body.

use std::time::Duration;

use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Runs the request and answers 408 `{"error": "Request timeout"}` when it takes
/// longer than `limit`.
pub async fn enforce(limit: Duration, handling: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(limit, handling).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}
