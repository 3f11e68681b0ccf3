//! Imported daily aggregates ([`crate::imported_daily`]) in the answers of
//! unfiltered queries that ask for them ([`StatsQuery::with_imported`]).
//!
//! As Plausible does, imported counts are added to the native ones: the
//! totals and the time series from the imported daily totals, a breakdown
//! from the imported counts of its dimension, merged by value. Visitors of
//! imported days are the days' (or rows') sums, as the export has them. The
//! imported days counted are those of the query's range before the site's
//! first day of native data (the overlap rule). Filters, regions, cities,
//! screen sizes, properties and hourly series have no imported counts: they
//! answer from native data alone.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use mallard_core::plausible_export::ImportedDimension;
use mallard_core::{DayRange, Dimension, Filter, FilterOp, Interval};
use rusqlite::{Connection, params};

use super::raw::{self, Target};
use super::{
    ALL_VALUES, Breakdown, BreakdownRow, SeriesPoint, SiteInfo, StatsQuery, Totals, breakdown,
    labels, rollup,
};
use crate::error::StoreError;
use crate::hll::SketchUnion;
use crate::imported_daily::{MONTHLY, month_start, next_month};
use crate::rollups::kind;

/// The imported days a query counts, when it asks for imported data, has
/// no filters, and the site has imported days in its range before its
/// first native day.
pub(super) fn window(site: &SiteInfo, query: &StatsQuery) -> Option<DayRange> {
    if !query.with_imported || !query.filters.is_empty() {
        return None;
    }
    let (first, last) = site.imported_days?;
    let start = query.range.start.max(first);
    let end = query
        .range
        .end
        .min(last + 1)
        .min(site.first_day.unwrap_or(i64::MAX));
    (start < end).then_some(DayRange { start, end })
}

const SUMS: &str = "sum(visitors), sum(visits), sum(pageviews), sum(bounces), \
                    sum(visit_duration), sum(events)";

/// The totals of one row of [`SUMS`] starting at column `at`.
fn totals_at(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Totals> {
    let get =
        |i: usize| -> rusqlite::Result<i64> { Ok(row.get::<_, Option<i64>>(at + i)?.unwrap_or(0)) };
    let pageviews = get(2)?;
    Ok(Totals {
        visitors: get(0)?.max(0) as u64,
        visits: get(1)?,
        pageviews,
        bounces: get(3)?,
        visit_pageviews: pageviews,
        duration_ms: get(4)?.saturating_mul(1000),
        events: get(5)?,
    })
}

/// Adds `more` to `totals`, visitors too: imported visitors are sums.
pub(super) fn add(totals: &mut Totals, more: &Totals) {
    totals.visitors += more.visitors;
    totals.add_counters(more);
}

/// The imported totals of `window`: the daily totals, with the custom
/// events among the events.
pub(super) fn main(conn: &Connection, site: i64, window: DayRange) -> Result<Totals, StoreError> {
    let mut totals = conn
        .prepare_cached(&format!(
            "SELECT {SUMS} FROM imported_daily WHERE site_id = ?1 AND dimension = ?2 \
             AND day >= ?3 AND day < ?4"
        ))?
        .query_row(
            params![
                site,
                ImportedDimension::Totals.code(),
                window.start,
                window.end
            ],
            |row| totals_at(row, 0),
        )?;
    totals.events += custom_events(conn, site, window)?.values().sum::<i64>();
    Ok(totals)
}

/// The imported custom events of each day of `window`.
fn custom_events(
    conn: &Connection,
    site: i64,
    window: DayRange,
) -> Result<HashMap<i64, i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, sum(events) FROM imported_daily WHERE site_id = ?1 AND dimension = ?2 \
         AND day >= ?3 AND day < ?4 GROUP BY day",
    )?;
    let days = stmt
        .query_map(
            params![
                site,
                ImportedDimension::Event.code(),
                window.start,
                window.end
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    Ok(days)
}

/// Adds the imported totals of `window` to the buckets of `points` (an
/// hourly series has none: imported counts are daily).
pub(super) fn add_to_series(
    conn: &Connection,
    site: i64,
    window: DayRange,
    interval: Interval,
    points: &mut [SeriesPoint],
) -> Result<(), StoreError> {
    if interval == Interval::Hour {
        return Ok(());
    }
    let at: HashMap<i64, usize> = points
        .iter()
        .enumerate()
        .map(|(i, point)| (point.key, i))
        .collect();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT day, {SUMS} FROM imported_daily WHERE site_id = ?1 AND dimension = ?2 \
         AND day >= ?3 AND day < ?4 GROUP BY day"
    ))?;
    let days: Vec<(i64, Totals)> = stmt
        .query_map(
            params![
                site,
                ImportedDimension::Totals.code(),
                window.start,
                window.end
            ],
            |row| Ok((row.get(0)?, totals_at(row, 1)?)),
        )?
        .collect::<Result<_, _>>()?;
    let bucket = |day: i64| at.get(&interval.bucket_start_day(day)).copied();
    for (day, totals) in days {
        if let Some(i) = bucket(day) {
            add(&mut points[i].totals, &totals);
        }
    }
    for (day, events) in custom_events(conn, site, window)? {
        if let Some(i) = bucket(day) {
            points[i].totals.events += events;
        }
    }
    Ok(())
}

/// The parts of `window` read from months and from days: the days before
/// its first whole month, its whole months (as the first day of each), and
/// the days after them.
fn pieces(window: DayRange) -> Vec<(bool, DayRange)> {
    let first_whole = if month_start(window.start) == window.start {
        window.start
    } else {
        next_month(window.start)
    };
    let end_of_whole = month_start(window.end);
    if first_whole >= end_of_whole {
        return vec![(false, window)];
    }
    [
        (false, window.start, first_whole),
        (true, first_whole, end_of_whole),
        (false, end_of_whole, window.end),
    ]
    .into_iter()
    .filter(|(_, start, end)| start < end)
    .map(|(monthly, start, end)| (monthly, DayRange { start, end }))
    .collect()
}

/// The imported counts of each value of `dimension` in `window`, most
/// first by `order`'s counter.
pub(super) fn breakdown(
    conn: &Connection,
    site: i64,
    window: DayRange,
    dimension: ImportedDimension,
    order: Breakdown,
) -> Result<Vec<(String, Totals)>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT value, {SUMS} FROM imported_daily WHERE site_id = ?1 AND dimension = ?2 \
         AND day >= ?3 AND day < ?4 GROUP BY value"
    ))?;
    let mut by_value: HashMap<String, Totals> = HashMap::new();
    for (monthly, piece) in pieces(window) {
        let code = dimension.code() | if monthly { MONTHLY } else { 0 };
        let mut rows = stmt.query(params![site, code, piece.start, piece.end])?;
        while let Some(row) = rows.next()? {
            add(
                by_value.entry(row.get(0)?).or_default(),
                &totals_at(row, 1)?,
            );
        }
    }
    let mut rows: Vec<(String, Totals)> = by_value.into_iter().collect();
    rows.sort_by(|(a, x), (b, y)| order.metric(y).cmp(&order.metric(x)).then_with(|| a.cmp(b)));
    Ok(rows)
}

/// The native value (rollup id, or device code + 1, 0 for missing) of a
/// label, `None` when no event ever had it.
fn native_value(
    conn: &Connection,
    dimension: &Dimension,
    label: &str,
) -> Result<Option<i64>, StoreError> {
    let filter = Filter {
        dimension: dimension.clone(),
        op: FilterOp::Is,
        value: label.to_owned(),
    };
    Ok(match raw::resolve(conn, &filter)? {
        Target::Missing => Some(0),
        Target::Id(code) if *dimension == Dimension::Device => Some(code + 1),
        Target::Id(id) => Some(id),
        Target::Nothing => None,
    })
}

/// One row of a merged breakdown: its native part (value id and counts)
/// and its imported part.
struct Merged {
    label: String,
    native: Option<(i64, Totals)>,
    imported: Totals,
}

impl Merged {
    fn totals(&self) -> Totals {
        let mut totals = self.native.map(|(_, t)| t).unwrap_or_default();
        add(&mut totals, &self.imported);
        totals
    }
}

/// The top `limit` values of `dimension` over the query's range with the
/// `imported` counts (most first) added, exactly: the native counts of
/// every value are read from the rollups without visitors; imported
/// values are matched to theirs from the most counted down, until no
/// further one could reach the rows kept; the best native values left are
/// matched to their imported counts; visitors are then counted for the
/// rows kept alone.
pub(super) fn merged_breakdown(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    dimension: &Dimension,
    imported: Vec<(String, Totals)>,
    limit: usize,
) -> Result<Vec<BreakdownRow>, StoreError> {
    let order = Breakdown::of(dimension);
    let Some(spec) = breakdown::spec(conn, dimension, limit)? else {
        return Ok(merge_rows(Vec::new(), imported, order, limit));
    };
    if !kind::is_stored(spec.row_kind) {
        // Counted by a pass over the visits, every value at once.
        let native = breakdown::run(conn, site, query, dimension, ALL_VALUES)?;
        return Ok(merge_rows(native, imported, order, limit));
    }
    let stored_kind = match spec.row_kind {
        kind::ENTRY_PAGE | kind::EXIT_PAGE => kind::PAGE,
        other => other,
    };
    let native = rollup::breakdown(
        conn,
        site,
        query.range,
        spec.row_kind,
        spec.prop_key,
        order,
        false,
        ALL_VALUES,
    )?;
    let native_by_id: HashMap<i64, Totals> = native.iter().copied().collect();
    let most_native = native.first().map_or(0, |(_, t)| order.metric(t));
    let mut kept: BinaryHeap<Reverse<i64>> = BinaryHeap::new();
    let mut rows: Vec<Merged> = Vec::new();
    let mut matched: HashSet<i64> = HashSet::new();
    let mut taken: HashSet<&str> = HashSet::new();
    for (label, counts) in &imported {
        let floor = match kept.peek() {
            Some(Reverse(floor)) if kept.len() >= limit => *floor,
            _ => i64::MIN,
        };
        if order.metric(counts) + most_native < floor {
            break;
        }
        let id = native_value(conn, dimension, label)?;
        let native = id.and_then(|id| native_by_id.get(&id).map(|t| (id, *t)));
        if let Some(id) = id {
            matched.insert(id);
        }
        taken.insert(label);
        let row = Merged {
            label: label.clone(),
            native,
            imported: *counts,
        };
        kept.push(Reverse(order.metric(&row.totals())));
        if kept.len() > limit {
            kept.pop();
        }
        rows.push(row);
    }
    let imported_by_label: HashMap<&str, &Totals> =
        imported.iter().map(|(l, t)| (l.as_str(), t)).collect();
    let mut left = limit;
    for (id, totals) in &native {
        if left == 0 {
            break;
        }
        if matched.contains(id) {
            continue;
        }
        let label = labels::label(conn, spec.row_kind, *id)?;
        if taken.contains(label.as_str()) {
            continue;
        }
        let imported = imported_by_label
            .get(label.as_str())
            .map_or_else(Totals::default, |t| **t);
        rows.push(Merged {
            label,
            native: Some((*id, *totals)),
            imported,
        });
        left -= 1;
    }
    let mut rows: Vec<(Totals, Merged)> = rows.into_iter().map(|r| (r.totals(), r)).collect();
    rows.sort_by(|(a, x), (b, y)| {
        order
            .metric(b)
            .cmp(&order.metric(a))
            .then_with(|| x.label.cmp(&y.label))
    });
    rows.truncate(limit);
    let visitors = if spec.with_visitors {
        let native: Vec<(i64, Totals)> = rows.iter().filter_map(|(_, r)| r.native).collect();
        let pieces = crate::rollup_spans::cover(conn, site, query.range)?;
        rollup::visitors_of(conn, site, &pieces, stored_kind, &native)?
    } else {
        HashMap::new()
    };
    Ok(rows
        .into_iter()
        .map(|(mut totals, row)| {
            totals.visitors = row.imported.visitors
                + row
                    .native
                    .and_then(|(id, _)| visitors.get(&id))
                    .map_or(0, SketchUnion::estimate);
            BreakdownRow {
                value: row.label,
                totals,
            }
        })
        .collect())
}

/// Merges `imported` rows into `native` ones (every native row, not only
/// the top ones) by value, ordered by `order`'s counter (ties by value),
/// and keeps the first `limit`.
fn merge_rows(
    native: Vec<BreakdownRow>,
    imported: Vec<(String, Totals)>,
    order: Breakdown,
    limit: usize,
) -> Vec<BreakdownRow> {
    let mut rows: HashMap<String, Totals> = native
        .into_iter()
        .map(|row| (row.value, row.totals))
        .collect();
    for (value, totals) in imported {
        add(rows.entry(value).or_default(), &totals);
    }
    let mut rows: Vec<BreakdownRow> = rows
        .into_iter()
        .map(|(value, totals)| BreakdownRow { value, totals })
        .collect();
    rows.sort_by(|a, b| {
        order
            .metric(&b.totals)
            .cmp(&order.metric(&a.totals))
            .then_with(|| a.value.cmp(&b.value))
    });
    rows.truncate(limit);
    rows
}

#[cfg(test)]
mod tests;
