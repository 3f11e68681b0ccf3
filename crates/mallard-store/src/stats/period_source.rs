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
//! visit never has a gap of more than [`VISIT_TIMEOUT_MS`] between two of
//! its events (an event joins a visit only within that time of its first or
//! last event, see [`crate::visits::ActiveVisits::record`]), so such a visit
//! has an event in the first [`VISIT_TIMEOUT_MS`] of the period.
//!
//! The closed days come from their day segments
//! ([`crate::segment_fold::fold_records`]) up to the first day that is not
//! packed in the current format, and the rest of the period from rows
//! ([`crate::visit_rows::fold_records`]); the two lists of accumulators are
//! appended. [`reach_back`] reads the rows, which this round still keeps for
//! every day.

use rusqlite::{Connection, params};

use crate::error::StoreError;
use crate::visit_record::{Columns, Take, VisitGate, VisitRecord};
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
/// that needs no event of a visit reads none). Visits read from rows come
/// with their events whatever the gate says.
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
) -> Result<Vec<A>, StoreError> {
    if to_ms <= from_ms {
        return Ok(Vec::new());
    }
    let start = reach_back(conn, site, from_ms)?;
    fold_starting(conn, site, start, to_ms, columns, gate, new, each)
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
) -> Result<Vec<A>, StoreError> {
    if to_ms <= from_ms {
        return Ok(Vec::new());
    }
    let (mut folds, rest) =
        crate::segment_fold::fold_records(conn, site, from_ms, to_ms, columns, gate, &new, &each)?;
    if rest < to_ms {
        folds.extend(crate::visit_rows::fold_records(
            conn,
            site,
            rest,
            to_ms,
            columns,
            &new,
            |acc, visit| {
                if gate.take(visit) != Take::Skip {
                    each(acc, visit);
                }
            },
        )?);
    }
    Ok(folds)
}

/// The earliest start of a visit of `site` with an event at or after
/// `from_ms`, or `from_ms` when every such visit starts there or later.
pub(crate) fn reach_back(conn: &Connection, site: i64, from_ms: i64) -> Result<i64, StoreError> {
    let earliest: Option<i64> = conn
        .prepare_cached(
            "SELECT min(v.start_ts) FROM events e JOIN visits v ON v.id = e.visit_id \
             WHERE e.site_id = ?1 AND e.ts >= ?2 AND e.ts <= ?3",
        )?
        .query_row(
            params![site, from_ms, from_ms.saturating_add(VISIT_TIMEOUT_MS)],
            |r| r.get(0),
        )?;
    Ok(earliest.map_or(from_ms, |start| start.min(from_ms)))
}
