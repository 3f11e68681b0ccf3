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

use super::run::{PullTarget, pull};
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
        let asked = remotes
            .iter()
            .find(|r| status.requested.contains(&r.id))
            .cloned();
        if let Some(remote) = asked {
            status.requested.remove(&remote.id);
            status.running.insert(remote.id, Running::default());
            return Some(remote);
        }
        let due = remotes
            .iter()
            .find(|r| {
                let Some(every) = r.every_secs else {
                    return false;
                };
                let interval_due = r
                    .last_attempt_at
                    .is_none_or(|at| at + every * 1000 <= now_ms);
                let backoff_due = status
                    .backoff
                    .get(&r.id)
                    .is_none_or(|&(_, at)| at <= now_ms);
                match status.backoff.get(&r.id) {
                    Some(_) => backoff_due,
                    None => interval_due,
                }
            })
            .cloned();
        // Running from the moment it is taken: never neither queued nor
        // running before it ended.
        if let Some(remote) = &due {
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
    let started = crate::clock::now_ms();
    let _ = state
        .writer
        .run(move |conn| remotes::note_attempt(conn, id, started))
        .await;
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
        pull(&writer, &target, &mut |progress| {
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
    let error = match outcome {
        Ok(Ok(report)) => {
            tracing::info!(remote = %remote.url, events = report.events(), "pulled from a remote server");
            pulls.lock().backoff.remove(&id);
            None
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
            Some(err.to_string())
        }
        Err(err) => Some(format!("the pull stopped unexpectedly: {err}")),
    };
    let ended = crate::clock::now_ms();
    let _ = state
        .writer
        .run(move |conn| remotes::note_outcome(conn, id, ended, error.as_deref()))
        .await;
    // Running until the outcome is stored: whoever sees the pull end sees how.
    pulls.lock().running.remove(&id);
}
