//! The write side of health: whether events are being stored.
//!
//! A process whose database still answers reads can be unable to commit (a
//! full disk, a read-only file). Both ingestion paths record the outcome of
//! each write here, and `/health/ready` and `/health/detailed` report the
//! write side as failing while the latest write failed and that failure is
//! recent ([`FAILING_FOR`]): a later successful write clears it at once, and
//! without new failures it clears by itself, so that a proxy's health check
//! cannot keep traffic away from a server that recovered while idle.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mallard_store::error::WriteFailure;

/// How long after the latest failed write the write side counts as failing
/// when no write succeeded since.
pub const FAILING_FOR: Duration = Duration::from_secs(60);

/// What the write side looks like now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteStatus {
    /// No recent failed write, or a write succeeded since.
    Ok,
    /// The latest write failed recently.
    Failing {
        /// What went wrong, e.g. "the disk holding the database is full".
        error: String,
        /// When the latest write failed, ms since the epoch.
        at_ms: i64,
    },
}

#[derive(Debug)]
struct Failure {
    when: Instant,
    at_ms: i64,
    error: String,
}

/// The outcome of the latest writes.
#[derive(Debug, Default)]
pub struct WriteHealth {
    latest_failure: Mutex<Option<Failure>>,
}

impl WriteHealth {
    /// Records the outcome of one write of events. A writer that stopped (the
    /// server is shutting down) says nothing about the disk and is ignored.
    pub fn record(&self, outcome: &Result<(), WriteFailure>) {
        let mut latest = self
            .latest_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(()) => *latest = None,
            Err(WriteFailure::Stopped) => {}
            Err(failure) => {
                crate::observability::flush_failures().increment(1);
                *latest = Some(Failure {
                    when: Instant::now(),
                    at_ms: crate::clock::now_ms(),
                    error: failure.to_string(),
                });
            }
        }
    }

    /// The write side now.
    pub fn status(&self) -> WriteStatus {
        self.status_at(Instant::now())
    }

    fn status_at(&self, now: Instant) -> WriteStatus {
        let latest = self
            .latest_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match &*latest {
            Some(failure) if now.saturating_duration_since(failure.when) < FAILING_FOR => {
                WriteStatus::Failing {
                    error: failure.error.clone(),
                    at_ms: failure.at_ms,
                }
            }
            _ => WriteStatus::Ok,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_counts_until_a_success_or_until_it_is_old() {
        let health = WriteHealth::default();
        assert_eq!(health.status(), WriteStatus::Ok);
        health.record(&Err(WriteFailure::DiskFull));
        let WriteStatus::Failing { error, .. } = health.status() else {
            panic!("failing");
        };
        assert!(error.contains("full"), "{error}");
        assert_eq!(
            health.status_at(Instant::now() + FAILING_FOR),
            WriteStatus::Ok,
            "an old failure no longer counts"
        );
        health.record(&Err(WriteFailure::Stopped));
        assert_ne!(health.status(), WriteStatus::Ok, "a stop changes nothing");
        health.record(&Ok(()));
        assert_eq!(health.status(), WriteStatus::Ok);
    }
}
