//! The server-side request time limit, answered with the documented 408 body.
//!
//! A handler that hands a write to the store passes its [`CommitPoint`] first.
//! From then on the time limit no longer cuts it short: the answer waits for
//! the writer's outcome, so an event that committed is answered 202, never
//! 408 (a 408 would make the client retry and store it twice).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::http::Extensions;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Marks the moment a request's handling starts a write whose outcome must
/// decide the answer. Handlers find it in the request's extensions.
#[derive(Debug, Clone, Default)]
pub struct CommitPoint(Arc<AtomicBool>);

impl CommitPoint {
    /// The request's commit point; a detached one (which nothing waits on)
    /// when the request did not pass the time limit layer.
    pub fn of(extensions: &Extensions) -> Self {
        extensions.get::<Self>().cloned().unwrap_or_default()
    }

    /// Says that a write is about to be handed to the store: from now on the
    /// time limit waits for the handler to finish.
    pub fn pass(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`CommitPoint::pass`] was called.
    pub fn passed(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CommitPoint {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions))
    }
}

/// Runs `handling` (given the request, with its [`CommitPoint`] inserted) and
/// answers 408 `{"error": "Request timeout"}` when it takes longer than
/// `limit`, unless it passed its commit point: then its own answer is awaited.
pub async fn enforce<F, Fut>(limit: Duration, mut request: Request, handling: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let point = CommitPoint::default();
    request.extensions_mut().insert(point.clone());
    let handling = handling(request);
    let mut handling = std::pin::pin!(handling);
    match tokio::time::timeout(limit, handling.as_mut()).await {
        Ok(response) => response,
        // The handler is between handing its write over and hearing the
        // outcome: the writer always answers, so this wait ends.
        Err(_) if point.passed() => handling.await,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::StatusCode;

    use super::*;

    fn request() -> Request {
        Request::new(Body::empty())
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_handler_gets_408() {
        let response = enforce(Duration::from_secs(1), request(), |_| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::ACCEPTED.into_response()
        })
        .await;
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_past_its_commit_point_is_awaited() {
        let response = enforce(
            Duration::from_secs(1),
            request(),
            |request: Request| async move {
                CommitPoint::of(request.extensions()).pass();
                tokio::time::sleep(Duration::from_secs(5)).await;
                StatusCode::ACCEPTED.into_response()
            },
        )
        .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }

    #[test]
    fn a_request_without_the_layer_gets_a_detached_point() {
        let point = CommitPoint::of(&Extensions::new());
        point.pass();
        assert!(point.passed());
    }
}
