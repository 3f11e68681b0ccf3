//! One import from start to end, through the store's writer: open the
//! inputs, settle the format (an access log's, or a GoatCounter export),
//! order log files by their first request, skip what earlier imports read,
//! and write the events in chunks, each with the ledger's progress in the
//! same transaction.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mallard_core::SiteId;
use mallard_core::access_log::{FormatChoice, LogFilter, LogFormat, detect};
use mallard_geo::Geolocator;
use mallard_store::WriterHandle;
use mallard_store::imports::{self, KnownFile};

use super::goatcounter_events::GoatCounterEvents;
use super::log_events::{LineCounts, LineEvents, LogEvents};
use super::source::LogSource;

/// Page views written per transaction.
const CHUNK: usize = 20_000;

/// How often a followed log is checked for new lines.
pub const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// What kind of files an import reads.
#[derive(Debug, Clone)]
pub enum ImportFormat {
    /// Server access logs in this format, or `auto`.
    Log(FormatChoice),
    /// GoatCounter CSV exports (format version 2).
    GoatCounter,
    /// Plausible's CSV export (its zip, a directory, or its CSV files):
    /// daily aggregates, not events.
    Plausible,
}

impl std::str::FromStr for ImportFormat {
    type Err = String;

    /// `goatcounter`, or an access log format (`auto`, `combined`, ...).
    fn from_str(value: &str) -> Result<Self, String> {
        if value.eq_ignore_ascii_case("goatcounter") {
            return Ok(Self::GoatCounter);
        }
        if value.eq_ignore_ascii_case("plausible") {
            return Ok(Self::Plausible);
        }
        value.parse::<FormatChoice>().map(Self::Log).map_err(|err| {
            format!(
                "{err} (or goatcounter, for a GoatCounter CSV export, or plausible, for a \
                 Plausible CSV export)"
            )
        })
    }
}

/// What to import.
#[derive(Debug)]
pub struct LogImportRequest {
    /// The site the traffic belongs to.
    pub site: SiteId,
    /// What the files are.
    pub format: ImportFormat,
    /// What counts as a page view (access logs).
    pub filter: LogFilter,
    /// Whether bots are dropped (the `filter_bots` setting).
    pub filter_bots: bool,
    /// The files, `-` for standard input.
    pub inputs: Vec<PathBuf>,
    /// Keep reading the (one) file as it grows, checking this often, across
    /// log rotation, until the process stops (`--follow`).
    pub follow: Option<std::time::Duration>,
    /// Set from elsewhere to stop the import early: what was read so far
    /// is committed and the ledger says where to go on from.
    pub cancel: Arc<AtomicBool>,
}

/// How one input fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    /// Read from its start.
    New,
    /// Read from where an earlier import stopped (line number).
    Resumed(u64),
    /// An earlier import read all of it.
    Known,
    /// It could not be opened or read: why.
    Unreadable(String),
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// The ledger id (for `mallard import undo`).
    pub import_id: i64,
    /// The format read.
    pub format: String,
    /// Whether the format was detected (not named).
    pub detected: bool,
    /// The counts.
    pub counts: LineCounts,
    /// Each input by name, in the order read.
    pub files: Vec<(String, FileOutcome)>,
    /// Whether it was stopped early (see [`LogImportRequest::cancel`]).
    pub cancelled: bool,
    /// Earlier imports of the site that were interrupted while their newest
    /// days were only in memory, undone before this one began (their files
    /// are read again).
    pub rolled_back: Vec<imports::RolledBack>,
}

/// Why an import could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// No input could be opened.
    #[error("nothing could be read: {0}")]
    NothingReadable(String),
    /// `auto` found no format that reads the first lines.
    #[error(
        "cannot tell the log format of {0} from its first lines; name it with --format \
         (combined, common, combined-vhost, caddy, cloudfront, bunny or log:<fields>)"
    )]
    UnknownFormat(String),
    /// A file is not in the import's format.
    #[error("{0}")]
    WrongFormat(String),
    /// The store refused a write.
    #[error(transparent)]
    Store(#[from] mallard_store::StoreError),
    /// The writer refused a chunk of events.
    #[error("writing the imported events failed: {0}")]
    Write(#[from] mallard_store::error::WriteFailure),
}

/// Progress as the import goes, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// The input being read.
    pub file: &'a str,
    /// Decompressed bytes of it read so far.
    pub offset: u64,
    /// Bytes of all the inputs as stored (compressed, for gzip) read so far.
    pub bytes_done: u64,
    /// The stored size of all the inputs, when known (not for stdin).
    pub bytes_total: Option<u64>,
    /// The counts so far.
    pub counts: &'a LineCounts,
}

/// Where the import stands across its files, for [`Progress`], and whether
/// it was asked to stop.
struct Tracker<'p> {
    /// Stored bytes of the files before the one being read.
    done_before: u64,
    /// Stored bytes of the file being read, added when the next one starts.
    done_before_next: u64,
    total: Option<u64>,
    cancel: Arc<AtomicBool>,
    report: &'p mut dyn FnMut(Progress<'_>),
}

impl Tracker<'_> {
    fn report(&mut self, source: &LogSource, counts: &LineCounts) {
        (self.report)(Progress {
            file: &source.name,
            offset: source.offset,
            bytes_done: self.done_before + source.raw_read(),
            bytes_total: self.total,
            counts,
        });
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// Runs an import through `writer` (the store's single writer, on a stopped
/// install or inside a running server), calling `progress` every few
/// thousand lines.
pub fn import_logs(
    writer: &WriterHandle,
    geolocator: Arc<Geolocator>,
    request: LogImportRequest,
    now_ms: i64,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ImportReport, ImportError> {
    if matches!(request.format, ImportFormat::Plausible) {
        return super::plausible::import_plausible(writer, &request, now_ms, progress);
    }
    let mut files = Vec::new();
    let mut outcomes = Vec::new();
    for path in &request.inputs {
        match LogSource::open(path) {
            Ok(source) => files.push(source),
            Err(err) => outcomes.push((
                path.display().to_string(),
                FileOutcome::Unreadable(err.to_string()),
            )),
        }
    }
    if files.is_empty() {
        return Err(ImportError::NothingReadable(why_nothing(&outcomes)));
    }
    if matches!(request.format, ImportFormat::GoatCounter) {
        // A file that is not an export is refused before anything is
        // recorded; when none is one, the import does not begin.
        let mut refused = Vec::new();
        files.retain(|source| {
            let first = source.first_lines().into_iter().next().unwrap_or_default();
            match mallard_core::goatcounter::check_header(&first) {
                Ok(()) => true,
                Err(err) => {
                    refused.push((source.name.clone(), err.to_string()));
                    false
                }
            }
        });
        if files.is_empty() {
            let why = refused
                .iter()
                .map(|(name, err)| format!("{name}: {err}"))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(ImportError::WrongFormat(why));
        }
        outcomes.extend(
            refused
                .into_iter()
                .map(|(name, err)| (name, FileOutcome::Unreadable(err))),
        );
    }
    let (log_format, detected) = match &request.format {
        ImportFormat::Log(FormatChoice::Fixed(format)) => (Some(format.clone()), false),
        ImportFormat::Log(FormatChoice::Auto) => {
            let first = &files[0];
            let lines = first.first_lines();
            let format = detect(lines.iter().map(String::as_str))
                .ok_or_else(|| ImportError::UnknownFormat(first.name.clone()))?;
            (Some(format), true)
        }
        ImportFormat::GoatCounter | ImportFormat::Plausible => (None, false),
    };
    // Rotated logs are read oldest first, whatever order they were named in,
    // so that each visitor's requests reach the writer in time order.
    if let Some(format) = &log_format {
        files.sort_by_key(|source| first_time(source, format).unwrap_or(i64::MAX));
    }
    let mut tracker = Tracker {
        done_before: 0,
        done_before_next: 0,
        total: files.iter().map(|source| source.size).sum(),
        cancel: Arc::clone(&request.cancel),
        report: progress,
    };
    let (kind, format_name) = match &log_format {
        Some(format) => ("logs", format.name().to_owned()),
        None => ("goatcounter", "goatcounter-csv-2".to_owned()),
    };
    let site = request.site.as_str().to_owned();
    let rolled_back = roll_back_interrupted(writer, &site, now_ms)?;
    let (import_id, site_id) = {
        let format_name = format_name.clone();
        writer.run_blocking(move |conn| {
            imports::begin_import(conn, &site, kind, &format_name, now_ms)
        })?
    };
    let known = writer.run_blocking(move |conn| imports::known_files(conn, site_id))?;
    let mut events: Box<dyn LineEvents> = match log_format {
        Some(format) => Box::new(LogEvents::new(
            request.site,
            format,
            request.filter,
            request.filter_bots,
            geolocator,
        )),
        None => Box::new(GoatCounterEvents::new(request.site, request.filter_bots)),
    };
    let events = events.as_mut();
    let mut committer = Committer::new(writer, import_id, site_id);
    let mut followed = None;
    for mut source in files {
        if tracker.cancelled() {
            break;
        }
        tracker.done_before += std::mem::take(&mut tracker.done_before_next);
        tracker.done_before_next = source.size.unwrap_or(0);
        let (mut mark, outcome) = match resume(&mut source, &known) {
            Ok(found) => found,
            Err(err) => {
                outcomes.push((
                    source.name.clone(),
                    FileOutcome::Unreadable(err.to_string()),
                ));
                continue;
            }
        };
        if outcome == FileOutcome::Known {
            outcomes.push((source.name.clone(), outcome));
            continue;
        }
        {
            let start = mark.clone();
            writer
                .run_blocking(move |conn| imports::start_file(conn, import_id, site_id, &start))?;
        }
        let lines_before = source.lines;
        let read = read_file(&mut committer, events, &mut source, &mut mark, &mut tracker);
        if request.follow.is_some() && read.is_ok() {
            followed = Some((source, mark));
            continue;
        }
        match read {
            // A resumed file that had nothing after what was read before.
            Ok(())
                if matches!(outcome, FileOutcome::Resumed(_)) && source.lines == lines_before =>
            {
                outcomes.push((source.name.clone(), FileOutcome::Known));
            }
            Ok(()) => outcomes.push((source.name.clone(), outcome)),
            Err(ImportError::Write(failure)) => return Err(ImportError::Write(failure)),
            Err(ImportError::Store(err)) => return Err(ImportError::Store(err)),
            Err(other) => outcomes.push((
                source.name.clone(),
                FileOutcome::Unreadable(other.to_string()),
            )),
        }
    }
    // Everything read is stored and recorded now; a followed file goes on
    // from here through the ordinary path, visible as it comes.
    committer.store_all()?;
    if let (Some(poll), Some((source, mark))) = (request.follow, followed) {
        follow(&mut committer, events, (source, mark), poll, &mut tracker)?;
    }
    writer.run_blocking(move |conn| imports::finish_import(conn, import_id, now_ms))?;
    // The closed days the import filled are packed now, as a running
    // server would pack them over the next minutes.
    writer.pack_closed_days_blocking()?;
    Ok(ImportReport {
        import_id,
        format: format_name,
        detected,
        counts: events.counts().clone(),
        files: outcomes,
        cancelled: tracker.cancelled(),
        rolled_back,
    })
}

/// Why no input could be read, from their outcomes ("no input given"
/// without any).
pub(super) fn why_nothing(outcomes: &[(String, FileOutcome)]) -> String {
    let why = outcomes
        .iter()
        .map(|(name, outcome)| match outcome {
            FileOutcome::Unreadable(err) => format!("{name}: {err}"),
            _ => name.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ");
    if why.is_empty() {
        "no input given".into()
    } else {
        why
    }
}

/// Undoes the earlier imports of `site` that were interrupted while they
/// held data their ledger does not record (see
/// [`imports::roll_back_interrupted`]), before another import of it begins.
pub(super) fn roll_back_interrupted(
    writer: &WriterHandle,
    site: &str,
    now_ms: i64,
) -> Result<Vec<imports::RolledBack>, ImportError> {
    let domain = site.to_owned();
    let any = writer.run_blocking(move |conn| imports::interrupted(conn, &domain))?;
    if any.is_empty() {
        return Ok(Vec::new());
    }
    // A rewrite (the writer reloads its state after it; a bulk load does
    // not start again, so the import takes the ordinary path).
    let domain = site.to_owned();
    Ok(writer
        .rewrite_blocking(move |conn| imports::roll_back_interrupted(conn, &domain, now_ms))?)
}

/// Reads `source` on as it grows, every `poll`, until the process stops.
/// When the file at its path is replaced (rotated, or truncated in place),
/// what the old file still holds is read, then the new file from its start.
fn follow(
    committer: &mut Committer<'_>,
    events: &mut dyn LineEvents,
    (mut source, mut mark): (LogSource, KnownFile),
    poll: std::time::Duration,
    tracker: &mut Tracker<'_>,
) -> Result<(), ImportError> {
    let (import_id, site_id) = (committer.import_id, committer.site_id);
    loop {
        std::thread::sleep(poll);
        if tracker.cancelled() {
            return Ok(());
        }
        if source.replaced()
            && let Some(path) = source.path().map(std::path::Path::to_path_buf)
            && let Ok(mut next) = LogSource::open(&path)
        {
            read_file(committer, events, &mut source, &mut mark, tracker)?;
            let (next_mark, _) = resume(&mut next, &[])
                .map_err(|err| ImportError::NothingReadable(format!("{}: {err}", next.name)))?;
            let start = next_mark.clone();
            committer
                .writer
                .run_blocking(move |conn| imports::start_file(conn, import_id, site_id, &start))?;
            (source, mark) = (next, next_mark);
        }
        read_file(committer, events, &mut source, &mut mark, tracker)?;
    }
}

/// The time of the first line of `source` that `format` reads.
fn first_time(source: &LogSource, format: &LogFormat) -> Option<i64> {
    let mut format = format.clone();
    source.first_lines().iter().find_map(|line| {
        format
            .parse(line)
            .ok()
            .flatten()
            .map(|record| record.timestamp_ms)
    })
}

/// Finds `source` among the files earlier imports read (the one whose
/// hashed first bytes match the most of them: a log that grew, or was
/// rotated, starts with the same bytes) and skips what they read. Returns
/// the ledger entry to keep up to date and the outcome.
fn resume(
    source: &mut LogSource,
    known: &[KnownFile],
) -> std::io::Result<(KnownFile, FileOutcome)> {
    let prefix_len = source.prefix().len();
    let earlier = known
        .iter()
        .filter(|file| {
            file.prefix_len > 0
                && file.prefix_len <= prefix_len
                && source.prefix_hash(file.prefix_len) == file.prefix_hash
        })
        .max_by_key(|file| file.prefix_len);
    let Some(file) = earlier else {
        return Ok((
            KnownFile {
                prefix_hash: source.prefix_hash(prefix_len),
                prefix_len,
                name: source.name.clone(),
                bytes_read: 0,
                lines_read: 0,
                last_import: None,
            },
            FileOutcome::New,
        ));
    };
    let mut mark = file.clone();
    mark.name.clone_from(&source.name);
    if !source.skip(file.bytes_read, file.lines_read)? {
        // Shorter than what was read: nothing in it is new. (A log that was
        // emptied and written again starts with other bytes.)
        return Ok((mark, FileOutcome::Known));
    }
    let outcome = if file.bytes_read == 0 {
        FileOutcome::New
    } else {
        FileOutcome::Resumed(file.lines_read + 1)
    };
    Ok((mark, outcome))
}

/// Reads the rest of `source` (or until the import is cancelled), writing
/// its page views chunk by chunk.
fn read_file(
    committer: &mut Committer<'_>,
    events: &mut dyn LineEvents,
    source: &mut LogSource,
    mark: &mut KnownFile,
    tracker: &mut Tracker<'_>,
) -> Result<(), ImportError> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = Vec::with_capacity(CHUNK);
    let name = source.name.clone();
    loop {
        let line = source
            .next_line(&mut buffer)
            .map_err(|err| ImportError::NothingReadable(format!("{name}: {err}")))?;
        let Some(line) = line else { break };
        let number = source.lines;
        match events.line(&line, number, &name) {
            Ok(Some(event)) => chunk.push(event),
            Ok(None) => {}
            Err(refused) => return Err(ImportError::WrongFormat(format!("{name}: {refused}"))),
        }
        if chunk.len() == CHUNK {
            mark.bytes_read = source.offset;
            mark.lines_read = source.lines;
            committer.commit(events, std::mem::take(&mut chunk), mark)?;
        }
        if number.is_multiple_of(8192) {
            tracker.report(source, events.counts());
            if tracker.cancelled() {
                break;
            }
        }
    }
    mark.bytes_read = source.offset;
    mark.lines_read = source.lines;
    committer.commit(events, chunk, mark)?;
    committer.settle()?;
    tracker.report(source, events.counts());
    Ok(())
}

/// Hands chunks to the writer one at a time, keeping one in flight: the
/// next chunk is parsed while the writer commits the last (the two cores of
/// a small machine both work). Each chunk commits with the ledger's progress:
/// the counts, how far the file was read, the visitors it created.
///
/// Under a bulk load (`mallard import` into a site without data) the writer
/// holds the newest days in memory and writes them as they settle, so what
/// is stored trails the ledger, and a crash would lose held events the
/// ledger counts. Such an import is marked as holding until its end, when
/// the bulk load ends and everything is stored in the transaction that
/// clears the mark; an import killed before that is undone whole by the
/// next import of its site ([`imports::roll_back_interrupted`]).
struct Committer<'w> {
    writer: &'w WriterHandle,
    import_id: i64,
    site_id: i64,
    in_flight: Option<mallard_store::writer::PendingWrite>,
}

impl<'w> Committer<'w> {
    fn new(writer: &'w WriterHandle, import_id: i64, site_id: i64) -> Self {
        Self {
            writer,
            import_id,
            site_id,
            in_flight: None,
        }
    }

    /// Waits for the chunk in flight, if any.
    fn settle(&mut self) -> Result<(), ImportError> {
        if let Some(pending) = self.in_flight.take() {
            pending.wait()?;
        }
        Ok(())
    }

    /// Writes `chunk` with the ledger's progress in one transaction, once
    /// the chunk before it committed.
    fn commit(
        &mut self,
        events: &mut dyn LineEvents,
        chunk: Vec<mallard_core::NewEvent>,
        mark: &KnownFile,
    ) -> Result<(), ImportError> {
        self.settle()?;
        let ledger = events.counts().ledger();
        let visitors = events.take_new_visitors();
        let mark = mark.clone();
        let (import_id, site_id) = (self.import_id, self.site_id);
        let write = self
            .writer
            .insert_recorded_pending(chunk, move |conn, held| {
                if held.held_from(site_id).is_some() {
                    imports::hold_span(conn, import_id, ledger.first_ts, ledger.last_ts)?;
                }
                imports::record_progress(conn, import_id, site_id, &ledger, &mark, &visitors)
            })?;
        self.in_flight = Some(write);
        Ok(())
    }

    /// Stores everything sent (the import ends, or is about to follow a
    /// growing file): a bulk load ends in the job's transaction, writing
    /// what it holds, and the import's ledger is exact again.
    fn store_all(&mut self) -> Result<(), ImportError> {
        self.settle()?;
        let import_id = self.import_id;
        self.writer
            .run_maintenance_blocking(move |conn| imports::release_hold(conn, import_id))?;
        Ok(())
    }
}
