//! Imports that run inside the server: each runs on a blocking thread and
//! reports its progress here, where `GET /api/imports/jobs/{job}` reads it
//! and `DELETE /api/imports/jobs/{job}` asks it to stop. Finished jobs are
//! kept (the newest [`KEPT_JOBS`]) so that a client that polls late still
//! learns the outcome.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::log_events::LineCounts;
use super::run::ImportReport;

/// How many finished jobs are remembered.
const KEPT_JOBS: usize = 32;

/// Where one job stands.
#[derive(Debug, Clone)]
pub enum JobState {
    /// Reading: the file at hand, its offset, and the counts so far.
    Running {
        /// The input being read.
        file: String,
        /// Decompressed bytes of it read.
        offset: u64,
        /// Stored bytes of all the inputs read so far.
        bytes_done: u64,
        /// The stored size of all the inputs, when known.
        bytes_total: Option<u64>,
        /// The counts so far.
        counts: LineCounts,
    },
    /// Waiting for the person at the machine to pick files in the host's
    /// native dialog.
    Choosing,
    /// The dialog was closed without a choice: nothing was imported.
    Dismissed,
    /// Done.
    Finished(Box<ImportReport>),
    /// Stopped with an error (what was committed before it stays, and the
    /// ledger says how far it got).
    Failed(String),
}

/// The server's import jobs.
#[derive(Debug, Default)]
pub struct ImportJobs {
    inner: Mutex<Jobs>,
}

#[derive(Debug, Default)]
struct Jobs {
    next: u64,
    states: BTreeMap<u64, JobState>,
    cancels: BTreeMap<u64, Arc<AtomicBool>>,
}

/// What asking a job to stop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// No such job (or it was forgotten).
    NotFound,
    /// It had ended already.
    Ended,
    /// It stops at its next check (within a few thousand lines).
    Stopping,
}

impl JobState {
    /// A job that is about to read its first file.
    pub fn starting() -> Self {
        Self::Running {
            file: String::new(),
            offset: 0,
            bytes_done: 0,
            bytes_total: None,
            counts: LineCounts::default(),
        }
    }
}

impl ImportJobs {
    /// Registers a new job and returns its id and the flag that stops it.
    pub fn start(&self) -> (u64, Arc<AtomicBool>) {
        let mut jobs = self.lock();
        jobs.next += 1;
        let id = jobs.next;
        jobs.states.insert(id, JobState::starting());
        let cancel = Arc::new(AtomicBool::new(false));
        jobs.cancels.insert(id, Arc::clone(&cancel));
        // Forget the oldest finished jobs beyond the limit.
        let finished: Vec<u64> = jobs
            .states
            .iter()
            .filter(|(_, state)| !matches!(state, JobState::Running { .. } | JobState::Choosing))
            .map(|(id, _)| *id)
            .collect();
        for old in finished
            .iter()
            .take(finished.len().saturating_sub(KEPT_JOBS))
        {
            jobs.states.remove(old);
        }
        (id, cancel)
    }

    /// Sets job `id`'s state.
    pub fn set(&self, id: u64, state: JobState) {
        let mut jobs = self.lock();
        if !matches!(state, JobState::Running { .. } | JobState::Choosing) {
            jobs.cancels.remove(&id);
        }
        jobs.states.insert(id, state);
    }

    /// Asks job `id` to stop.
    pub fn cancel(&self, id: u64) -> Cancel {
        let jobs = self.lock();
        match (jobs.cancels.get(&id), jobs.states.contains_key(&id)) {
            (Some(flag), _) => {
                flag.store(true, Ordering::Relaxed);
                Cancel::Stopping
            }
            (None, true) => Cancel::Ended,
            (None, false) => Cancel::NotFound,
        }
    }

    /// Asks every running job to stop (the server is shutting down).
    pub fn cancel_all(&self) {
        for flag in self.lock().cancels.values() {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// Whether any job is still running (or waiting for its files).
    pub fn any_running(&self) -> bool {
        self.lock()
            .states
            .values()
            .any(|state| matches!(state, JobState::Running { .. } | JobState::Choosing))
    }

    /// Job `id`'s state, if it is known.
    pub fn get(&self, id: u64) -> Option<JobState> {
        self.lock().states.get(&id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Jobs> {
        // A panic while holding the lock leaves plain data behind: use it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_numbered_and_old_finished_ones_forgotten() {
        let jobs = ImportJobs::default();
        let (first, _) = jobs.start();
        assert!(matches!(jobs.get(first), Some(JobState::Running { .. })));
        jobs.set(first, JobState::Failed("boom".into()));
        for _ in 0..KEPT_JOBS + 1 {
            let (id, _) = jobs.start();
            jobs.set(id, JobState::Failed("done".into()));
        }
        let (running, _) = jobs.start();
        assert!(
            jobs.get(first).is_none(),
            "the oldest finished job is forgotten"
        );
        assert!(matches!(jobs.get(running), Some(JobState::Running { .. })));
        assert!(jobs.get(999).is_none());
    }

    #[test]
    fn a_running_job_is_asked_to_stop_and_an_ended_one_says_so() {
        let jobs = ImportJobs::default();
        let (id, flag) = jobs.start();
        assert!(!flag.load(Ordering::Relaxed));
        assert_eq!(jobs.cancel(id), Cancel::Stopping);
        assert!(flag.load(Ordering::Relaxed));
        jobs.set(id, JobState::Failed("stopped".into()));
        assert_eq!(jobs.cancel(id), Cancel::Ended);
        assert_eq!(jobs.cancel(id + 1), Cancel::NotFound);
    }
}
