//! The server's pulls: each remote with an interval is pulled when it is
//! due, any remote when asked ("Pull now"), one pull at a time on a blocking
//! thread. A pull that fails for a passing reason (the remote down) is tried
//! again after a backoff that doubles from a minute up to the interval; one
//! that fails because of its settings (a refused key) waits for its next
//! interval. What a pull is doing is kept in memory for the dashboard; how
//! the last one ended is kept in the store.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mallard_store::remotes::{self, Remote};
use tokio::sync::Notify;

use super::run::{PullTarget, pull_and_note};
use crate::state::AppState;

/// Events per feed page.
const PAGE_EVENTS: usize = 5_000;
/// The first wait after a passing failure.
const FIRST_BACKOFF_MS: i64 = 60_000;
/// How often the task looks for due remotes without being woken.
const TICK: Duration = Duration::from_secs(30);

/// A pull in progress, for the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Running {
    /// The remote site being pulled.
    pub site: String,
    /// Events written by this pull so far.
    pub events: u64,
    /// The latest event time written.
    pub reached_ms: Option<i64>,
}

#[derive(Debug, Default)]
struct Status {
    /// Remotes asked to pull now.
    requested: HashSet<i64>,
    /// The pull in progress, by remote.
    running: HashMap<i64, Running>,
    /// Consecutive passing failures and the earliest next try, by remote.
    backoff: HashMap<i64, (u32, i64)>,
}

/// The server's remote pulls: what runs, what was asked, and the task's
/// wake-up call.
#[derive(Debug, Default)]
pub struct RemotePulls {
    status: Mutex<Status>,
    wake: Notify,
    stop: Arc<AtomicBool>,
}

impl RemotePulls {
    /// Asks for a pull of remote `id` now.
    pub fn request(&self, id: i64) {
        let mut status = self.lock();
        status.requested.insert(id);
        status.backoff.remove(&id);
        drop(status);
        self.wake.notify_one();
    }

    /// Wakes the task (a remote was added or changed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The pull of remote `id` in progress, if one is.
    pub fn running(&self, id: i64) -> Option<Running> {
        self.lock().running.get(&id).cloned()
    }

    /// Whether any pull is in progress.
    pub fn any_running(&self) -> bool {
        !self.lock().running.is_empty()
    }

    /// Whether remote `id` was asked to pull and has not started.
    pub fn queued(&self, id: i64) -> bool {
        self.lock().requested.contains(&id)
    }

    /// Stops the pull in progress after its current page (shutdown).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The remote to pull next as of `now_ms`, if any is due.
    fn next_due(&self, remotes: &[Remote], now_ms: i64) -> Option<Remote> {
        let mut status = self.lock();
        let due = remotes
            .iter()
            .find(|r| status.requested.contains(&r.id))
            .or_else(|| {
                remotes.iter().find(|r| match status.backoff.get(&r.id) {
                    // After a passing failure: when its backoff is over.
                    Some(&(_, retry_at)) => retry_at <= now_ms && r.every_secs.is_some(),
                    // Otherwise an interval's length after the last attempt.
                    None => r.every_secs.is_some_and(|every| {
                        r.last_attempt_at
                            .is_none_or(|at| at + every * 1000 <= now_ms)
                    }),
                })
            })
            .cloned();
        // Running from the moment it is taken: never neither queued nor
        // running before it ended.
        if let Some(remote) = &due {
            status.requested.remove(&remote.id);
            status.running.insert(remote.id, Running::default());
        }
        due
    }
}

/// Runs until the runtime stops: pulls every remote when it is due.
pub async fn run(state: AppState) {
    loop {
        if state.remote_pulls.stop.load(Ordering::Relaxed) {
            return;
        }
        let listed = state.read(|db| remotes::list(db.connection())).await;
        let due = match listed {
            Ok(list) => {
                // Requests for remotes that are gone are forgotten.
                let mut status = state.remote_pulls.lock();
                status
                    .requested
                    .retain(|id| list.iter().any(|r| r.id == *id));
                drop(status);
                state.remote_pulls.next_due(&list, crate::clock::now_ms())
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot list the remote servers");
                None
            }
        };
        match due {
            Some(remote) => pull_one(&state, remote).await,
            None => {
                tokio::select! {
                    () = state.remote_pulls.wake.notified() => {}
                    () = tokio::time::sleep(TICK) => {}
                }
            }
        }
    }
}

/// Pulls `remote` once and notes how it went.
async fn pull_one(state: &AppState, remote: Remote) {
    let id = remote.id;
    let pulls = Arc::clone(&state.remote_pulls);
    let target = PullTarget {
        remote_id: id,
        url: remote.url.clone(),
        api_key: remote.api_key.clone(),
        sites: remote.sites.clone(),
        page_events: PAGE_EVENTS,
        cancel: Arc::clone(&pulls.stop),
    };
    let writer = state.writer.clone();
    let progress_pulls = Arc::clone(&pulls);
    let outcome = tokio::task::spawn_blocking(move || {
        pull_and_note(&writer, &target, &mut |progress| {
            progress_pulls.lock().running.insert(
                id,
                Running {
                    site: progress.site.to_owned(),
                    events: progress.events,
                    reached_ms: progress.reached_ms,
                },
            );
        })
    })
    .await;
    match outcome {
        Ok(Ok(report)) => {
            tracing::info!(remote = %remote.url, events = report.events(), "pulled from a remote server");
            pulls.lock().backoff.remove(&id);
        }
        Ok(Err(err)) => {
            tracing::warn!(remote = %remote.url, error = %err, "pulling from a remote server failed");
            let mut status = pulls.lock();
            if err.is_transient() {
                let failures = status.backoff.get(&id).map_or(0, |&(n, _)| n) + 1;
                let cap = remote.every_secs.map_or(FIRST_BACKOFF_MS, |s| s * 1000);
                let wait =
                    (FIRST_BACKOFF_MS << (failures - 1).min(10)).min(cap.max(FIRST_BACKOFF_MS));
                status
                    .backoff
                    .insert(id, (failures, crate::clock::now_ms() + wait));
            } else {
                status.backoff.remove(&id);
            }
        }
        Err(err) => {
            // The pull's thread ended without noting how it went.
            let error = format!("the pull stopped unexpectedly: {err}");
            let ended = crate::clock::now_ms();
            let _ = state
                .writer
                .run(move |conn| remotes::note_outcome(conn, id, ended, Some(&error)))
                .await;
        }
    }
    // Running until the outcome is stored: whoever sees the pull end sees how.
    pulls.lock().running.remove(&id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(id: i64, every_secs: Option<i64>, last_attempt_at: Option<i64>) -> Remote {
        Remote {
            id,
            url: format!("http://r{id}.test"),
            api_key: "k".into(),
            sites: Vec::new(),
            every_secs,
            created_at: 0,
            last_attempt_at,
            last_success_at: None,
            last_error: None,
            events_pulled: 0,
        }
    }

    #[test]
    fn asked_remotes_go_first_then_those_whose_interval_or_backoff_is_over() {
        let remotes = vec![
            remote(1, None, Some(0)),
            remote(2, Some(60), Some(100_000)),
            remote(3, Some(60), None),
        ];
        let pulls = RemotePulls::default();
        let due = |pulls: &RemotePulls, now| pulls.next_due(&remotes, now).map(|r| r.id);
        // Never pulled, with an interval: at once; taken, it runs.
        assert_eq!(due(&pulls, 100_000), Some(3));
        assert!(pulls.running(3).is_some());
        pulls.lock().running.clear();
        // Asked for: first, even without an interval.
        pulls.request(1);
        assert!(pulls.queued(1));
        assert_eq!(due(&pulls, 100_000), Some(1));
        assert!(!pulls.queued(1));
        // Remote 3 failed and backs off; remote 2's interval is not over.
        pulls.lock().backoff.insert(3, (1, 130_000));
        assert_eq!(due(&pulls, 120_000), None);
        assert_eq!(due(&pulls, 130_000), Some(3));
        pulls.lock().backoff.clear();
        assert_eq!(due(&pulls, 160_000), Some(2));
        // Only asked for: never due on its own.
        pulls.lock().backoff.insert(1, (1, 0));
        assert_ne!(due(&pulls, 1_000_000), Some(1));
    }
}
