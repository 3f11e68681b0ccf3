//! The single writer thread and its group commit.
//!
//! One OS thread owns the only write connection. Submissions arrive on a bounded
//! channel; the thread takes the first one, drains whatever else is already
//! queued (up to a batch limit), writes all of it in one transaction and commits.
//! Only then does each submitter learn the outcome, so an acknowledged event is
//! in the committed WAL and survives a crash of the process. Under load, batches
//! grow by themselves while a commit is in progress; with no load, a lone event
//! is committed at once (no artificial delay, like PostgreSQL's default
//! `commit_delay = 0`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mallard_core::NewEvent;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::error::{StoreError, WriteFailure};
use crate::insert::WriterState;

/// The outcome handed to a job after its transaction committed or rolled back.
pub type Completion = Box<dyn FnOnce(Result<(), WriteFailure>) + Send>;

/// A write job: runs inside a savepoint of the batch transaction, says whether its
/// changes should be kept, and gets the commit outcome afterwards.
pub type Job = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

/// A write that must commit with the events it comes with, or not at all
/// (an import's ledger).
type Record = Box<dyn FnOnce(&Connection, &HeldBack<'_>) -> Result<(), StoreError> + Send>;

/// What a bulk load ([`WriterOptions::bulk_load`]) still holds in memory
/// when a recorded insert's record runs: events it has not written yet, and
/// which a crash would lose, so a record of what was sent must not count
/// them as stored.
#[derive(Debug)]
pub struct HeldBack<'a> {
    state: &'a crate::insert::WriterState,
}

impl HeldBack<'_> {
    /// The time (ms) from which events of site `site_id` may be held in
    /// memory: every event of the site before it is written. `None`: every
    /// event of the site is written.
    pub fn held_from(&self, site_id: i64) -> Option<i64> {
        self.state.held_from(site_id)
    }
}

enum Command {
    Insert {
        events: Vec<NewEvent>,
        ack: oneshot::Sender<Result<(), WriteFailure>>,
    },
    InsertRecorded {
        events: Vec<NewEvent>,
        record: Record,
        ack: oneshot::Sender<Result<(), WriteFailure>>,
    },
    Run(Job),
    Maintain(Job),
    /// A maintenance job that deletes or rewrites rows the writer's state
    /// was loaded from (undoing an import): the state loads again after it.
    Rewrite(Job),
    SyncRollups(oneshot::Sender<Result<(), WriteFailure>>),
    Shutdown,
}

/// Tuning of the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// A batch closes when it holds this many events.
    pub max_batch_events: usize,
    /// How long a batch may wait for more events after the first; zero commits
    /// whatever is queued at once.
    pub commit_delay: Duration,
    /// How many submissions may wait in the queue before submitters wait.
    pub queue_capacity: usize,
    /// Whether closed days are packed into day segments as the writer
    /// writes behind (true). Without, every day stays as rows, as in a
    /// database written before day segments: for tests of the upgrade.
    pub pack_closed_days: bool,
    /// Whether the events of a site with no stored visit go straight into
    /// day segments as their days settle, instead of rows that are packed
    /// later ([`crate::bulk_load`]): for `mallard seed`, which writes a
    /// site's history oldest first. The first maintenance job (or shutdown)
    /// ends the load, writing what is not settled as rows.
    pub bulk_load: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            max_batch_events: 4096,
            commit_delay: Duration::ZERO,
            queue_capacity: 16_384,
            pack_closed_days: true,
            bulk_load: false,
        }
    }
}

/// A cloneable handle that submits work to the writer thread.
#[derive(Clone, Debug)]
pub struct WriterHandle {
    sender: mpsc::Sender<Command>,
    queued: Arc<AtomicUsize>,
    rollups_pending: Arc<AtomicBool>,
}

/// A write handed to the writer whose commit is awaited later
/// ([`WriterHandle::insert_recorded_pending`]).
#[derive(Debug)]
pub struct PendingWrite {
    done: oneshot::Receiver<Result<(), WriteFailure>>,
    queued: Arc<AtomicUsize>,
    count: usize,
}

impl PendingWrite {
    /// Waits until the transaction holding the write committed (or failed).
    pub fn wait(mut self) -> Result<(), WriteFailure> {
        let (_, placeholder) = oneshot::channel();
        std::mem::replace(&mut self.done, placeholder)
            .blocking_recv()
            .unwrap_or(Err(WriteFailure::Stopped))
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        self.queued.fetch_sub(self.count, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Insert { events, .. } => write!(f, "Insert({} events)", events.len()),
            Command::InsertRecorded { events, .. } => {
                write!(f, "InsertRecorded({} events)", events.len())
            }
            Command::Run(_) => f.write_str("Run"),
            Command::Maintain(_) => f.write_str("Maintain"),
            Command::Rewrite(_) => f.write_str("Rewrite"),
            Command::SyncRollups(_) => f.write_str("SyncRollups"),
            Command::Shutdown => f.write_str("Shutdown"),
        }
    }
}

impl WriterHandle {
    /// Stores `events` and resolves once the transaction holding them committed.
    pub async fn insert(&self, events: Vec<NewEvent>) -> Result<(), WriteFailure> {
        let (ack, done) = oneshot::channel();
        // Counted down on drop, so a caller that stops waiting (a closed
        // connection) does not leave its events counted forever.
        let _queued = QueuedCount::add(&self.queued, events.len());
        let sent = self.sender.send(Command::Insert { events, ack }).await;
        match sent {
            Ok(()) => done.await.unwrap_or(Err(WriteFailure::Stopped)),
            Err(_) => Err(WriteFailure::Stopped),
        }
    }

    /// Like [`WriterHandle::insert`], for callers outside an async runtime (bulk
    /// loading, command-line tools). Must not be called from an async task.
    pub fn insert_blocking(&self, events: Vec<NewEvent>) -> Result<(), WriteFailure> {
        let count = events.len();
        let (ack, done) = oneshot::channel();
        self.queued.fetch_add(count, Ordering::Relaxed);
        let outcome = match self.sender.blocking_send(Command::Insert { events, ack }) {
            Ok(()) => done.blocking_recv().unwrap_or(Err(WriteFailure::Stopped)),
            Err(_) => Err(WriteFailure::Stopped),
        };
        self.queued.fetch_sub(count, Ordering::Relaxed);
        outcome
    }

    /// Like [`WriterHandle::insert_blocking`], and runs `record` in the same
    /// transaction after the events: both commit, or neither (a failing
    /// `record` fails the whole batch). For an import's ledger
    /// ([`crate::imports::record_progress`]); [`HeldBack`] tells it which
    /// events a bulk load still holds in memory.
    pub fn insert_recorded_blocking<F>(
        &self,
        events: Vec<NewEvent>,
        record: F,
    ) -> Result<(), WriteFailure>
    where
        F: FnOnce(&Connection, &HeldBack<'_>) -> Result<(), StoreError> + Send + 'static,
    {
        self.insert_recorded_pending(events, record)?.wait()
    }

    /// Like [`WriterHandle::insert_recorded_blocking`], without waiting for
    /// the commit: the caller prepares its next chunk meanwhile and waits
    /// with [`PendingWrite::wait`]. Must not be called from an async task.
    pub fn insert_recorded_pending<F>(
        &self,
        events: Vec<NewEvent>,
        record: F,
    ) -> Result<PendingWrite, WriteFailure>
    where
        F: FnOnce(&Connection, &HeldBack<'_>) -> Result<(), StoreError> + Send + 'static,
    {
        let count = events.len();
        let (ack, done) = oneshot::channel();
        self.queued.fetch_add(count, Ordering::Relaxed);
        let command = Command::InsertRecorded {
            events,
            record: Box::new(record),
            ack,
        };
        let pending = PendingWrite {
            done,
            queued: Arc::clone(&self.queued),
            count,
        };
        match self.sender.blocking_send(command) {
            Ok(()) => Ok(pending),
            Err(_) => {
                drop(pending);
                Err(WriteFailure::Stopped)
            }
        }
    }

    /// Runs `write` on the write connection inside the next batch's transaction
    /// and resolves with its result once that transaction committed. If `write`
    /// fails, its changes are rolled back and the rest of the batch is kept.
    pub async fn run<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (job, outcome) = job_for(write);
        self.sender
            .send(Command::Run(job))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        outcome.await.unwrap_or(Err(StoreError::WriterStopped))
    }

    /// Like [`WriterHandle::run`], for writes that change what the writer keeps
    /// in memory (a site's time zone, its rollups): the rollups held in memory
    /// are written before `write` runs, and the writer forgets its cached time
    /// zones, sketches and ids once the batch is over.
    pub async fn run_maintenance<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (job, outcome) = job_for(write);
        self.sender
            .send(Command::Maintain(job))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        outcome.await.unwrap_or(Err(StoreError::WriterStopped))
    }

    /// Like [`WriterHandle::run_maintenance`], for a job that deletes or
    /// rewrites visits and events the writer's in-memory state came from
    /// (open visits, rollups): the state is loaded again from the rows once
    /// the job committed. For callers outside an async runtime.
    pub fn rewrite_blocking<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.job_blocking(Command::Rewrite, write)
    }

    /// Like [`WriterHandle::rewrite_blocking`], from async code.
    pub async fn rewrite<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (job, outcome) = job_for(write);
        self.sender
            .send(Command::Rewrite(job))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        outcome.await.unwrap_or(Err(StoreError::WriterStopped))
    }

    /// Like [`WriterHandle::run_maintenance`], for callers outside an async
    /// runtime. A bulk load ends first, in the same transaction: the job
    /// sees everything written.
    pub fn run_maintenance_blocking<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.job_blocking(Command::Maintain, write)
    }

    /// Like [`WriterHandle::run`], for callers outside an async runtime.
    pub fn run_blocking<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.job_blocking(Command::Run, write)
    }

    /// Packs every closed day that is not packed in the current format into
    /// its day segment, after writing what the writer holds behind, and
    /// returns how many days it packed. The writer otherwise packs a few days per write-behind; this is
    /// for `mallard seed` and tests, which want every closed day packed now.
    pub fn pack_closed_days_blocking(&self) -> Result<usize, StoreError> {
        self.job_blocking(Command::Maintain, |conn: &Connection| {
            Ok(crate::visit_paths::pack_closed_days(conn, usize::MAX)?.len())
        })
    }

    /// Deletes the day segments that fail a checksum or do not decode (and
    /// so their days' visits, which cannot be read back), and returns them
    /// as `(site id, UTC day)` (what `mallard check --repair` does).
    pub fn delete_damaged_segments_blocking(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        self.job_blocking(Command::Maintain, |conn: &Connection| {
            crate::segment_fold::delete_damaged_segments(conn)
        })
    }

    /// Rebuilds the rollups of every site from the stored visits and events
    /// (what `mallard check --repair` does), after writing what the writer
    /// holds behind, and returns how many sites it rebuilt.
    pub fn rebuild_rollups_blocking(&self) -> Result<usize, StoreError> {
        self.job_blocking(Command::Maintain, |conn: &Connection| {
            let sites: Vec<i64> = conn
                .prepare("SELECT id FROM sites ORDER BY id")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for site in &sites {
                crate::rollup_rebuild::rebuild_site(conn, *site)?;
            }
            Ok(sites.len())
        })
    }

    /// Runs `write` as a job of the kind `command` makes, from outside an
    /// async runtime, and waits for its outcome.
    fn job_blocking<T, F>(&self, command: fn(Job) -> Command, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (job, outcome) = job_for(write);
        self.sender
            .blocking_send(command(job))
            .map_err(|_| StoreError::WriterStopped)?;
        outcome
            .blocking_recv()
            .unwrap_or(Err(StoreError::WriterStopped))
    }

    /// Makes sure the stored rollups (counters and visitor sketches) reflect
    /// every committed event, so that a stats query run afterwards sees current
    /// numbers. Returns at once when nothing is pending.
    pub async fn sync_rollups(&self) -> Result<(), WriteFailure> {
        if !self.rollups_pending.load(Ordering::Acquire) {
            return Ok(());
        }
        let (ack, done) = oneshot::channel();
        self.sender
            .send(Command::SyncRollups(ack))
            .await
            .map_err(|_| WriteFailure::Stopped)?;
        done.await.unwrap_or(Err(WriteFailure::Stopped))
    }

    /// How many submitted events are waiting for their commit right now.
    pub fn queued_events(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Asks the writer to commit everything queued before this call and stop.
    /// Safe to call from any thread, including an async runtime's.
    pub(crate) fn request_shutdown(&self) {
        // A full queue is drained by the writer before it sees this; a closed
        // channel means the writer is already gone. The blocking send runs on a
        // scoped thread of its own because the caller may be an async task.
        if let Err(mpsc::error::TrySendError::Full(command)) =
            self.sender.try_send(Command::Shutdown)
        {
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    let _ = self.sender.blocking_send(command);
                });
            });
        }
    }
}

/// Events counted in [`WriterHandle::queued_events`] while a submitter waits.
struct QueuedCount<'a> {
    queued: &'a AtomicUsize,
    count: usize,
}

impl<'a> QueuedCount<'a> {
    fn add(queued: &'a AtomicUsize, count: usize) -> Self {
        queued.fetch_add(count, Ordering::Relaxed);
        Self { queued, count }
    }
}

impl Drop for QueuedCount<'_> {
    fn drop(&mut self) {
        self.queued.fetch_sub(self.count, Ordering::Relaxed);
    }
}

/// Wraps `write` into a job and the receiver of its final outcome.
fn job_for<T, F>(write: F) -> (Job, oneshot::Receiver<Result<T, StoreError>>)
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    let (tx, rx) = oneshot::channel::<Result<T, StoreError>>();
    let job: Job = Box::new(move |conn| {
        let result = write(conn);
        let keep = result.is_ok();
        let complete: Completion = Box::new(move |commit| {
            let outcome = match (result, commit) {
                (Ok(value), Ok(())) => Ok(value),
                (Err(err), _) => Err(err),
                (Ok(_), Err(failure)) => Err(StoreError::Write(failure)),
            };
            // The caller may have gone away; then nobody needs the outcome.
            let _ = tx.send(outcome);
        });
        (keep, complete)
    });
    (job, rx)
}

/// Starts the writer thread on `conn`.
pub(crate) fn spawn(
    conn: Connection,
    mut state: WriterState,
    options: WriterOptions,
) -> Result<(WriterHandle, JoinHandle<()>), StoreError> {
    state.set_packing(options.pack_closed_days);
    state.set_bulk_load(options.bulk_load);
    let (sender, receiver) = mpsc::channel(options.queue_capacity.max(1));
    let rollups_pending = Arc::new(AtomicBool::new(false));
    let queued = Arc::new(AtomicUsize::new(0));
    spawn_pack_ticker(
        sender.downgrade(),
        state.packing_backlog(),
        Arc::clone(&queued),
    )?;
    let handle = WriterHandle {
        sender,
        queued,
        rollups_pending: Arc::clone(&rollups_pending),
    };
    let thread = std::thread::Builder::new()
        .name("mallard-writer".into())
        .spawn(move || {
            Writer {
                conn,
                state,
                stale: false,
                options,
                receiver,
                rollups_pending,
            }
            .run()
        })
        .map_err(|e| StoreError::io("cannot start the database writer thread", e))?;
    Ok((handle, thread))
}

/// How often the writer is asked to pack closed days while some may be
/// waiting (after an upgrade, every day kept as rows) and events are being
/// submitted: each time it takes small steps for at most the packing
/// budget, so ingestion waits no longer than that now and then.
const PACK_TICK: Duration = Duration::from_millis(250);
/// The same while no event waits: packing goes on about half the time.
const IDLE_PACK_TICK: Duration = Duration::from_millis(20);

/// Starts the thread that, while `backlog` says closed days may be waiting
/// to be packed, asks the writer every [`PACK_TICK`] (every
/// [`IDLE_PACK_TICK`] while no event waits in `queued`) to write behind,
/// which takes packing steps within a time budget in its own transaction. Ingestion does the same on its own, but an
/// idle server would otherwise never convert the days of an upgraded
/// database. The thread ends with the writer.
fn spawn_pack_ticker(
    sender: mpsc::WeakSender<Command>,
    backlog: Arc<AtomicBool>,
    queued: Arc<AtomicUsize>,
) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name("mallard-pack-ticker".into())
        .spawn(move || {
            loop {
                let busy = queued.load(Ordering::Relaxed) > 0;
                let waiting = backlog.load(Ordering::Relaxed);
                std::thread::sleep(if busy || !waiting {
                    PACK_TICK
                } else {
                    IDLE_PACK_TICK
                });
                let Some(sender) = sender.upgrade() else {
                    return;
                };
                if !backlog.load(Ordering::Relaxed) {
                    continue;
                }
                let (ack, done) = oneshot::channel();
                if sender.blocking_send(Command::SyncRollups(ack)).is_err() {
                    return;
                }
                drop(sender);
                if done.blocking_recv().is_err() {
                    return;
                }
            }
        })
        .map_err(|e| StoreError::io("cannot start the day packing thread", e))?;
    Ok(())
}

struct Writer {
    conn: Connection,
    state: WriterState,
    /// Set when a batch rolled back and the state could not be loaded again
    /// from the committed rows: `state` may then hold effects of the
    /// rolled-back batch (dedupe claims, visits, rollup contributions), so
    /// nothing is written until a reload succeeds.
    stale: bool,
    options: WriterOptions,
    receiver: mpsc::Receiver<Command>,
    rollups_pending: Arc<AtomicBool>,
}

impl Writer {
    fn run(mut self) {
        let mut stopping = false;
        while !stopping {
            let Some(first) = self.receiver.blocking_recv() else {
                break;
            };
            let mut batch = Vec::new();
            let mut events = 0;
            stopping |= self.take(first, &mut batch, &mut events);
            let deadline = Instant::now() + self.options.commit_delay;
            while !stopping && events < self.options.max_batch_events {
                match self.receiver.try_recv() {
                    Ok(command) => stopping |= self.take(command, &mut batch, &mut events),
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.commit(batch, events);
            }
        }
        self.finish();
    }

    /// Adds `command` to the batch; returns true when it asks the writer to stop.
    fn take(&self, command: Command, batch: &mut Vec<Command>, events: &mut usize) -> bool {
        match command {
            Command::Shutdown => true,
            Command::Insert {
                events: ref list, ..
            }
            | Command::InsertRecorded {
                events: ref list, ..
            } => {
                *events += list.len();
                batch.push(command);
                false
            }
            Command::Run(_)
            | Command::Maintain(_)
            | Command::Rewrite(_)
            | Command::SyncRollups(_) => {
                batch.push(command);
                false
            }
        }
    }

    fn commit(&mut self, batch: Vec<Command>, events: usize) {
        let started = Instant::now();
        let mut completions: Vec<Completion> = Vec::new();
        let mut acks = Vec::new();
        let maintenance = batch
            .iter()
            .any(|c| matches!(c, Command::Maintain(_) | Command::Rewrite(_)));
        let rewrite = batch.iter().any(|c| matches!(c, Command::Rewrite(_)));
        // A state that may hold effects of a rolled-back batch is never used:
        // the batch fails as a whole until the state loads from the rows.
        let loaded = if self.stale { self.reload() } else { Ok(()) };
        let failure = match loaded {
            Ok(()) => match self.write(batch, &mut completions, &mut acks) {
                Ok(()) => None,
                Err(err) => {
                    let failure = WriteFailure::from(&err);
                    tracing::error!(error = %failure, events, "writer batch rolled back");
                    self.roll_back_leftover();
                    // What a bulk load held before the batch is acknowledged:
                    // it is written once the state is loaded again.
                    let held = self.state.take_bulk_load();
                    // The batch's in-memory effects (dedupe claims, visits,
                    // rollup contributions, sketches, cached ids) must not
                    // outlive its rollback: the state is loaded again from
                    // the committed rows, or nothing is written until it is.
                    self.stale = true;
                    match self.reload() {
                        Ok(()) => {
                            if let Some(load) = held {
                                self.write_held_load(load);
                            }
                            Some(failure)
                        }
                        Err(reload) => Some(unavailable(&reload)),
                    }
                }
            },
            Err(err) => {
                let jobs = refuse(batch, &mut acks);
                self.run_jobs_alone(jobs);
                Some(unavailable(&err))
            }
        };
        if maintenance && failure.is_none() {
            // The job may have changed time zones or rewritten rollups.
            self.state.forget_caches();
        }
        if rewrite && failure.is_none() {
            // The job deleted rows the state was loaded from (open visits).
            self.stale = true;
            let _ = self.reload();
        }
        if failure.is_none() {
            metrics::histogram!("mallard_writer_batch_events").record(events as f64);
            metrics::histogram!("mallard_writer_commit_seconds")
                .record(started.elapsed().as_secs_f64());
            metrics::counter!("mallard_events_stored_total").increment(events as u64);
        }
        // While the state is stale, readers ask the writer for current rollups
        // (and learn that it cannot give them yet).
        self.rollups_pending.store(
            self.stale || self.state.rollups_pending(),
            Ordering::Release,
        );
        let result = failure.map_or(Ok(()), Err);
        for ack in acks {
            // A submitter that gave up (timed out) no longer listens.
            let _ = ack.send(result.clone());
        }
        for complete in completions {
            complete(result.clone());
        }
    }

    /// Loads the writer state again from the committed rows (which also
    /// rebuilds the rollups of the days whose contributions were only in
    /// memory). On failure the state stays stale.
    fn reload(&mut self) -> Result<(), StoreError> {
        self.roll_back_leftover();
        match WriterState::load(&self.conn, crate::open::now_ms()) {
            Ok(mut state) => {
                // The pack ticker keeps watching the same flag.
                state.adopt_packing_backlog(self.state.packing_backlog());
                state.set_packing(self.options.pack_closed_days);
                self.state = state;
                if self.stale {
                    tracing::info!("writer state reloaded; writes resume");
                }
                self.stale = false;
                Ok(())
            }
            Err(err) => {
                self.roll_back_leftover();
                tracing::error!(error = %err, "cannot reload the writer state; writes are refused until it loads");
                Err(err)
            }
        }
    }

    /// Runs plain jobs (which use nothing the writer keeps in memory) in a
    /// transaction of their own while the state is stale, and gives each its
    /// outcome.
    fn run_jobs_alone(&mut self, jobs: Vec<Command>) {
        if jobs.is_empty() {
            return;
        }
        let mut completions = Vec::new();
        let mut acks = Vec::new();
        let outcome = self.write(jobs, &mut completions, &mut acks);
        if outcome.is_err() {
            self.roll_back_leftover();
        }
        let result = outcome.map_err(|err| WriteFailure::from(&err));
        for complete in completions {
            complete(result.clone());
        }
    }

    /// Ends a transaction that a failed statement or commit left open.
    fn roll_back_leftover(&self) {
        if !self.conn.is_autocommit()
            && let Err(err) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::error!(error = %err, "rolling back a failed transaction failed");
        }
    }

    fn write(
        &mut self,
        batch: Vec<Command>,
        completions: &mut Vec<Completion>,
        acks: &mut Vec<oneshot::Sender<Result<(), WriteFailure>>>,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        self.state.begin_batch();
        let mut failed = None;
        let mut sync_rollups = false;
        for command in batch {
            match command {
                Command::Insert { events, ack } => {
                    acks.push(ack);
                    if failed.is_none() {
                        failed = self.state.insert(&tx, &events).err();
                    }
                }
                Command::InsertRecorded {
                    events,
                    record,
                    ack,
                } => {
                    acks.push(ack);
                    if failed.is_none() {
                        failed = self
                            .state
                            .insert(&tx, &events)
                            .and_then(|()| record(&tx, &HeldBack { state: &self.state }))
                            .err();
                    }
                }
                // After a failure the batch is rolled back: a job that has not
                // run is dropped, and its caller learns that nothing was written.
                Command::Run(job) if failed.is_none() => {
                    // A job may change rows of the day being packed.
                    self.state.restart_packing();
                    failed = run_job(&tx, job, completions).err();
                }
                Command::Maintain(job) | Command::Rewrite(job) if failed.is_none() => {
                    sync_rollups = true;
                    // Rollups in memory go to their rows before the job reads
                    // or replaces those rows, and the day being packed is read
                    // again after it.
                    failed = self
                        .state
                        .end_bulk_load(&tx)
                        .and_then(|()| self.state.write_behind(&tx))
                        .map(|()| self.state.restart_packing())
                        .and_then(|()| run_job(&tx, job, completions))
                        .err();
                }
                Command::SyncRollups(ack) => {
                    acks.push(ack);
                    sync_rollups = true;
                }
                Command::Run(_)
                | Command::Maintain(_)
                | Command::Rewrite(_)
                | Command::Shutdown => {}
            }
        }
        if failed.is_none() && sync_rollups {
            // A reader asked for current numbers, or a maintenance job ran:
            // the writer forgets its rollups after this batch, so those of
            // events after the job must reach their rows too.
            failed = self.state.write_behind(&tx).err();
        }
        match failed {
            // Dropping the transaction rolls it back.
            Some(err) => Err(err),
            None => {
                tx.commit()?;
                self.state.batch_committed();
                Ok(())
            }
        }
    }

    /// Writes what a bulk load held when a batch failed (its settled days
    /// as segments, the rest as rows) with the state just loaded again,
    /// then loads it once more so that the visits written as rows are open.
    fn write_held_load(&mut self, load: crate::bulk_load::BulkLoad) {
        let written = (|| -> Result<(), StoreError> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            self.state.begin_batch();
            self.state.end_adopted_bulk_load(&tx, load)?;
            self.state.write_behind(&tx)?;
            tx.commit()?;
            self.state.batch_committed();
            Ok(())
        })();
        if let Err(err) = written {
            tracing::error!(error = %err, "the events held by a bulk load could not be written after a failed batch");
        }
        self.stale = true;
        if let Err(err) = self.reload() {
            tracing::error!(error = %err, "reloading the writer state failed");
        }
    }

    fn finish(mut self) {
        // A stale state is not written: its days are rebuilt at the next start.
        if self.stale && self.reload().is_err() {
            tracing::error!(
                "the writer stops without writing its state; the rollups are rebuilt at the next start"
            );
        } else if let Err(err) = self.state.close(&self.conn) {
            tracing::error!(error = %err, "writing the rollups at shutdown failed; they are rebuilt at the next start");
        }
        if let Err(err) = self.conn.execute_batch("PRAGMA optimize;") {
            tracing::warn!(error = %err, "PRAGMA optimize failed at shutdown");
        }
        if let Err((_, err)) = self.conn.close() {
            tracing::error!(error = %err, "closing the write connection failed");
        }
    }
}

/// Sorts out the commands of a batch that meets a stale state: inserts and
/// rollup syncs, which need the state, get the failure through `acks`;
/// maintenance jobs are dropped unrun, so their callers learn that nothing
/// was written; plain jobs are returned, to run on their own.
fn refuse(
    batch: Vec<Command>,
    acks: &mut Vec<oneshot::Sender<Result<(), WriteFailure>>>,
) -> Vec<Command> {
    let mut jobs = Vec::new();
    for command in batch {
        match command {
            Command::Insert { ack, .. }
            | Command::InsertRecorded { ack, .. }
            | Command::SyncRollups(ack) => acks.push(ack),
            Command::Run(job) => jobs.push(Command::Run(job)),
            Command::Maintain(_) | Command::Rewrite(_) | Command::Shutdown => {}
        }
    }
    jobs
}

/// The failure answered while the writer state cannot be loaded: a full disk
/// as such, anything else as "unavailable" (both mean "retry later").
fn unavailable(err: &StoreError) -> WriteFailure {
    match WriteFailure::from(err) {
        WriteFailure::Database(detail) => WriteFailure::Unavailable(detail),
        other => other,
    }
}

fn run_job(tx: &Connection, job: Job, completions: &mut Vec<Completion>) -> Result<(), StoreError> {
    tx.execute_batch("SAVEPOINT job")?;
    let (keep, complete) = job(tx);
    completions.push(complete);
    if keep {
        tx.execute_batch("RELEASE job")?;
    } else {
        tx.execute_batch("ROLLBACK TO job; RELEASE job")?;
    }
    Ok(())
}
