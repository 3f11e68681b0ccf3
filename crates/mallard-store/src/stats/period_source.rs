//! Where the filtered stats read a period's visits from: one function over
//! whatever holds the days.
//!
//! [`fold_period`] hands every visit that has an event in a period, or starts
//! in it, to the caller's fold as a [`VisitRecord`], one visit at a time, and
//! returns the accumulators (one per thread that folded) for the caller to
//! merge. Nothing holds more than a day of visits at a time.
//!
//! Visits are found by their start, so the visits that started before the
//! period and still have events in it are found first ([`reach_back`]): a
//! visit kept as rows never has a gap of more than [`VISIT_TIMEOUT_MS`]
//! between two of its events (an event joins a visit only within that time
//! of its first or last event, see [`crate::visits::ActiveVisits::record`]),
//! so such a visit has an event in the first [`VISIT_TIMEOUT_MS`] of the
//! period; a packed one is found by its day's latest end.
//!
//! Each UTC day is kept either as a day segment (packed) or as rows, never
//! both: runs of packed days come from their segments
//! ([`crate::segment_fold::fold_records`]), runs of other days from rows
//! ([`crate::visit_rows::fold_records`]), and the lists of accumulators are
//! appended. A read is one read transaction, so no day changes hands while
//! it runs.

use rusqlite::{Connection, params};

use crate::day_segment::part;
use crate::error::StoreError;
use crate::visit_days::{DAY_MS, utc_day};
use crate::visit_record::{CodeCount, Columns, VisitGate, VisitRecord};
use crate::visits::VISIT_TIMEOUT_MS;

/// Folds every visit of `site` that starts in `[from_ms, to_ms)` or has an
/// event in it (callers select the events and visits they count), filling
/// the `columns` asked for, into accumulators made by `new`.
///
/// `gate` sees each visit with its visit-level columns before its events
/// are read and says what is taken of it ([`Take`]): the visits it skips are
/// not handed to `each`, and a day segment skips the events of the visits
/// it does not take with their events without decoding them (a filter on
/// visit dimensions costs the columns it compares, not every event; a count
/// that needs no event of a visit reads none). Days kept as rows are read
/// the same way: the events of the visits the gate skips, or takes without
/// their events, are not read. A packed day that a gate which
/// [`VisitGate::counts_codes_alone`] counts from its code index hands
/// `codes` what the index tells instead
/// ([`crate::segment_fold::fold_records`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn fold_period<A: Send>(
    conn: &Connection,
    site: i64,
    from_ms: i64,
    to_ms: i64,
    columns: Columns,
    gate: &impl VisitGate,
    new: impl Fn() -> A + Sync,
    each: impl Fn(&mut A, &VisitRecord) + Sync,
    codes: impl Fn(&mut A, CodeCount<'_>) + Sync,
) -> Result<Vec<A>, StoreError> {
    if to_ms <= from_ms {
        return Ok(Vec::new());
    }
    let start = reach_back(conn, site, from_ms)?;
    fold_starting(conn, site, start, to_ms, columns, gate, new, each, codes)
}

/// Folds the visits of `site` that start in `[from_ms, to_ms)` (and only
/// those), like [`fold_period`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn fold_starting<A: Send>(
    conn: &Connection,
    site: i64,
    from_ms: i64,
    to_ms: i64,
    columns: Columns,
    gate: &impl VisitGate,
    new: impl Fn() -> A + Sync,
    each: impl Fn(&mut A, &VisitRecord) + Sync,
    codes: impl Fn(&mut A, CodeCount<'_>) + Sync,
) -> Result<Vec<A>, StoreError> {
    if to_ms <= from_ms {
        return Ok(Vec::new());
    }
    // Packed days and days kept as rows alternate (a late event restores
    // its day to rows): each run of packed days is folded from its segments,
    // each run of other days from rows. The rows after a run of packed days
    // (the open day, mostly) are read while the pool folds the run's last
    // chunk.
    let mut folds = Vec::new();
    let mut from = from_ms;
    while from < to_ms {
        let (packed, rows) = crate::segment_fold::fold_records(
            conn,
            site,
            from,
            to_ms,
            columns,
            gate,
            &new,
            &each,
            &codes,
            |rest| {
                crate::segment_fold::rows_after(conn, site, (rest, to_ms), |rows_end| {
                    crate::visit_rows::fold_records(
                        conn, site, rest, rows_end, columns, gate, &new, &each,
                    )
                })
            },
        )?;
        folds.extend(packed);
        let Some((rows, rows_end)) = rows else {
            break;
        };
        folds.extend(rows);
        from = rows_end;
    }
    Ok(folds)
}

/// The earliest start of a visit of `site` with an event at or after
/// `from_ms`, or `from_ms` when every such visit starts there or later.
///
/// Visits kept as rows are found by their events in the first
/// [`VISIT_TIMEOUT_MS`] of the period. Packed visits are found by their
/// day's latest end (`visit_days.max_end`): the earliest packed day up to
/// `from_ms`'s with a visit that ends at or after it, and in its segment the
/// first such visit.
pub(crate) fn reach_back(conn: &Connection, site: i64, from_ms: i64) -> Result<i64, StoreError> {
    let earliest_row: Option<i64> = conn
        .prepare_cached(
            "SELECT min(v.start_ts) FROM events e JOIN visits v ON v.id = e.visit_id \
             WHERE e.site_id = ?1 AND e.ts >= ?2 AND e.ts <= ?3",
        )?
        .query_row(
            params![site, from_ms, from_ms.saturating_add(VISIT_TIMEOUT_MS)],
            |r| r.get(0),
        )?;
    let packed_day: Option<i64> = conn
        .prepare_cached(
            "SELECT min(day) FROM visit_days WHERE site_id = ?1 AND day <= ?2 \
             AND max_end >= ?3",
        )?
        .query_row(params![site, utc_day(from_ms), from_ms], |r| r.get(0))?;
    let earliest_packed = match packed_day {
        Some(day) => first_reaching(conn, site, day, from_ms)?,
        None => None,
    };
    Ok([earliest_row, earliest_packed]
        .into_iter()
        .flatten()
        .fold(from_ms, i64::min))
}

/// The start of the first visit of `site`'s packed `day` that ends at or
/// after `from_ms`.
fn first_reaching(
    conn: &Connection,
    site: i64,
    day: i64,
    from_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let mut wanted = [false; part::COUNT];
    wanted[part::STARTS as usize] = true;
    wanted[part::VISIT as usize] = true;
    let Some(parts) = crate::segment_fold::load_parts(conn, site, day, wanted)? else {
        return Ok(None);
    };
    let (Some(starts), Some(visit)) = (&parts[part::STARTS as usize], &parts[part::VISIT as usize])
    else {
        return Err(StoreError::DamagedSegment { site_id: site, day });
    };
    crate::day_segment::first_visit(
        day * DAY_MS,
        starts,
        visit,
        (i64::MIN, i64::MAX),
        &crate::day_segment::DayScreen::default(),
        |_, end| end >= from_ms,
    )
    .map_err(|crate::day_segment::Damaged| StoreError::DamagedSegment { site_id: site, day })
}
