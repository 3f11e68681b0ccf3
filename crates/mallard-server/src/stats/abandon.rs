//! Stopping a stats query whose client went away.
//!
//! When a client closes its connection (a dashboard that aborts its requests
//! on a change of view, a closed tab), hyper drops the request's handler
//! future. [`Abandon`] lives in that future while its query runs: dropped
//! before [`Abandon::finished`], it sets the query's [`QueryCancel`], so the
//! blocking read stops at its next check (within a few milliseconds of work),
//! and counts `mallard_stats_queries_cancelled_total`. The query's slot, a
//! semaphore permit held by the same future, is released at once with it.

use mallard_store::QueryCancel;

/// Cancels its query when dropped before the answer arrived.
#[derive(Debug)]
pub(crate) struct Abandon {
    cancel: QueryCancel,
    answered: bool,
}

impl Abandon {
    /// A guard of the query that `cancel` stops.
    pub(crate) fn new(cancel: QueryCancel) -> Self {
        Self {
            cancel,
            answered: false,
        }
    }

    /// The answer arrived (or the query failed): nothing to cancel.
    pub(crate) fn finished(mut self) {
        self.answered = true;
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if !self.answered {
            self.cancel.cancel();
            crate::observability::stats_queries_cancelled().increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_dropped_before_the_answer_cancels_and_one_that_finished_does_not() {
        let cancel = QueryCancel::new();
        Abandon::new(cancel.clone()).finished();
        assert!(!cancel.is_cancelled());
        drop(Abandon::new(cancel.clone()));
        assert!(cancel.is_cancelled());
    }
}
