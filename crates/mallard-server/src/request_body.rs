//! Reading a request body into memory under a size limit, for handlers that
//! decide first (rate gates, authentication) and read the body only after.
//!
//! A declared `Content-Length` over the limit is refused before a byte is
//! read. The bytes read are charged to the request's [`Reservation`] of the
//! global body budget by the body itself (see [`crate::body_budget`]); a
//! refusal there is reported as [`BodyReadError::OverBudget`].

use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Extensions;
use bytes::Bytes;
use http_body::Body as _;

use crate::body_budget::Reservation;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyReadError {
    /// The body is longer than the limit (declared or counted).
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The global body budget cannot hold it right now.
    #[error("the server holds too many request bodies right now")]
    OverBudget,
    /// The connection failed or the client stopped sending.
    #[error("cannot read the request body: {0}")]
    Failed(String),
}

/// The request's reservation on the body budget, when the budget layer gave
/// it one.
pub fn reservation_of(extensions: &Extensions) -> Option<Arc<Reservation>> {
    extensions.get::<Arc<Reservation>>().cloned()
}

/// Reads `body` whole, refusing more than `limit` bytes; `reservation` tells
/// a budget refusal from other failures.
pub async fn read_limited(
    mut body: Body,
    limit: usize,
    reservation: Option<&Reservation>,
) -> Result<Bytes, BodyReadError> {
    let too_large = BodyReadError::TooLarge { limit };
    let declared = body.size_hint().lower();
    if declared > u64::try_from(limit).unwrap_or(u64::MAX) {
        return Err(too_large);
    }
    let failed = |err: axum::Error| {
        if reservation.is_some_and(Reservation::refused) {
            BodyReadError::OverBudget
        } else {
            BodyReadError::Failed(err.to_string())
        }
    };
    // Most bodies arrive in one frame: it is kept as it is, without a copy.
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame.map_err(failed)?.into_data() else {
            continue;
        };
        let have = first.as_ref().map_or(0, Bytes::len) + rest.len();
        if have.saturating_add(data.len()) > limit {
            return Err(too_large);
        }
        if first.is_none() && rest.is_empty() {
            first = Some(data);
            continue;
        }
        if let Some(taken) = first.take() {
            let expected = usize::try_from(declared).unwrap_or(0).min(limit);
            rest.reserve(expected.max(taken.len() + data.len()));
            rest.extend_from_slice(&taken);
        }
        rest.extend_from_slice(&data);
    }
    Ok(first.unwrap_or_else(|| Bytes::from(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body_budget::{BodyBudget, charge};

    #[tokio::test]
    async fn bodies_within_the_limit_are_read_whole() {
        let body = read_limited(Body::from("hello"), 5, None).await.unwrap();
        assert_eq!(body, "hello");
        let empty = read_limited(Body::empty(), 5, None).await.unwrap();
        assert!(empty.is_empty());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused() {
        let err = read_limited(Body::from("hello!"), 5, None)
            .await
            .unwrap_err();
        assert_eq!(err, BodyReadError::TooLarge { limit: 5 });
    }

    #[tokio::test]
    async fn a_budget_refusal_is_told_apart() {
        let budget = BodyBudget::new(4);
        let reservation = budget.reservation();
        let body = charge(Body::from("hello"), &reservation);
        let err = read_limited(body, 100, Some(&reservation))
            .await
            .unwrap_err();
        assert_eq!(err, BodyReadError::OverBudget);
    }
}
