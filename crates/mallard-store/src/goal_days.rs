//! The goal days (migration 023): each goal's conversions per local day of
//! its site, counted once from the day segments of closed days and kept.
//!
//! The Goals card without filters asks, for every goal, how many events
//! converted in a period, how many visitors and how much revenue per
//! currency. Counted from the events, a year of a 10M-event site takes
//! about half a second; a page goal's pattern from the page rollups costs
//! a visitor sketch per matching page and day. A goal day holds the answer
//! for one goal and day: the events, a visitor sketch ([`Sketch`]) and the
//! revenue, so a year is 365 rows per goal.
//!
//! - **Filled by the writer**, a few days per step after it has no closed
//!   day left to pack ([`fill_step`], from [`crate::visit_paths`]), so that
//!   ingestion waits no longer than for any other step: a new goal is
//!   counted back to the site's first day within seconds, and each day
//!   once it has closed.
//! - **Only closed days**: a local day is counted once every instant of it
//!   is before the first UTC day whose visits are not all in day segments
//!   ([`ready_end`]); until then its events are rows that still change.
//! - **Dropped when what they count changes**: triggers (migration 023)
//!   delete the rows that a change to a day segment, a new day of visits,
//!   another goal definition or time zone may touch, in the transaction
//!   that makes the change; the writer counts them again.
//! - **Read with the rest counted live**: [`crate::ReadConn::stats_goal_conversions`]
//!   takes the stored days of the period and counts the others (today, and
//!   any day not counted yet) from the events, then unions the visitors.

use std::collections::BTreeMap;

use mallard_core::DayRange;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, params};

use crate::error::StoreError;
use crate::hll::Sketch;
use crate::stats::{GoalCounter, SiteInfo};
use crate::varint::{get_varint, put_varint, unzigzag, zigzag};
use crate::visit_days::DAY_MS;

/// The gauge that says whether the writer is counting goal days (1) or
/// found none missing when it last looked (0).
const COUNTING_GAUGE: &str = "mallard_goal_days_counting";

/// Local days counted per step: about 4 ms of a site with 27,000 events a
/// day.
const DAYS_PER_STEP: i64 = 2;

/// One stored goal day.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredDay {
    /// The converting events.
    pub(crate) events: i64,
    /// Their visitors.
    pub(crate) visitors: Sketch,
    /// Per currency id (0: none given), the amounts' sum in millionths and
    /// the events that carried one.
    pub(crate) revenue: BTreeMap<i64, (i128, i64)>,
}

/// The stored days of goal `goal_id` in `range`, by local day. A row that
/// does not decode is left out (its day is then counted from the events).
pub(crate) fn read(
    conn: &Connection,
    goal_id: i64,
    range: DayRange,
) -> Result<BTreeMap<i64, StoredDay>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, events, visitors, revenue FROM goal_days \
         WHERE goal_id = ?1 AND day >= ?2 AND day < ?3",
    )?;
    let mut rows = stmt.query(params![goal_id, range.start, range.end])?;
    let mut days = BTreeMap::new();
    while let Some(row) = rows.next()? {
        let visitors = match row.get_ref(2)? {
            ValueRef::Blob(bytes) => Sketch::decode(bytes),
            _ => None,
        };
        let revenue = match row.get_ref(3)? {
            ValueRef::Null => Some(BTreeMap::new()),
            ValueRef::Blob(bytes) => decode_revenue(bytes),
            _ => None,
        };
        if let (Some(visitors), Some(revenue)) = (visitors, revenue) {
            days.insert(
                row.get(0)?,
                StoredDay {
                    events: row.get(1)?,
                    visitors,
                    revenue,
                },
            );
        }
    }
    Ok(days)
}

/// Counts the next few days of the first site with a goal day missing
/// among its closed days; returns whether it counted any (false: none is
/// missing). Runs in the writer's transaction.
pub(crate) fn fill_step(conn: &Connection) -> Result<bool, StoreError> {
    let sites: Vec<i64> = conn
        .prepare_cached("SELECT DISTINCT site_id FROM goals ORDER BY site_id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for site_id in sites {
        let Some(site) = crate::stats::site_by_id(conn, site_id)? else {
            continue;
        };
        let (Some(first), Some(end)) = (site.first_day, ready_end(conn, &site)?) else {
            continue;
        };
        let goals = crate::goals::goals_of(conn, site_id)?;
        let mut from = None;
        for goal in &goals {
            if let Some(day) = first_missing(conn, goal.id, first, end)? {
                from = Some(from.map_or(day, |earliest: i64| earliest.min(day)));
            }
        }
        let Some(from) = from else {
            continue;
        };
        let days = DayRange {
            start: from,
            end: (from + DAYS_PER_STEP).min(end),
        };
        count_days(conn, &site, &goals, days)?;
        metrics::gauge!(COUNTING_GAUGE).set(1.0);
        return Ok(true);
    }
    metrics::gauge!(COUNTING_GAUGE).set(0.0);
    Ok(false)
}

/// Counts every missing goal day of every site, a writer job at a time;
/// returns how many steps it took (for `mallard seed` and tests, which do
/// not wait for the writer to get to them).
pub fn fill_blocking(writer: &crate::WriterHandle) -> Result<u64, StoreError> {
    let mut steps = 0;
    while writer.run_blocking(fill_step)? {
        steps += 1;
    }
    Ok(steps)
}

/// Counts every stored goal day again from the stored events and describes
/// each that differs, one line per day (for `mallard check`; reads only).
/// Rows that do not decode, or whose goal is gone, are a line per site.
pub fn differences(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let spans: Vec<(i64, i64, i64, i64)> = conn
        .prepare(
            "SELECT site_id, min(day), max(day), count(*) FROM goal_days GROUP BY site_id \
             ORDER BY site_id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let mut lines = Vec::new();
    for (site_id, first, last, rows) in spans {
        let Some(site) = crate::stats::site_by_id(conn, site_id)? else {
            lines.push(format!(
                "site {site_id}: {rows} goal day(s) of a site that is gone"
            ));
            continue;
        };
        let range = DayRange {
            start: first,
            end: last + 1,
        };
        let goals = crate::goals::goals_of(conn, site_id)?;
        let counted = count_by_day(conn, &site, &goals, range)?;
        let mut read_back = 0;
        for (goal, mut by_day) in goals.iter().zip(counted) {
            for (day, stored) in read(conn, goal.id, range)? {
                read_back += 1;
                let recount = by_day.remove(&day).unwrap_or_default();
                let visitors = recount.visitors.into_sketch().estimate();
                if stored.events != recount.events
                    || stored.revenue != recount.revenue
                    || stored.visitors.estimate() != visitors
                {
                    lines.push(format!(
                        "site {site_id}, goal {:?}, day {}: stored {} event(s) of {} \
                         visitor(s), counted {} of {}{}",
                        goal.definition.name,
                        crate::error::utc_date(day),
                        stored.events,
                        stored.visitors.estimate(),
                        recount.events,
                        visitors,
                        if stored.revenue == recount.revenue {
                            ""
                        } else {
                            ", other revenue"
                        }
                    ));
                }
            }
        }
        if read_back != rows {
            lines.push(format!(
                "site {site_id}: {} goal day(s) that do not decode or whose goal is gone",
                rows - read_back
            ));
        }
    }
    Ok(lines)
}

/// Deletes every goal day (`mallard check --repair`): the writer counts
/// them again. Returns how many there were.
pub fn forget_all(conn: &Connection) -> Result<usize, StoreError> {
    Ok(conn.execute("DELETE FROM goal_days", [])?)
}

/// The first local day of `site` that is not closed: every instant of the
/// days before it (with the margin of a clock set back at midnight) is
/// before the first UTC day whose visits are not all in day segments, or
/// after the last day of visits if all are; `None` without visits.
pub(crate) fn ready_end(conn: &Connection, site: &SiteInfo) -> Result<Option<i64>, StoreError> {
    let (unsettled, newest): (Option<i64>, Option<i64>) = conn
        .prepare_cached(
            "SELECT (SELECT min(d.day) FROM visit_days d WHERE d.site_id = ?1 AND NOT EXISTS \
             (SELECT 1 FROM day_segments s WHERE s.site_id = d.site_id AND s.day = d.day \
             AND s.part = ?2)), \
             (SELECT max(day) FROM visit_days WHERE site_id = ?1)",
        )?
        .query_row(params![site.id, crate::day_segment::part::MARKER], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let Some(bound) = unsettled.or(newest.map(|day| day + 1)) else {
        return Ok(None);
    };
    let margin = crate::stats::CLOCK_SET_BACK_MARGIN_MS;
    Ok(Some(site.time_zone.local_day(bound * DAY_MS - margin)))
}

/// The first day in `[first, end)` that goal `goal_id` has no row for.
fn first_missing(
    conn: &Connection,
    goal_id: i64,
    first: i64,
    end: i64,
) -> Result<Option<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT day FROM goal_days WHERE goal_id = ?1 AND day >= ?2 AND day < ?3 ORDER BY day",
    )?;
    let mut rows = stmt.query(params![goal_id, first, end])?;
    let mut expected = first;
    while let Some(row) = rows.next()? {
        let day: i64 = row.get(0)?;
        if day != expected {
            return Ok(Some(expected));
        }
        expected += 1;
    }
    Ok((expected < end).then_some(expected))
}

/// Counts every goal of `site` on each day of `days` and stores the rows
/// (a day with nothing converted too).
fn count_days(
    conn: &Connection,
    site: &SiteInfo,
    goals: &[crate::goals::Goal],
    days: DayRange,
) -> Result<(), StoreError> {
    let counted = count_by_day(conn, site, goals, days)?;
    let mut insert = conn.prepare_cached(
        "INSERT OR REPLACE INTO goal_days (goal_id, day, site_id, events, visitors, revenue) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (goal, mut by_day) in goals.iter().zip(counted) {
        for day in days.start..days.end {
            let counter = by_day.remove(&day).unwrap_or_default();
            let revenue = (!counter.revenue.is_empty()).then(|| encode_revenue(&counter.revenue));
            insert.execute(params![
                goal.id,
                day,
                site.id,
                counter.events,
                counter.visitors.into_sketch().encode(),
                revenue,
            ])?;
        }
    }
    tracing::debug!(
        site_id = site.id,
        goals = goals.len(),
        first_day = days.start,
        days = days.days(),
        "counted goal days"
    );
    Ok(())
}

/// What each of `goals` converted on each day of `days` (from the events).
fn count_by_day(
    conn: &Connection,
    site: &SiteInfo,
    goals: &[crate::goals::Goal],
    days: DayRange,
) -> Result<Vec<BTreeMap<i64, GoalCounter>>, StoreError> {
    let matchers = goals
        .iter()
        .map(|goal| crate::stats::goal_matcher(conn, &goal.definition))
        .collect::<Result<Vec<_>, _>>()?;
    crate::stats::goal_counters_by_day(conn, site, days, &matchers)
}

/// Adds a stored day to what a goal converted elsewhere.
pub(crate) fn add_stored(into: &mut GoalCounter, day: &StoredDay) {
    into.events += day.events;
    for (&currency, &(micros, events)) in &day.revenue {
        into.add_revenue(currency, micros, events);
    }
}

/// Encodes revenue per currency: for each, the currency id and the events
/// as varints (zigzag for the id) and the sum as 16 bytes, little-endian.
fn encode_revenue(revenue: &BTreeMap<i64, (i128, i64)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(revenue.len() * 20);
    for (&currency, &(micros, events)) in revenue {
        put_varint(&mut out, zigzag(currency));
        out.extend_from_slice(&micros.to_le_bytes());
        put_varint(&mut out, zigzag(events));
    }
    out
}

/// Decodes [`encode_revenue`]'s bytes; `None` when they are not such.
fn decode_revenue(bytes: &[u8]) -> Option<BTreeMap<i64, (i128, i64)>> {
    let mut revenue = BTreeMap::new();
    let mut at = 0;
    while at < bytes.len() {
        let currency = unzigzag(get_varint(bytes, &mut at)?);
        let micros = i128::from_le_bytes(bytes.get(at..at + 16)?.try_into().ok()?);
        at += 16;
        let events = unzigzag(get_varint(bytes, &mut at)?);
        revenue.insert(currency, (micros, events));
    }
    Some(revenue)
}

#[cfg(test)]
mod tests;
