//! Imports that run inside the server: each runs on a blocking thread and
//! reports its progress here, where `GET /api/imports/jobs/{job}` reads it.
//! Finished jobs are kept (the newest [`KEPT_JOBS`]) so that a client that
//! polls late still learns the outcome.

use std::collections::BTreeMap;
use std::sync::Mutex;

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
        /// The counts so far.
        counts: LineCounts,
    },
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
}

impl ImportJobs {
    /// Registers a new job and returns its id.
    pub fn start(&self) -> u64 {
        let mut jobs = self.lock();
        jobs.next += 1;
        let id = jobs.next;
        jobs.states.insert(
            id,
            JobState::Running {
                file: String::new(),
                offset: 0,
                counts: LineCounts::default(),
            },
        );
        // Forget the oldest finished jobs beyond the limit.
        let finished: Vec<u64> = jobs
            .states
            .iter()
            .filter(|(_, state)| !matches!(state, JobState::Running { .. }))
            .map(|(id, _)| *id)
            .collect();
        for old in finished
            .iter()
            .take(finished.len().saturating_sub(KEPT_JOBS))
        {
            jobs.states.remove(old);
        }
        id
    }

    /// Sets job `id`'s state.
    pub fn set(&self, id: u64, state: JobState) {
        self.lock().states.insert(id, state);
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
        let first = jobs.start();
        assert!(matches!(jobs.get(first), Some(JobState::Running { .. })));
        jobs.set(first, JobState::Failed("boom".into()));
        for _ in 0..KEPT_JOBS + 1 {
            let id = jobs.start();
            jobs.set(id, JobState::Failed("done".into()));
        }
        let running = jobs.start();
        assert!(
            jobs.get(first).is_none(),
            "the oldest finished job is forgotten"
        );
        assert!(matches!(jobs.get(running), Some(JobState::Running { .. })));
        assert!(jobs.get(999).is_none());
    }
}
