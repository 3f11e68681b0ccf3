//! The global in-flight body budget: one bound on the request bytes the
//! server holds in memory at once, across every request.
//!
//! Each request gets a [`Reservation`] on the shared [`BodyBudget`]. When its
//! body is first read, the reservation takes the declared `Content-Length` at
//! once (so a request that cannot fit is refused before a byte of it is read);
//! a body without a declared length takes its bytes as they arrive. Decoders
//! take their output from the same reservation. The reservation gives
//! everything back when it is dropped, that is once the handler has answered,
//! so 256 concurrent 5 MB bodies cannot take the server past the budget:
//! the requests that do not fit are answered 503 with `Retry-After`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};

/// Seconds a client refused for lack of budget is asked to wait.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The default budget, in MiB.
pub const DEFAULT_BUDGET_MB: u64 = 64;

/// The shared count of request bytes held in memory, and its limit.
#[derive(Debug)]
pub struct BodyBudget {
    limit: usize,
    in_use: AtomicUsize,
}

impl BodyBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            in_use: AtomicUsize::new(0),
        })
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many bytes are reserved right now.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Acquire)
    }

    /// Takes `bytes` from the budget if they fit.
    fn try_take(&self, bytes: usize) -> bool {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    /// Gives back `bytes` taken before.
    fn give_back(&self, bytes: usize) {
        self.in_use.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// A new, empty reservation for one request.
    pub fn reservation(self: &Arc<Self>) -> Arc<Reservation> {
        Arc::new(Reservation {
            budget: Arc::clone(self),
            held: AtomicUsize::new(0),
            refused: AtomicBool::new(false),
        })
    }
}

/// The budget is exhausted: the request is answered 503 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server holds too many request bodies in memory right now")]
pub struct BudgetExhausted;

/// The bytes one request holds of the budget; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<BodyBudget>,
    held: AtomicUsize,
    refused: AtomicBool,
}

impl Reservation {
    /// Takes `bytes` more from the budget, or marks the request as refused.
    pub fn grow(&self, bytes: usize) -> Result<(), BudgetExhausted> {
        if bytes == 0 {
            return Ok(());
        }
        if self.budget.try_take(bytes) {
            self.held.fetch_add(bytes, Ordering::AcqRel);
            Ok(())
        } else {
            self.refused.store(true, Ordering::Release);
            Err(BudgetExhausted)
        }
    }

    /// Makes sure at least `total` bytes are held, taking the difference.
    pub fn grow_to(&self, total: usize) -> Result<(), BudgetExhausted> {
        let held = self.held.load(Ordering::Acquire);
        self.grow(total.saturating_sub(held))
    }

    /// How many bytes this request holds.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Whether a part of this request was refused for lack of budget.
    pub fn refused(&self) -> bool {
        self.refused.load(Ordering::Acquire)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(*self.held.get_mut());
    }
}

/// A request body that takes what it delivers from a [`Reservation`].
#[derive(Debug)]
pub struct BudgetedBody {
    inner: Body,
    reservation: Arc<Reservation>,
    received: usize,
    started: bool,
}

impl BudgetedBody {
    /// Wraps `inner`, charging `reservation`.
    pub fn new(inner: Body, reservation: Arc<Reservation>) -> Self {
        Self {
            inner,
            reservation,
            received: 0,
            started: false,
        }
    }
}

/// The errors a [`BudgetedBody`] yields.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl http_body::Body for BudgetedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if !this.started {
            this.started = true;
            // A declared length is taken whole before anything is read.
            if let Some(declared) = this.inner.size_hint().exact() {
                let declared = usize::try_from(declared).unwrap_or(usize::MAX);
                if let Err(err) = this.reservation.grow_to(declared) {
                    return Poll::Ready(Some(Err(err.into())));
                }
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received = this.received.saturating_add(data.len());
                    if let Err(err) = this.reservation.grow_to(this.received) {
                        return Poll::Ready(Some(Err(err.into())));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Puts `body` under `reservation` unless it is known to be empty.
pub fn charge(body: Body, reservation: &Arc<Reservation>) -> Body {
    if body.size_hint().upper() == Some(0) {
        return body;
    }
    Body::new(BudgetedBody::new(body, Arc::clone(reservation)))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(body: Body) -> Result<Bytes, axum::Error> {
        axum::body::to_bytes(body, usize::MAX).await
    }

    #[tokio::test]
    async fn a_declared_length_is_taken_whole_and_given_back_on_drop() {
        let budget = BodyBudget::new(100);
        let first = budget.reservation();
        let bytes = read_all(charge(Body::from(vec![b'a'; 60]), &first))
            .await
            .unwrap();
        assert_eq!(bytes.len(), 60);
        assert_eq!(budget.in_use(), 60, "held until the request is over");
        let second = budget.reservation();
        assert!(
            read_all(charge(Body::from(vec![b'b'; 60]), &second))
                .await
                .is_err()
        );
        assert!(second.refused());
        assert!(!first.refused());
        drop(first);
        drop(second);
        assert_eq!(budget.in_use(), 0);
        let third = budget.reservation();
        assert!(
            read_all(charge(Body::from(vec![b'c'; 100]), &third))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_body_of_unknown_length_is_charged_as_it_arrives() {
        let budget = BodyBudget::new(10);
        let streamed = Body::new(Chunks(
            (0..4).map(|_| Bytes::from_static(b"abcd")).collect(),
        ));
        assert_eq!(streamed.size_hint().exact(), None);
        let reservation = budget.reservation();
        assert!(read_all(charge(streamed, &reservation)).await.is_err());
        assert_eq!(reservation.held(), 8, "two chunks fit, the third does not");
        drop(reservation);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn decoders_grow_the_same_reservation() {
        let budget = BodyBudget::new(10);
        let reservation = budget.reservation();
        assert!(reservation.grow(6).is_ok());
        assert!(reservation.grow_to(4).is_ok(), "already held");
        assert_eq!(reservation.held(), 6);
        assert_eq!(reservation.grow(5), Err(BudgetExhausted));
        assert!(reservation.refused());
        assert_eq!(budget.in_use(), 6);
    }

    /// A body of `chunks` whose length is not declared, as a chunked
    /// request's is not.
    struct Chunks(std::collections::VecDeque<Bytes>);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
        }
    }
}
