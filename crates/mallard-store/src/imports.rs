//! The import ledger (migration 014): each import of a site's traffic from
//! elsewhere, what it read, and how far it read each file.
//!
//! An import's events go through the writer like any others; its progress
//! is recorded in the same transaction as each chunk of its events
//! ([`crate::WriterHandle::insert_recorded_blocking`] with
//! [`record_progress`]), so that after a crash the ledger says exactly what
//! was committed, and importing the same file again adds nothing.
//!
//! A file is known by the SHA-256 of its first bytes (up to
//! [`PREFIX_BYTES`]) and that length: a log that grew, or was rotated (and
//! compressed: the hash is of the decompressed bytes), still starts with
//! the same bytes, so its next import starts where the last one stopped.
//! The visitor ids an import created (random per import) are kept with it,
//! so that its visits can be told from every other.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::reader::ReadConn;

/// How many leading bytes identify a file.
pub const PREFIX_BYTES: usize = 4096;

/// A file an earlier import read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFile {
    /// SHA-256 of the file's first `prefix_len` bytes.
    pub prefix_hash: [u8; 32],
    /// How many leading bytes the hash covers (the whole file when shorter
    /// than [`PREFIX_BYTES`] then).
    pub prefix_len: usize,
    /// The name it had.
    pub name: String,
    /// How many bytes of it were read (decompressed).
    pub bytes_read: u64,
    /// How many lines of it were read.
    pub lines_read: u64,
    /// The import that read it last (none for a file not read before).
    pub last_import: Option<i64>,
}

/// An import's counts so far (absolute, not increments).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// Lines read.
    pub lines: u64,
    /// Events written.
    pub imported: u64,
    /// Lines that could not be parsed.
    pub unparsed: u64,
    /// Lines skipped, by reason, as a JSON object (`{"static file": 12}`).
    pub skipped_json: String,
    /// The earliest and latest event time written, in ms.
    pub first_ts: Option<i64>,
    /// See `first_ts`.
    pub last_ts: Option<i64>,
}

/// One import as `mallard import list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    /// The import's id.
    pub id: i64,
    /// The site's domain.
    pub site: String,
    /// What was imported (`logs`).
    pub kind: String,
    /// The format read (`combined`).
    pub format: String,
    /// When it started and, once done, finished (ms).
    pub started_at: i64,
    /// See `started_at`; `None` while running or after a crash.
    pub finished_at: Option<i64>,
    /// Its counts.
    pub counts: ImportCounts,
    /// The files it read, by name.
    pub files: Vec<String>,
    /// When it was undone (ms), if it was.
    pub undone_at: Option<i64>,
}

/// Starts an import of `kind` for `domain` (creating the site when it is
/// new) and returns `(import id, site id)`. Runs on the write connection.
pub fn begin_import(
    conn: &Connection,
    domain: &str,
    kind: &str,
    format: &str,
    now_ms: i64,
) -> Result<(i64, i64), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO sites (id, domain, created_at) VALUES ({}, ?1, ?2) \
         ON CONFLICT (domain) DO NOTHING",
        crate::sites::NEXT_SITE_ID
    ))?
    .execute(params![domain, now_ms])?;
    let site_id: i64 = conn
        .prepare_cached("SELECT id FROM sites WHERE domain = ?1")?
        .query_row(params![domain], |row| row.get(0))?;
    conn.prepare_cached(
        "INSERT INTO imports (site_id, kind, format, started_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![site_id, kind, format, now_ms])?;
    Ok((conn.last_insert_rowid(), site_id))
}

/// The files earlier imports of `site_id` read.
pub fn known_files(conn: &Connection, site_id: i64) -> Result<Vec<KnownFile>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT prefix_hash, prefix_len, name, bytes_read, lines_read, import_id \
         FROM import_files WHERE site_id = ?1",
    )?;
    let files = stmt
        .query_map(params![site_id], |row| {
            let hash: Vec<u8> = row.get(0)?;
            Ok(KnownFile {
                prefix_hash: hash.try_into().unwrap_or([0; 32]),
                prefix_len: row.get::<_, i64>(1)?.max(0) as usize,
                name: row.get(2)?,
                bytes_read: row.get::<_, i64>(3)?.max(0) as u64,
                lines_read: row.get::<_, i64>(4)?.max(0) as u64,
                last_import: row.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(files)
}

/// Notes that import `import_id` starts reading `file` where `file` says
/// (what an undo of this import puts back).
pub fn start_file(
    conn: &Connection,
    import_id: i64,
    site_id: i64,
    file: &KnownFile,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO import_reads \
         (import_id, site_id, prefix_hash, prefix_len, from_bytes, from_lines, from_import) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
    )?
    .execute(params![
        import_id,
        site_id,
        file.prefix_hash.as_slice(),
        file.prefix_len as i64,
        file.bytes_read as i64,
        file.lines_read as i64,
        file.last_import,
    ])?;
    Ok(())
}

/// Records an import's progress: its counts, how far it read `file`, and the
/// visitor ids its latest chunk created (`new_visitors`, any order). Runs in
/// the transaction of the chunk's events.
pub fn record_progress(
    conn: &Connection,
    import_id: i64,
    site_id: i64,
    counts: &ImportCounts,
    file: &KnownFile,
    new_visitors: &[u64],
) -> Result<(), StoreError> {
    record_mark(conn, import_id, site_id, counts, file)?;
    record_visitors(conn, import_id, new_visitors)
}

/// Adds a chunk of `events` events between `first_ts` and `last_ts` to the
/// counts of import `import_id` (a pull, whose chunks are not lines of a
/// file), with the visitor ids the chunk brought (`new_visitors`, any
/// order). Runs in the transaction of the chunk's events.
pub fn add_chunk(
    conn: &Connection,
    import_id: i64,
    events: u64,
    span: Option<(i64, i64)>,
    new_visitors: &[u64],
) -> Result<(), StoreError> {
    let (first_ts, last_ts) = span.unzip();
    conn.prepare_cached(
        "UPDATE imports SET lines = lines + ?2, imported = imported + ?2, \
         first_ts = coalesce(min(first_ts, ?3), first_ts, ?3), \
         last_ts = coalesce(max(last_ts, ?4), last_ts, ?4) WHERE id = ?1",
    )?
    .execute(params![import_id, events as i64, first_ts, last_ts])?;
    record_visitors(conn, import_id, new_visitors)
}

/// Records how far import `import_id` got: its counts, and the point
/// reached in `file` (everything before it is stored).
fn record_mark(
    conn: &Connection,
    import_id: i64,
    site_id: i64,
    counts: &ImportCounts,
    file: &KnownFile,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE imports SET lines = ?2, imported = ?3, unparsed = ?4, skipped = ?5, \
         first_ts = coalesce(min(first_ts, ?6), first_ts, ?6), \
         last_ts = coalesce(max(last_ts, ?7), last_ts, ?7) WHERE id = ?1",
    )?
    .execute(params![
        import_id,
        counts.lines as i64,
        counts.imported as i64,
        counts.unparsed as i64,
        counts.skipped_json,
        counts.first_ts,
        counts.last_ts,
    ])?;
    conn.prepare_cached(
        "INSERT INTO import_files \
         (site_id, prefix_hash, prefix_len, name, bytes_read, lines_read, import_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (site_id, prefix_hash, prefix_len) DO UPDATE SET \
         name = excluded.name, bytes_read = excluded.bytes_read, \
         lines_read = excluded.lines_read, import_id = excluded.import_id",
    )?
    .execute(params![
        site_id,
        file.prefix_hash.as_slice(),
        file.prefix_len as i64,
        file.name,
        file.bytes_read as i64,
        file.lines_read as i64,
        import_id,
    ])?;
    Ok(())
}

/// Records visitor ids import `import_id` created (for its undo). Ids of
/// events that a crash loses before they are stored may be recorded too:
/// undoing them removes nothing.
fn record_visitors(
    conn: &Connection,
    import_id: i64,
    new_visitors: &[u64],
) -> Result<(), StoreError> {
    if !new_visitors.is_empty() {
        let mut sorted = new_visitors.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let blob: Vec<u8> = sorted.iter().flat_map(|id| id.to_le_bytes()).collect();
        let seq: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM import_visitors WHERE import_id = ?1")?
            .query_row(params![import_id], |row| row.get(0))?;
        conn.prepare_cached(
            "INSERT INTO import_visitors (import_id, seq, visitors) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![import_id, seq, blob])?;
    }
    Ok(())
}

/// Notes that a bulk load may hold (and later write) events of import
/// `import_id` beyond the points its ledger records, between `first_ts` and
/// `last_ts`: if the import never finishes, [`roll_back_interrupted`] undoes
/// it whole.
pub fn hold_span(
    conn: &Connection,
    import_id: i64,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE imports SET holding = 1, \
         first_ts = coalesce(min(first_ts, ?2), first_ts, ?2), \
         last_ts = coalesce(max(last_ts, ?3), last_ts, ?3) WHERE id = ?1",
    )?
    .execute(params![import_id, first_ts, last_ts])?;
    Ok(())
}

/// Import `import_id` recorded everything it stored: its ledger is exact.
pub fn release_hold(conn: &Connection, import_id: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE imports SET holding = 0 WHERE id = ?1")?
        .execute(params![import_id])?;
    Ok(())
}

/// An import undone because it was interrupted while a bulk load held its
/// events: its id and what it removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RolledBack {
    /// The import's id.
    pub id: i64,
    /// Visits removed.
    pub visits: u64,
    /// Events removed.
    pub events: u64,
}

/// Undoes every import of site `domain` that was interrupted (never
/// finished) while its ledger trailed what was stored (see [`hold_span`]),
/// so that importing its files again counts nothing twice. Run it as a
/// rewrite ([`crate::WriterHandle::rewrite_blocking`]) before a new import
/// of the site begins.
pub fn roll_back_interrupted(
    conn: &Connection,
    domain: &str,
    now_ms: i64,
) -> Result<Vec<RolledBack>, StoreError> {
    let ids = interrupted(conn, domain)?;
    let mut rolled_back = Vec::with_capacity(ids.len());
    for id in ids {
        if let Undo::Undone { visits, events } = undo_import(conn, id, now_ms)? {
            rolled_back.push(RolledBack { id, visits, events });
        }
    }
    Ok(rolled_back)
}

/// The imports of site `domain` that [`roll_back_interrupted`] would undo.
pub fn interrupted(conn: &Connection, domain: &str) -> Result<Vec<i64>, StoreError> {
    let ids = conn
        .prepare_cached(
            "SELECT i.id FROM imports i JOIN sites s ON s.id = i.site_id \
             WHERE s.domain = ?1 AND i.finished_at IS NULL AND i.undone_at IS NULL \
             AND i.holding = 1 ORDER BY i.id",
        )?
        .query_map(params![domain], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Marks an import finished at `now_ms`.
pub fn finish_import(conn: &Connection, import_id: i64, now_ms: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE imports SET finished_at = ?2 WHERE id = ?1")?
        .execute(params![import_id, now_ms])?;
    Ok(())
}

/// Every visitor id import `import_id` created, sorted.
pub fn import_visitors(conn: &Connection, import_id: i64) -> Result<Vec<u64>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT visitors FROM import_visitors WHERE import_id = ?1")?;
    let mut ids = Vec::new();
    let mut rows = stmt.query(params![import_id])?;
    while let Some(row) = rows.next()? {
        let blob: Vec<u8> = row.get(0)?;
        ids.extend(
            blob.chunks_exact(8)
                .map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]))),
        );
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// What undoing an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undo {
    /// There is no such import.
    NotFound,
    /// It was undone before, at this time (ms).
    AlreadyUndone(i64),
    /// Its visits and events are gone.
    Undone {
        /// Visits deleted.
        visits: u64,
        /// Events deleted.
        events: u64,
    },
}

/// Undoes import `import_id`: deletes the visits (and their events and
/// properties) of the visitor ids it created, within the time it covered,
/// from rows and day segments alike (packed days are restored to rows
/// first and packed again later), rebuilds the rollups of the days it
/// touched, and puts back the marks of the files it read last, so that
/// importing them again reads them again. Must run as a maintenance job
/// that reloads the writer's state
/// ([`crate::WriterHandle::rewrite_blocking`]).
pub fn undo_import(conn: &Connection, import_id: i64, now_ms: i64) -> Result<Undo, StoreError> {
    let found = conn
        .prepare_cached(
            "SELECT site_id, first_ts, last_ts, undone_at, kind FROM imports WHERE id = ?1",
        )?
        .query_row(params![import_id], |row| {
            Ok(ImportSpan {
                site_id: row.get(0)?,
                first_ts: row.get(1)?,
                last_ts: row.get(2)?,
                undone_at: row.get(3)?,
                kind: row.get(4)?,
            })
        })
        .optional()?;
    let Some(ImportSpan {
        site_id,
        first_ts,
        last_ts,
        undone_at,
        kind,
    }) = found
    else {
        return Ok(Undo::NotFound);
    };
    if let Some(at) = undone_at {
        return Ok(Undo::AlreadyUndone(at));
    }
    if kind == crate::imported_daily::IMPORT_KIND {
        // Daily aggregates, not events: they go whole.
        crate::imported_daily::delete_import(conn, import_id)?;
        crate::rollups::bump_site_version(conn, site_id)?;
        conn.prepare_cached("UPDATE imports SET undone_at = ?2 WHERE id = ?1")?
            .execute(params![import_id, now_ms])?;
        return Ok(Undo::Undone {
            visits: 0,
            events: 0,
        });
    }
    let (mut visits, mut events) = (0, 0);
    if let (Some(first), Some(last)) = (first_ts, last_ts) {
        (visits, events) = delete_visitors(conn, site_id, import_id, first, last)?;
        let tz = crate::rollups::site_zone(conn, site_id)?;
        let days: Vec<i64> = (tz.local_day(first)..=tz.local_day(last)).collect();
        crate::rollup_rebuild::rebuild_days(conn, site_id, &days)?;
        // Cached answers of the site are stale now.
        crate::rollups::bump_site_version(conn, site_id)?;
    }
    restore_file_marks(conn, import_id)?;
    conn.prepare_cached("DELETE FROM import_visitors WHERE import_id = ?1")?
        .execute(params![import_id])?;
    conn.prepare_cached("UPDATE imports SET undone_at = ?2 WHERE id = ?1")?
        .execute(params![import_id, now_ms])?;
    Ok(Undo::Undone { visits, events })
}

/// Where an import's page views lie, and whether it was undone.
struct ImportSpan {
    site_id: i64,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    undone_at: Option<i64>,
    kind: String,
}

/// Where an import started reading a file.
struct FileRead {
    site_id: i64,
    prefix_hash: Vec<u8>,
    prefix_len: i64,
    from_bytes: i64,
    from_lines: i64,
    from_import: Option<i64>,
}

/// Deletes the visits of the import's visitors that start between `first`
/// and `last` (all of the import's do), with their events and properties.
fn delete_visitors(
    conn: &Connection,
    site_id: i64,
    import_id: i64,
    first: i64,
    last: i64,
) -> Result<(u64, u64), StoreError> {
    use crate::visit_days::utc_day;
    // Packed days come back as rows first.
    let packed: Vec<i64> = conn
        .prepare_cached(
            "SELECT DISTINCT day FROM day_segments WHERE site_id = ?1 AND day >= ?2 AND day <= ?3",
        )?
        .query_map(params![site_id, utc_day(first), utc_day(last)], |row| {
            row.get(0)
        })?
        .collect::<Result<_, _>>()?;
    for day in packed {
        crate::visit_paths::unpack_day(conn, site_id, day)?;
    }
    let mask = match crate::settings::get_i64(conn, crate::settings::VISITOR_ID_BITS)? {
        Some(bits @ 1..=63) => (1i64 << bits) - 1,
        _ => -1,
    };
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS undo_visitors (id INTEGER PRIMARY KEY); \
         DELETE FROM undo_visitors;",
    )?;
    {
        let mut insert =
            conn.prepare_cached("INSERT OR IGNORE INTO undo_visitors (id) VALUES (?1)")?;
        for id in import_visitors(conn, import_id)? {
            insert.execute(params![(id as i64) & mask])?;
        }
    }
    crate::deletion::start_doomed_visits(conn)?;
    conn.prepare_cached(
        "INSERT INTO doomed_visits (id) SELECT v.id FROM visits v \
         WHERE v.site_id = ?1 AND v.start_ts >= ?2 AND v.start_ts <= ?3 \
         AND v.visitor_id IN (SELECT id FROM undo_visitors)",
    )?
    .execute(params![site_id, first, last])?;
    let (visits, events) = crate::deletion::delete_doomed_visits(conn, site_id, first, last)?;
    conn.execute_batch("DELETE FROM undo_visitors;")?;
    crate::visit_days::forget_emptied(conn)?;
    Ok((visits, events))
}

/// Puts back the marks of the files `import_id` read last.
fn restore_file_marks(conn: &Connection, import_id: i64) -> Result<(), StoreError> {
    let reads: Vec<FileRead> = conn
        .prepare_cached(
            "SELECT site_id, prefix_hash, prefix_len, from_bytes, from_lines, from_import \
             FROM import_reads WHERE import_id = ?1",
        )?
        .query_map(params![import_id], |row| {
            Ok(FileRead {
                site_id: row.get(0)?,
                prefix_hash: row.get(1)?,
                prefix_len: row.get(2)?,
                from_bytes: row.get(3)?,
                from_lines: row.get(4)?,
                from_import: row.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    for read in reads {
        let key = params![read.site_id, read.prefix_hash, read.prefix_len, import_id];
        if read.from_bytes == 0 {
            // Read from its start: forgotten.
            conn.prepare_cached(
                "DELETE FROM import_files WHERE site_id = ?1 AND prefix_hash = ?2 \
                 AND prefix_len = ?3 AND import_id = ?4",
            )?
            .execute(key)?;
        } else {
            // Resumed: back to where it was taken up (only while no later
            // import read on).
            conn.prepare_cached(
                "UPDATE import_files SET bytes_read = ?5, lines_read = ?6, import_id = ?7 \
                 WHERE site_id = ?1 AND prefix_hash = ?2 AND prefix_len = ?3 AND import_id = ?4",
            )?
            .execute(params![
                read.site_id,
                read.prefix_hash,
                read.prefix_len,
                import_id,
                read.from_bytes,
                read.from_lines,
                read.from_import.unwrap_or(0)
            ])?;
        }
    }
    Ok(())
}

/// The site id of `domain`, when it exists.
pub fn site_id_of(conn: &Connection, domain: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM sites WHERE domain = ?1")?
        .query_row(params![domain], |row| row.get(0))
        .optional()?)
}

impl ReadConn<'_> {
    /// Every import, newest first, with the files it read.
    pub fn imports(&self) -> Result<Vec<ImportRecord>, StoreError> {
        let conn = self.connection();
        let mut stmt = conn.prepare_cached(
            "SELECT i.id, s.domain, i.kind, i.format, i.started_at, i.finished_at, i.lines, \
             i.imported, i.unparsed, i.skipped, i.first_ts, i.last_ts, i.undone_at \
             FROM imports i JOIN sites s ON s.id = i.site_id ORDER BY i.id DESC",
        )?;
        let mut imports: Vec<ImportRecord> = stmt
            .query_map([], |row| {
                Ok(ImportRecord {
                    id: row.get(0)?,
                    site: row.get(1)?,
                    kind: row.get(2)?,
                    format: row.get(3)?,
                    started_at: row.get(4)?,
                    finished_at: row.get(5)?,
                    counts: ImportCounts {
                        lines: row.get::<_, i64>(6)?.max(0) as u64,
                        imported: row.get::<_, i64>(7)?.max(0) as u64,
                        unparsed: row.get::<_, i64>(8)?.max(0) as u64,
                        skipped_json: row.get(9)?,
                        first_ts: row.get(10)?,
                        last_ts: row.get(11)?,
                    },
                    files: Vec::new(),
                    undone_at: row.get(12)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut files = conn
            .prepare_cached("SELECT name FROM import_files WHERE import_id = ?1 ORDER BY name")?;
        for import in &mut imports {
            import.files = files
                .query_map(params![import.id], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
        }
        Ok(imports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_records_its_progress_files_and_visitors() {
        let conn = crate::schema::migrated_in_memory();
        let (import, site) = begin_import(&conn, "logs.test", "logs", "combined", 1_000).unwrap();
        let (again, same_site) = begin_import(&conn, "logs.test", "logs", "caddy", 2_000).unwrap();
        assert_eq!(same_site, site);
        assert_ne!(again, import);
        let file = KnownFile {
            prefix_hash: [7; 32],
            prefix_len: 4096,
            name: "access.log".into(),
            bytes_read: 10_000,
            lines_read: 50,
            last_import: None,
        };
        let counts = ImportCounts {
            lines: 50,
            imported: 20,
            unparsed: 1,
            skipped_json: r#"{"static file":29}"#.into(),
            first_ts: Some(5),
            last_ts: Some(9),
        };
        record_progress(&conn, import, site, &counts, &file, &[3, 1, 3]).unwrap();
        let grown = KnownFile {
            bytes_read: 12_000,
            lines_read: 60,
            ..file.clone()
        };
        record_progress(&conn, import, site, &counts, &grown, &[2]).unwrap();
        assert_eq!(
            known_files(&conn, site).unwrap(),
            [KnownFile {
                last_import: Some(import),
                ..grown
            }]
        );
        assert_eq!(import_visitors(&conn, import).unwrap(), [1, 2, 3]);
        assert!(import_visitors(&conn, again).unwrap().is_empty());
        finish_import(&conn, import, 3_000).unwrap();
        assert_eq!(site_id_of(&conn, "logs.test").unwrap(), Some(site));
        assert_eq!(site_id_of(&conn, "other.test").unwrap(), None);
    }
}
