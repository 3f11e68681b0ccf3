//! The lifecycle of day segments: when a closed day is packed, unpacked and
//! forgotten.
//!
//! Once a UTC day is closed (the newest visit of its site starts
//! [`PACK_AFTER_MS`] after its end), the writer packs the visits that start on
//! it and all their events into a columnar day segment in `day_segments`
//! (migration 012; the format is [`crate::day_segment`]), a few days per
//! write-behind. Queries read a period's packed days through
//! [`crate::segment_fold`] and the rows from the first day that is not packed
//! on. The rows of a packed day are kept for now (most readers still read
//! rows); deleting them in the transaction that packs the day is the next
//! step.
//!
//! A packed day always equals its rows: when a batch adds an event to a visit
//! of a packed day, creates a visit on one or moves a visit's start across
//! days, the writer deletes the days concerned in the same transaction
//! ([`VisitPaths::touch`]), and they are packed again later. Data retention
//! deletes the days it reaches. Days packed before migration 012 (parts 0 to
//! 2 only, without the marker part) read as unpacked and are packed again in
//! the current format by the same mechanism, newest first, within the
//! write-behind's budget ([`PACK_BUDGET`]), so that an upgraded database
//! converts while the server runs. Packing is part of the writer's
//! transaction: a crash leaves a day either packed or not.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use rustc_hash::FxHashMap;

use crate::day_segment::part;
use crate::error::StoreError;
use crate::visit_days::{DAY_MS, utc_day};
use crate::visit_record::{Columns, VisitRecord};
use crate::visits::Visit;

/// A day is packed once the newest visit of its site starts this long after
/// the day's end: twice the visit timeout, so that the visits still open at
/// midnight have ended (one that goes on unpacks the day again).
const PACK_AFTER_MS: i64 = 2 * crate::visits::VISIT_TIMEOUT_MS;
/// Days packed per write-behind at most, so that catching up after an
/// upgrade never holds a commit for long.
pub(crate) const DAYS_PER_WRITE: usize = 2;
/// A write-behind packs no further day once it has spent this long packing
/// (at least one day is packed each time): a day of a large site takes tens
/// of milliseconds, and ingestion waits for the write-behind's commit.
const PACK_BUDGET: Duration = Duration::from_millis(50);

/// What the writer knows about packed days: per site, the latest packed day
/// (loaded when first needed, forgotten after maintenance jobs), and whether
/// closed days may be waiting to be packed (shared with the thread that asks
/// the writer to pack them while the server is idle, see
/// [`crate::writer`]).
#[derive(Debug)]
pub(crate) struct VisitPaths {
    latest_packed: Option<FxHashMap<i64, i64>>,
    backlog: Arc<AtomicBool>,
}

impl Default for VisitPaths {
    fn default() -> Self {
        Self {
            latest_packed: None,
            // Until a write-behind finds nothing to pack, there may be days
            // to pack (or to convert after an upgrade).
            backlog: Arc::new(AtomicBool::new(true)),
        }
    }
}

impl VisitPaths {
    fn latest_packed(&mut self, conn: &Connection) -> Result<&FxHashMap<i64, i64>, StoreError> {
        if self.latest_packed.is_none() {
            let mut stmt =
                conn.prepare_cached("SELECT site_id, max(day) FROM day_segments GROUP BY site_id")?;
            let latest = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            self.latest_packed = Some(latest);
        }
        Ok(self.latest_packed.get_or_insert_default())
    }

    /// Unpacks the days whose packed paths `visit`, as a batch just left it,
    /// no longer matches: its start day, and with a moved start every day up
    /// to its end (the day it started on before is among them). Runs in the
    /// batch's transaction.
    pub(crate) fn touch(
        &mut self,
        conn: &Connection,
        visit: &Visit,
        start_moved: bool,
    ) -> Result<(), StoreError> {
        let Some(&latest) = self.latest_packed(conn)?.get(&visit.site_id) else {
            return Ok(());
        };
        let first = utc_day(visit.start_ts);
        if first > latest {
            return Ok(());
        }
        let last = if start_moved {
            utc_day(visit.end_ts).min(latest)
        } else {
            first
        };
        let mut delete =
            conn.prepare_cached("DELETE FROM day_segments WHERE site_id = ?1 AND day = ?2")?;
        for day in first..=last {
            delete.execute(params![visit.site_id, day])?;
        }
        Ok(())
    }

    /// Whether closed days may be waiting to be packed: set until a
    /// write-behind packs nothing.
    pub(crate) fn backlog(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.backlog)
    }

    /// Shares `backlog` (the flag of the state this one replaces), set.
    pub(crate) fn adopt_backlog(&mut self, backlog: Arc<AtomicBool>) {
        backlog.store(true, Ordering::Relaxed);
        self.backlog = backlog;
    }

    /// Packs up to `limit` closed days, newest first (see [`pack_closed_days`]).
    pub(crate) fn pack_closed(
        &mut self,
        conn: &Connection,
        limit: usize,
    ) -> Result<(), StoreError> {
        let packed = pack_closed_days(conn, limit)?;
        // The flag is only a hint for the idle ticker: a batch rolled back
        // after this leaves it set, which costs one more look.
        self.backlog.store(!packed.is_empty(), Ordering::Relaxed);
        for (site, day) in packed {
            if let Some(latest) = &mut self.latest_packed {
                let entry = latest.entry(site).or_insert(day);
                *entry = (*entry).max(day);
            }
        }
        Ok(())
    }

    /// Forgets what was loaded (after a maintenance job, which may pack or
    /// delete packed days).
    pub(crate) fn forget(&mut self) {
        self.latest_packed = None;
        self.backlog.store(true, Ordering::Relaxed);
    }
}

/// Packs up to `limit` closed days that are not packed in the current
/// format, newest first, in the caller's transaction, stopping early once
/// [`PACK_BUDGET`] is spent (unless `limit` is `usize::MAX`), and returns
/// them as `(site, day)`. The writer's visit rows and day ranges must be
/// written (it packs after writing them).
pub(crate) fn pack_closed_days(
    conn: &Connection,
    limit: usize,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let began = Instant::now();
    let days: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT d.site_id, d.day FROM visit_days d JOIN ( \
             SELECT n.site_id, v.start_ts AS newest FROM visit_days n \
             JOIN visits v ON v.id = n.max_id \
             WHERE n.day = (SELECT max(day) FROM visit_days m WHERE m.site_id = n.site_id)) s \
             ON s.site_id = d.site_id \
             WHERE (d.day + 1) * ?3 + ?1 <= s.newest AND NOT EXISTS (SELECT 1 \
             FROM day_segments p WHERE p.site_id = d.site_id AND p.day = d.day \
             AND p.part = ?4) \
             ORDER BY d.day DESC LIMIT ?2",
        )?
        .query_map(
            params![
                PACK_AFTER_MS,
                i64::try_from(limit).unwrap_or(i64::MAX),
                DAY_MS,
                part::MARKER
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    let mut packed = Vec::with_capacity(days.len());
    for (site, day) in days {
        if limit != usize::MAX && !packed.is_empty() && began.elapsed() >= PACK_BUDGET {
            break;
        }
        pack_day(conn, site, day)?;
        packed.push((site, day));
    }
    Ok(packed)
}

/// Deletes the packed days that data retention reached: every day up to the
/// one holding the cut-off (its visits before the cut-off are gone, the
/// others are packed again later).
pub(crate) fn forget_through(conn: &Connection, cutoff_ms: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM day_segments WHERE day <= ?1")?
        .execute(params![utc_day(cutoff_ms)])?;
    Ok(())
}

/// Packs the visits of `site` that start on UTC `day`, replacing what was
/// packed for it (in whichever format).
fn pack_day(conn: &Connection, site: i64, day: i64) -> Result<(), StoreError> {
    let from = day * DAY_MS;
    let visits = day_rows(conn, site, day)?;
    let mut delete =
        conn.prepare_cached("DELETE FROM day_segments WHERE site_id = ?1 AND day = ?2")?;
    delete.execute(params![site, day])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO day_segments (site_id, day, part, data) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (part, data) in crate::day_segment::encode(from, &visits) {
        insert.execute(params![site, day, part, data])?;
    }
    Ok(())
}

/// The visits of `site` that start on UTC `day` with all their events,
/// read from the rows ([`crate::visit_rows`]): visits in start order (ties by
/// id), events in time order (ties by event id), properties sorted by key.
fn day_rows(conn: &Connection, site: i64, day: i64) -> Result<Vec<VisitRecord>, StoreError> {
    let from = day * DAY_MS;
    let folds = crate::visit_rows::fold_records(
        conn,
        site,
        from,
        from + DAY_MS,
        Columns::ALL,
        Vec::new,
        |visits: &mut Vec<VisitRecord>, visit| visits.push(visit.clone()),
    )?;
    Ok(folds.into_iter().flatten().collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::segment_fold::{PackedCodes, Parts, fold};
    use crate::varint::put_varint;

    pub(crate) const SITE: i64 = 1;

    /// A test visit: id, start, visitor and its events as `(ts, path or name
    /// id, is page view)`.
    pub(crate) type TestVisit<'a> = (i64, i64, i64, &'a [(i64, i64, bool)]);

    /// A database holding the `pageview` name (id 0 in new databases), one
    /// custom event name (id 2) and the given visits.
    pub(crate) fn database_with(visits: &[TestVisit<'_>]) -> Connection {
        let conn = crate::schema::migrated_in_memory();
        conn.execute_batch("INSERT INTO dims (id, kind, value) VALUES (2, 1, 'Signup')")
            .unwrap();
        assert_eq!(
            crate::rollup_rebuild::pageview_name_id(&conn).unwrap(),
            Some(0)
        );
        let mut event_id = 0;
        for &(id, start_ts, visitor, events) in visits {
            let end_ts = events.iter().map(|e| e.0).max().unwrap_or(start_ts);
            conn.execute(
                "INSERT INTO visits (id, site_id, visitor_id, start_ts, end_ts, pageviews, \
                 events, device) VALUES (?1, ?2, ?3, ?4, ?5, 1, 1, 0)",
                params![id, SITE, visitor, start_ts, end_ts],
            )
            .unwrap();
            for &(ts, target, pageview) in events {
                event_id += 1;
                let (name, path) = if pageview { (0, target) } else { (target, 0) };
                conn.execute(
                    "INSERT INTO events (site_id, ts, id, visit_id, name, hostname, pathname) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
                    params![SITE, ts, event_id, id, name, path],
                )
                .unwrap();
            }
        }
        crate::visit_days::recover(&conn).unwrap();
        conn
    }

    /// The rows of the visits of [`SITE`] that start on UTC `day`, as packed.
    pub(crate) fn rows_of_day(conn: &Connection, day: i64) -> Vec<VisitRecord> {
        day_rows(conn, SITE, day).unwrap()
    }

    /// A visit as the behavioural fold hands it over: start, visitor, codes.
    type SeenVisit = (i64, i64, Vec<u64>);

    /// Every visit of `site` that starts in `[from_ms, to_ms)` on a packed
    /// day (through [`fold`]) as (start, visitor, codes) in start order, and
    /// the instant from which the visits are not packed.
    fn read(
        conn: &Connection,
        site: i64,
        from_ms: i64,
        to_ms: i64,
        parts: Parts,
    ) -> Result<(Vec<SeenVisit>, i64), StoreError> {
        let (folds, rest) = fold(conn, site, from_ms, to_ms, parts, Vec::new, |seen, v| {
            seen.push((v.start_ts, v.visitor_id, v.codes.collect::<Vec<u64>>()));
        })?;
        let mut seen: Vec<_> = folds.into_iter().flatten().collect();
        seen.sort();
        Ok((seen, rest))
    }

    /// Every packed visit of `[from, to)` as (start, visitor, codes), and
    /// where the rows take over.
    fn read_all(conn: &Connection, from: i64, to: i64) -> (Vec<SeenVisit>, i64) {
        let parts = Parts {
            starts: true,
            steps: true,
            visitors: true,
            min_steps: 0,
        };
        read(conn, SITE, from, to, parts).unwrap()
    }

    #[test]
    fn packed_days_read_back_as_their_rows_in_start_order() {
        let d = 10 * DAY_MS;
        let conn = database_with(&[
            // Created first, starts later; crosses midnight into day 11.
            (
                1,
                d + 5_500,
                -7,
                &[(d + 5_500, 3, true), (d + DAY_MS + 10, 2, false)],
            ),
            (
                2,
                d + 1_000,
                1 << 40,
                &[(d + 1_000, 4, true), (d + 1_000, 5, true)],
            ),
            (3, d + DAY_MS + 1, 9, &[(d + DAY_MS + 1, 3, true)]),
            (4, d + 3 * DAY_MS, 9, &[(d + 3 * DAY_MS, 3, true)]),
        ]);
        // Day 13 is the newest: days 10 and 11 are closed, 12 has no visits.
        let packed = pack_closed_days(&conn, usize::MAX).unwrap();
        assert_eq!(packed, vec![(SITE, 11), (SITE, 10)]);
        let (seen, rest) = read_all(&conn, d, d + 3 * DAY_MS);
        assert_eq!(
            seen,
            vec![
                (d + 1_000, 1 << 40, vec![4 << 1, 5 << 1]),
                // Start times are exact to the millisecond.
                (d + 5_500, -7, vec![3 << 1, (2 << 1) | 1]),
                (d + DAY_MS + 1, 9, vec![3 << 1]),
            ]
        );
        assert_eq!(rest, d + 3 * DAY_MS, "every day with visits is packed");
        // Visits with fewer steps than asked for are skipped.
        let parts = Parts {
            starts: true,
            steps: true,
            visitors: true,
            min_steps: 2,
        };
        let (long, _) = read(&conn, SITE, d, d + 3 * DAY_MS, parts).unwrap();
        let long: Vec<i64> = long.iter().map(|v| v.1).collect();
        assert_eq!(long, vec![1 << 40, -7]);
        // Without start times whole days read the same visits, each at its
        // day's start; a day cut by the bounds still reads its start times.
        let parts = Parts {
            starts: false,
            min_steps: 0,
            ..parts
        };
        let (whole, rest) = read(&conn, SITE, d, d + 3 * DAY_MS, parts).unwrap();
        assert_eq!(rest, d + 3 * DAY_MS);
        assert_eq!(
            whole,
            vec![
                (d, -7, vec![3 << 1, (2 << 1) | 1]),
                (d, 1 << 40, vec![4 << 1, 5 << 1]),
                (d + DAY_MS, 9, vec![3 << 1]),
            ]
        );
        let (cut, _) = read(&conn, SITE, d + 2_000, d + DAY_MS, parts).unwrap();
        let cut: Vec<i64> = cut.iter().map(|v| v.0).collect();
        assert_eq!(cut, vec![d + 5_500]);
        // Bounds inside a day keep the visits that start within them.
        let (seen, _) = read_all(&conn, d + 2_000, d + DAY_MS);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1, -7);
        // Day 13 is not packed: the rows take over from its first instant.
        let (seen, rest) = read_all(&conn, d + DAY_MS, d + 4 * DAY_MS);
        assert_eq!(seen.len(), 1);
        assert_eq!(rest, d + 3 * DAY_MS);
        assert!(pack_closed_days(&conn, usize::MAX).unwrap().is_empty());
    }

    /// The stored bytes of one part.
    fn stored_part(conn: &Connection, day: i64, part: i64) -> Vec<u8> {
        conn.query_row(
            "SELECT data FROM day_segments WHERE site_id = ?1 AND day = ?2 AND part = ?3",
            params![SITE, day, part],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn steps_are_a_format_byte_then_each_visits_codes_then_a_checksum() {
        let d = 10 * DAY_MS;
        let conn = database_with(&[
            (
                1,
                d,
                1,
                &[(d, 4, true), (d + 1, 300, true), (d + 2, 2, false)],
            ),
            (2, d + 10, 2, &[(d + 10, 300, true)]),
            (3, d + 3 * DAY_MS, 1, &[(d + 3 * DAY_MS, 4, true)]),
        ]);
        pack_closed_days(&conn, usize::MAX).unwrap();
        let steps = stored_part(&conn, 10, part::STEPS);
        let (code_4, code_300, code_2) = (4 << 1, 300 << 1, (2 << 1) | 1);
        // 600 takes two bytes; so does a code from 16,384 on three.
        let mut expected = vec![crate::day_segment::STEPS_FORMAT, 4, code_4 as u8];
        put_varint(&mut expected, code_300);
        expected.extend([code_2 as u8, 2]);
        put_varint(&mut expected, code_300);
        let crc = crc32fast::hash(&expected);
        expected.extend(crc.to_le_bytes());
        assert_eq!(steps, expected);
        let mut three = Vec::new();
        put_varint(&mut three, 1 << 14);
        assert_eq!(PackedCodes(&three).collect::<Vec<_>>(), vec![1 << 14]);
        let (seen, _) = read_all(&conn, d, d + DAY_MS);
        assert_eq!(seen[0].2, vec![code_4, code_300, code_2]);
        assert_eq!(seen[1].2, vec![code_300]);
        let parts = Parts {
            starts: false,
            steps: true,
            visitors: false,
            min_steps: 0,
        };
        // A part of another format, or one whose bytes changed, is damaged:
        // the error names the site and the day.
        let mut other = expected[..expected.len() - 4].to_vec();
        other[0] = 2;
        for damaged in [crate::day_segment::seal(other), {
            let mut flipped = expected.clone();
            flipped[2] ^= 0x10;
            flipped
        }] {
            conn.execute(
                "UPDATE day_segments SET data = ?1 WHERE day = 10 AND part = ?2",
                params![damaged, part::STEPS],
            )
            .unwrap();
            match read(&conn, SITE, d, d + DAY_MS, parts) {
                Err(
                    err @ StoreError::DamagedSegment {
                        site_id: SITE,
                        day: 10,
                    },
                ) => {
                    assert!(err.to_string().contains("1970-01-11"), "{err}");
                }
                other => panic!("{other:?}"),
            }
        }
        // A query that does not read the damaged part is not concerned.
        let visitors = Parts {
            starts: true,
            steps: false,
            visitors: true,
            min_steps: 0,
        };
        assert_eq!(
            read(&conn, SITE, d, d + DAY_MS, visitors).unwrap().0.len(),
            2
        );
    }

    proptest::proptest! {
        #[test]
        fn codes_decode_alike_one_by_one_and_folded(
            codes in proptest::collection::vec(
                proptest::prop_oneof![0u64..128, 128u64..16_384, proptest::arbitrary::any::<u64>()],
                0..40,
            ),
        ) {
            let mut bytes = Vec::new();
            for &code in &codes {
                put_varint(&mut bytes, code);
            }
            // A `for` loop calls `next`.
            let mut one_by_one = Vec::new();
            for code in PackedCodes(&bytes) {
                one_by_one.push(code);
            }
            let folded = PackedCodes(&bytes).fold(Vec::new(), |mut all, code| {
                all.push(code);
                all
            });
            proptest::prop_assert_eq!(&one_by_one, &codes);
            proptest::prop_assert_eq!(folded, codes);
        }
    }

    #[test]
    fn a_changed_visit_unpacks_its_days() {
        let d = 10 * DAY_MS;
        let packed_days = |conn: &Connection| -> Vec<i64> {
            conn.prepare("SELECT DISTINCT day FROM day_segments ORDER BY day")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let visit = |start_ts: i64, end_ts: i64| Visit {
            id: 1,
            site_id: SITE,
            visitor_id: 1,
            start_ts,
            end_ts,
            pageviews: 1,
            events: 1,
            entry_page: None,
            exit_page: None,
            attributes: crate::visits::VisitAttributes::default(),
        };
        for (start_moved, left) in [(false, vec![11, 12]), (true, vec![12])] {
            let conn = database_with(&[
                (1, d, 1, &[(d, 3, true)]),
                (2, d + DAY_MS, 1, &[(d + DAY_MS, 3, true)]),
                (3, d + 2 * DAY_MS, 1, &[(d + 2 * DAY_MS, 3, true)]),
                (4, d + 4 * DAY_MS, 1, &[(d + 4 * DAY_MS, 3, true)]),
            ]);
            pack_closed_days(&conn, usize::MAX).unwrap();
            assert_eq!(packed_days(&conn), vec![10, 11, 12]);
            let mut paths = VisitPaths::default();
            // A visit of day 10 that reaches into day 11; with a moved start
            // it may have started on day 11 before, so both days go.
            paths
                .touch(&conn, &visit(d + 5, d + DAY_MS + 5), start_moved)
                .unwrap();
            assert_eq!(packed_days(&conn), left, "start moved: {start_moved}");
            // Visits after the latest packed day change nothing.
            paths
                .touch(&conn, &visit(d + 4 * DAY_MS, d + 4 * DAY_MS), true)
                .unwrap();
            assert_eq!(packed_days(&conn), left);
        }
    }
}
