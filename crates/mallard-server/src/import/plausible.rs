//! Imports of Plausible's CSV export (`mallard import plausible`): the
//! daily aggregate tables of [`mallard_core::plausible_export`], read from
//! the export's zip, from a directory it was unpacked into, or from its CSV
//! files named one by one, into the site's imported daily aggregates
//! ([`mallard_store::imported_daily`]).
//!
//! Every file is checked (its name, then its header) before anything is
//! recorded, so a file of another format refuses the whole import with the
//! names or columns expected. Days on or after the site's first day of
//! native data are skipped and counted (Plausible's overlap rule), and an
//! export whose days overlap an earlier Plausible import of the site is
//! refused: importing the same export twice adds nothing. The import is
//! marked as holding while it writes, so one that is killed is undone
//! before the next import of its site, and a cancelled one is undone at
//! once: an import is all there or not there.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use mallard_core::access_log::filter::SkipReason;
use mallard_core::plausible_export::{
    EXPECTED_FILE_NAMES, ExportFile, ImportedRecord, TableReader, parse_file_name,
};
use mallard_store::WriterHandle;
use mallard_store::imported_daily::{self, IMPORT_KIND};
use mallard_store::imports::{self, KnownFile, PREFIX_BYTES};
use sha2::{Digest, Sha256};

use super::log_events::LineCounts;
use super::run::{FileOutcome, ImportError, ImportReport, LogImportRequest, Progress};

/// The format name the ledger keeps.
pub const FORMAT_NAME: &str = "plausible-csv";

/// Records written per transaction.
const CHUNK: usize = 5_000;

/// Where one table's CSV is.
#[derive(Debug, Clone)]
enum Place {
    /// A file of its own.
    File(PathBuf),
    /// Entry `index` of a zip archive.
    Zipped { zip: PathBuf, index: usize },
}

/// One CSV file of the export.
#[derive(Debug, Clone)]
struct Part {
    /// Its name (the path inside the zip for an entry).
    name: String,
    /// What its name says.
    file: ExportFile,
    place: Place,
    /// Its size, uncompressed.
    size: u64,
}

impl Part {
    /// Runs `read` over the part's bytes.
    fn read<T>(
        &self,
        read: impl FnOnce(&mut dyn BufRead) -> Result<T, ImportError>,
    ) -> Result<T, ImportError> {
        let unreadable = |err: &dyn std::fmt::Display| {
            ImportError::NothingReadable(format!("{}: {err}", self.name))
        };
        match &self.place {
            Place::File(path) => {
                let file = File::open(path).map_err(|err| unreadable(&err))?;
                read(&mut BufReader::with_capacity(256 * 1024, file))
            }
            Place::Zipped { zip, index } => {
                let file = File::open(zip).map_err(|err| unreadable(&err))?;
                let mut archive = zip::ZipArchive::new(file).map_err(|err| unreadable(&err))?;
                let entry = archive.by_index(*index).map_err(|err| unreadable(&err))?;
                read(&mut BufReader::with_capacity(256 * 1024, entry))
            }
        }
    }
}

/// Whether `path` starts like a zip archive.
fn is_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut file| file.read_exact(&mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04"
}

/// The export's files among `inputs` (zips, directories, CSV files); what
/// is not one of them is an outcome of its own.
fn collect_parts(inputs: &[PathBuf], outcomes: &mut Vec<(String, FileOutcome)>) -> Vec<Part> {
    let mut parts = Vec::new();
    let not_a_part = |name: &str| {
        FileOutcome::Unreadable(format!(
            "not a file of a Plausible CSV export ({name}); expected {EXPECTED_FILE_NAMES}"
        ))
    };
    for input in inputs {
        let shown = input.display().to_string();
        if input.is_dir() {
            let mut entries: Vec<PathBuf> = match std::fs::read_dir(input) {
                Ok(entries) => entries.flatten().map(|entry| entry.path()).collect(),
                Err(err) => {
                    outcomes.push((shown, FileOutcome::Unreadable(err.to_string())));
                    continue;
                }
            };
            entries.sort();
            let before = parts.len();
            for path in entries {
                let name = path.display().to_string();
                if let Some(file) = path.to_str().and_then(parse_file_name) {
                    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                    parts.push(Part {
                        name,
                        file,
                        place: Place::File(path),
                        size,
                    });
                }
            }
            if parts.len() == before {
                outcomes.push((shown.clone(), not_a_part("a directory without them")));
            }
        } else if is_zip(input) {
            match zip_parts(input) {
                Ok((found, others)) => {
                    if found.is_empty() {
                        outcomes.push((shown.clone(), not_a_part("a zip without them")));
                    }
                    parts.extend(found);
                    outcomes.extend(others.into_iter().map(|name| {
                        let outcome = not_a_part(&name);
                        (format!("{shown}: {name}"), outcome)
                    }));
                }
                Err(err) => outcomes.push((shown, FileOutcome::Unreadable(err))),
            }
        } else {
            match input.to_str().and_then(parse_file_name) {
                Some(file) => match std::fs::metadata(input) {
                    Ok(metadata) => parts.push(Part {
                        name: shown,
                        file,
                        place: Place::File(input.clone()),
                        size: metadata.len(),
                    }),
                    Err(err) => outcomes.push((shown, FileOutcome::Unreadable(err.to_string()))),
                },
                None => {
                    let name = input
                        .file_name()
                        .map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned());
                    outcomes.push((shown, not_a_part(&name)));
                }
            }
        }
    }
    parts
}

/// The export's files in a zip, and the names of the other files in it
/// (folders and macOS' `__MACOSX` entries are passed over).
fn zip_parts(path: &Path) -> Result<(Vec<Part>, Vec<String>), String> {
    let file = File::open(path).map_err(|err| err.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|err| format!("not a zip: {err}"))?;
    let (mut parts, mut others) = (Vec::new(), Vec::new());
    for index in 0..archive.len() {
        let entry = archive.by_index(index).map_err(|err| err.to_string())?;
        let name = entry
            .name()
            .map_err(|err| format!("a name in the zip: {err}"))?
            .into_owned();
        if entry.is_dir() || name.starts_with("__MACOSX") {
            continue;
        }
        match parse_file_name(&name) {
            Some(file) => parts.push(Part {
                name: format!("{}: {name}", path.display()),
                file,
                place: Place::Zipped {
                    zip: path.to_owned(),
                    index,
                },
                size: entry.size(),
            }),
            None => others.push(name),
        }
    }
    Ok((parts, others))
}

/// Two files of the same table whose days overlap (two copies of an
/// export, or two exports), by name: their counts would add up twice.
fn same_days_twice(parts: &[Part]) -> Option<(&str, &str)> {
    parts.iter().enumerate().find_map(|(i, a)| {
        parts[i + 1..]
            .iter()
            .find(|b| {
                a.file.table == b.file.table
                    && a.file.first_day <= b.file.last_day
                    && b.file.first_day <= a.file.last_day
            })
            .map(|b| (a.name.as_str(), b.name.as_str()))
    })
}

/// Reads a line of `reader` into `buffer` (without its line ending);
/// `false` at the end.
fn next_line(reader: &mut dyn BufRead, buffer: &mut Vec<u8>) -> Result<bool, std::io::Error> {
    buffer.clear();
    if reader.read_until(b'\n', buffer)? == 0 {
        return Ok(false);
    }
    while matches!(buffer.last(), Some(b'\n' | b'\r')) {
        buffer.pop();
    }
    Ok(true)
}

/// The header reader of `part`, and the hash of its first bytes (how the
/// ledger knows a file).
fn open_table(part: &Part) -> Result<(TableReader, [u8; 32], usize), ImportError> {
    part.read(|reader| {
        let mut prefix = Vec::with_capacity(PREFIX_BYTES);
        reader
            .take(PREFIX_BYTES as u64)
            .read_to_end(&mut prefix)
            .map_err(|err| ImportError::NothingReadable(format!("{}: {err}", part.name)))?;
        let text = String::from_utf8_lossy(&prefix);
        let header = text.lines().next().unwrap_or_default();
        let table = TableReader::new(part.file.table, header)
            .map_err(|err| ImportError::WrongFormat(format!("{}: {err}", part.name)))?;
        Ok((table, Sha256::digest(&prefix).into(), prefix.len()))
    })
}

/// What the store knows of the site before the import.
struct SiteState {
    /// Its first local day of native data.
    first_native_day: Option<i64>,
    /// The earlier Plausible imports and their days.
    spans: Vec<imported_daily::ImportedSpan>,
}

/// Imports the Plausible CSV export among `request.inputs` into
/// `request.site` through `writer`.
pub fn import_plausible(
    writer: &WriterHandle,
    request: &LogImportRequest,
    now_ms: i64,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<ImportReport, ImportError> {
    let mut outcomes = Vec::new();
    let parts = collect_parts(&request.inputs, &mut outcomes);
    if parts.is_empty() {
        return Err(ImportError::WrongFormat(super::run::why_nothing(&outcomes)));
    }
    if let Some((a, b)) = same_days_twice(&parts) {
        return Err(ImportError::WrongFormat(format!(
            "{a} and {b} hold the same table for some of the same days: import one export at \
             a time"
        )));
    }
    // Every file is read as its table before anything is recorded.
    let tables = parts
        .iter()
        .map(open_table)
        .collect::<Result<Vec<_>, _>>()?;
    let first_day = parts.iter().map(|p| p.file.first_day).min().unwrap_or(0);
    let last_day = parts.iter().map(|p| p.file.last_day).max().unwrap_or(0);

    let site = request.site.as_str().to_owned();
    let rolled_back = super::run::roll_back_interrupted(writer, &site, now_ms)?;
    let state = {
        let site = site.clone();
        writer.run_blocking(move |conn| {
            let Some(site_id) = imports::site_id_of(conn, &site)? else {
                return Ok(SiteState {
                    first_native_day: None,
                    spans: Vec::new(),
                });
            };
            let first_native_day = conn
                .query_row(
                    "SELECT first_day FROM rollup_sites WHERE site_id = ?1",
                    [site_id],
                    |row| row.get(0),
                )
                .ok();
            Ok(SiteState {
                first_native_day,
                spans: imported_daily::spans(conn, site_id)?,
            })
        })?
    };
    if let Some(earlier) = state
        .spans
        .iter()
        .find(|span| span.first_day <= last_day && first_day <= span.last_day)
    {
        return Err(ImportError::WrongFormat(format!(
            "import {} already holds Plausible data of {} for {} to {}, which this export \
             overlaps; undo it first (mallard import undo {})",
            earlier.import_id,
            request.site,
            mallard_core::period::format_date(earlier.first_day),
            mallard_core::period::format_date(earlier.last_day),
            earlier.import_id
        )));
    }
    let (import_id, site_id) = {
        let site = site.clone();
        writer.run_blocking(move |conn| {
            let (import_id, site_id) =
                imports::begin_import(conn, &site, IMPORT_KIND, FORMAT_NAME, now_ms)?;
            // Holding until it ends: a killed import is undone whole.
            imports::hold_span(conn, import_id, None, None)?;
            Ok((import_id, site_id))
        })?
    };

    let mut counts = LineCounts::default();
    let total: u64 = parts.iter().map(|part| part.size).sum();
    let mut done_before = 0u64;
    let mut cancelled = false;
    for (part, (table, prefix_hash, prefix_len)) in parts.iter().zip(tables) {
        if request.cancel.load(Ordering::Relaxed) {
            cancelled = true;
            break;
        }
        let mut reading = TableRead {
            writer,
            import_id,
            site_id,
            first_native_day: state.first_native_day,
            counts: &mut counts,
            pending: Vec::new(),
        };
        let read = part.read(|reader| {
            reading.read_all(part, &table, reader, &mut |offset, counts| {
                progress(Progress {
                    file: &part.name,
                    offset,
                    bytes_done: done_before + offset,
                    bytes_total: Some(total),
                    counts,
                });
            })
        })?;
        done_before += part.size;
        let mark = KnownFile {
            prefix_hash,
            prefix_len,
            name: part.name.clone(),
            bytes_read: read.bytes,
            lines_read: read.lines,
            last_import: None,
        };
        reading.flush(Some(mark))?;
        outcomes.push((part.name.clone(), FileOutcome::New));
        if request.cancel.load(Ordering::Relaxed) {
            cancelled = true;
            break;
        }
    }
    writer.run_blocking(move |conn| {
        if cancelled {
            // Part of an export would show part of its numbers: none stay.
            imports::undo_import(conn, import_id, now_ms)?;
        }
        imports::release_hold(conn, import_id)?;
        imports::finish_import(conn, import_id, now_ms)
    })?;
    Ok(ImportReport {
        import_id,
        format: FORMAT_NAME.to_owned(),
        detected: false,
        counts,
        files: outcomes,
        cancelled,
        rolled_back,
    })
}

/// How much of a file was read.
struct ReadSoFar {
    bytes: u64,
    lines: u64,
}

/// The reading of one table into the store, a chunk at a time.
struct TableRead<'a> {
    writer: &'a WriterHandle,
    import_id: i64,
    site_id: i64,
    first_native_day: Option<i64>,
    counts: &'a mut LineCounts,
    pending: Vec<ImportedRecord>,
}

impl TableRead<'_> {
    /// Reads every data line of `part`, calling `progress` now and then.
    fn read_all(
        &mut self,
        part: &Part,
        table: &TableReader,
        reader: &mut dyn BufRead,
        progress: &mut dyn FnMut(u64, &LineCounts),
    ) -> Result<ReadSoFar, ImportError> {
        let mut buffer = Vec::new();
        let mut read = ReadSoFar { bytes: 0, lines: 0 };
        let unreadable =
            |err: std::io::Error| ImportError::NothingReadable(format!("{}: {err}", part.name));
        while next_line(reader, &mut buffer).map_err(unreadable)? {
            read.lines += 1;
            read.bytes += buffer.len() as u64 + 1;
            if read.lines == 1 {
                // The header, read already.
                continue;
            }
            let line = String::from_utf8_lossy(&buffer);
            if line.trim().is_empty() {
                continue;
            }
            self.counts.lines += 1;
            match table.read_row(&line) {
                Ok(records) => {
                    let day = records.first().map(|record| record.day);
                    match (day, self.first_native_day) {
                        (Some(day), Some(native)) if day >= native => {
                            self.counts.skip(SkipReason::NativeData);
                        }
                        (Some(day), _) => {
                            // Noon of the day: a time every zone agrees is
                            // on that date, for the ledger's span.
                            self.counts.imported_at(day * 86_400_000 + 43_200_000);
                            self.pending.extend(records);
                        }
                        // A row of zeros: read, with nothing to add.
                        (None, _) => self.counts.imported += 1,
                    }
                }
                Err(err) => self.counts.unreadable(read.lines, &part.name, &err),
            }
            if self.pending.len() >= CHUNK {
                self.flush(None)?;
                progress(read.bytes, self.counts);
            }
        }
        progress(read.bytes, self.counts);
        Ok(read)
    }

    /// Writes the records read so far, and the ledger's counts with them
    /// (with the file's mark once it is read whole).
    fn flush(&mut self, mark: Option<KnownFile>) -> Result<(), ImportError> {
        let records = std::mem::take(&mut self.pending);
        let (import_id, site_id) = (self.import_id, self.site_id);
        let ledger = self.counts.ledger();
        self.writer.run_blocking(move |conn| {
            imported_daily::store_records(conn, import_id, site_id, &records)?;
            imports::hold_span(conn, import_id, ledger.first_ts, ledger.last_ts)?;
            if let Some(mark) = &mark {
                imports::record_progress(conn, import_id, site_id, &ledger, mark, &[])?;
            }
            Ok(())
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str) -> Part {
        Part {
            name: name.to_owned(),
            file: parse_file_name(name).unwrap(),
            place: Place::File(PathBuf::from(name)),
            size: 0,
        }
    }

    #[test]
    fn the_same_table_for_the_same_days_twice_is_found() {
        let one_export = [
            part("imported_pages_20240101_20241231.csv"),
            part("imported_visitors_20240101_20241231.csv"),
        ];
        assert_eq!(same_days_twice(&one_export), None);
        // The next year's export beside it is fine; a copy is not.
        let two_years = [
            part("imported_pages_20240101_20241231.csv"),
            part("pages_20250101_20251231.csv"),
        ];
        assert_eq!(same_days_twice(&two_years), None);
        let copies = [
            part("imported_pages_20240101_20241231.csv"),
            part("pages_20241201_20250131.csv"),
        ];
        assert_eq!(
            same_days_twice(&copies),
            Some((
                "imported_pages_20240101_20241231.csv",
                "pages_20241201_20250131.csv"
            ))
        );
    }
}
