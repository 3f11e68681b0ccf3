//! Unfiltered stats answered from the rollups.

use std::collections::{HashMap, HashSet};

use mallard_core::{DayRange, Interval};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, params};

use super::{Breakdown, SeriesPoint, SiteInfo, Totals};
use crate::error::StoreError;
use crate::hll::SketchUnion;
use crate::packed_pages;
use crate::rollup_spans::{self, Piece, RollupTable};
use crate::rollups::kind;

/// A fast hasher for integer ids (a breakdown adds up to a million counters
/// into maps keyed by dimension ids; SipHash would dominate).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
    }

    fn write_i64(&mut self, value: i64) {
        self.0 = (value as u64 ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(super) type IdMap<V> = HashMap<i64, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Above this many point lookups, visitor sketches are read by one range scan.
const MAX_POINT_LOOKUPS: i64 = 4_000;

fn counts(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<[i64; 6]> {
    Ok([
        row.get(at)?,
        row.get(at + 1)?,
        row.get(at + 2)?,
        row.get(at + 3)?,
        row.get(at + 4)?,
        row.get(at + 5)?,
    ])
}

fn add_sketch(union: &mut SketchUnion, value: ValueRef<'_>) -> Result<(), StoreError> {
    match value {
        ValueRef::Null => Ok(()),
        ValueRef::Blob(bytes) if union.add_encoded(bytes) => Ok(()),
        _ => Err(StoreError::InvalidData(
            "a stored visitor sketch cannot be decoded".into(),
        )),
    }
}

/// The site totals of the range.
pub(crate) fn main(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
) -> Result<Totals, StoreError> {
    main_of_value(conn, site, range, (kind::SITE, 0))
}

/// The rollup row that holds exactly the visits whose visit-level
/// `attribute` is `value` (`None`: missing), as `(kind, value)`; `None` for
/// an attribute without rollup rows (`utm_term`, `utm_content`, region,
/// city, screen width, versions, flags).
pub(crate) fn attribute_row(
    attribute: crate::visit_record::Attribute,
    value: Option<i64>,
) -> Option<(i64, i64)> {
    use crate::visit_record::Attribute;
    let row_kind = match attribute {
        Attribute::Source => kind::SOURCE,
        Attribute::Referrer => kind::REFERRER,
        Attribute::UtmSource => kind::UTM_SOURCE,
        Attribute::UtmMedium => kind::UTM_MEDIUM,
        Attribute::UtmCampaign => kind::UTM_CAMPAIGN,
        Attribute::Browser => kind::BROWSER,
        Attribute::Os => kind::OS,
        Attribute::Device => kind::DEVICE,
        Attribute::Country => kind::COUNTRY,
        _ => return None,
    };
    // The row value is what the writer files such a visit under.
    let mut attrs = crate::visits::VisitAttributes::default();
    if !attribute.set(&mut attrs, value) {
        return None;
    }
    Some((row_kind, crate::rollups::visit_dim(&attrs, row_kind)?))
}

/// Calls `each` with the row (day, the six counters, the visitor sketch)
/// of `value` of `row_kind` in each piece of a range that has one: the site
/// totals ([`kind::SITE`], value 0) in one read of the piece, another
/// kind's value with a lookup per day or span (a kind may have thousands
/// of values a day, which a read of the range would pass over).
fn each_row_of_value(
    conn: &Connection,
    site: &SiteInfo,
    pieces: &[Piece],
    (row_kind, value): (i64, i64),
    mut each: impl FnMut(&rusqlite::Row<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    const COLUMNS: &str = "day, pageviews, events, visits, bounces, visit_pageviews, \
                           duration_ms, visitors";
    for &Piece { table, range } in pieces {
        if row_kind == kind::SITE {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM {} WHERE site_id = ?1 AND kind = ?2 \
                 AND day >= ?3 AND day < ?4",
                table.name()
            ))?;
            let mut rows = stmt.query(params![site.id, row_kind, range.start, range.end])?;
            while let Some(row) = rows.next()? {
                each(row)?;
            }
            continue;
        }
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {} WHERE site_id = ?1 AND kind = ?2 AND day = ?3 \
             AND value = ?4",
            table.name()
        ))?;
        // Before the site's first day there is no day row.
        let start = match (table, site.first_day) {
            (RollupTable::Spans, _) => range.start,
            (RollupTable::Days, Some(first)) => range.start.max(first),
            (RollupTable::Days, None) => range.end,
        };
        for day in (start..range.end).step_by(table.days_per_row() as usize) {
            let mut rows = stmt.query(params![site.id, row_kind, day, value])?;
            if let Some(row) = rows.next()? {
                each(row)?;
            }
        }
    }
    Ok(())
}

/// The site totals of the visits with one value of a visit-level kind
/// ([`attribute_row`]): what a single `==` filter on it selects.
pub(crate) fn main_of_value(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    row: (i64, i64),
) -> Result<Totals, StoreError> {
    let mut totals = Totals::default();
    let mut union = SketchUnion::new();
    let pieces = rollup_spans::cover(conn, site, range)?;
    each_row_of_value(conn, site, &pieces, row, |stored| {
        totals.add_counts(&counts(stored, 1)?);
        add_sketch(&mut union, stored.get_ref(7)?)
    })?;
    totals.visitors = union.estimate();
    Ok(totals)
}

/// [`main_of_value`] per bucket of `interval` (days, weeks or months), from
/// the days (a span may straddle two buckets).
pub(crate) fn timeseries_of_value(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    interval: Interval,
    keys: &[i64],
    row: (i64, i64),
) -> Result<Vec<SeriesPoint>, StoreError> {
    let mut buckets: HashMap<i64, (Totals, SketchUnion)> = HashMap::new();
    let days = [Piece {
        table: RollupTable::Days,
        range,
    }];
    each_row_of_value(conn, site, &days, row, |stored| {
        let day: i64 = stored.get(0)?;
        let (totals, union) = buckets.entry(interval.bucket_start_day(day)).or_default();
        totals.add_counts(&counts(stored, 1)?);
        add_sketch(union, stored.get_ref(7)?)
    })?;
    Ok(points(keys, &buckets))
}

/// One point per key, zeros where a bucket has nothing.
fn points(keys: &[i64], buckets: &HashMap<i64, (Totals, SketchUnion)>) -> Vec<SeriesPoint> {
    keys.iter()
        .map(|&key| {
            let totals = buckets
                .get(&key)
                .map_or_else(Totals::default, |(t, u)| Totals {
                    visitors: u.estimate(),
                    ..*t
                });
            SeriesPoint { key, totals }
        })
        .collect()
}

/// The site totals per bucket.
pub(crate) fn timeseries(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    interval: Interval,
    keys: &[i64],
) -> Result<Vec<SeriesPoint>, StoreError> {
    if interval != Interval::Hour {
        return timeseries_of_value(conn, site, range, interval, keys, (kind::SITE, 0));
    }
    let mut buckets: HashMap<i64, (Totals, SketchUnion)> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT hour, pageviews, events, visits, bounces, visit_pageviews, duration_ms, \
         visitors FROM rollup_hours WHERE site_id = ?1 AND hour >= ?2 AND hour < ?3",
    )?;
    let mut rows = stmt.query(params![site.id, range.start * 24, range.end * 24])?;
    while let Some(row) = rows.next()? {
        let (totals, union) = buckets.entry(row.get(0)?).or_default();
        totals.add_counts(&counts(row, 1)?);
        add_sketch(union, row.get_ref(7)?)?;
    }
    Ok(points(keys, &buckets))
}

/// The top `limit` values of one rollup kind, with their totals. `prop_key`
/// restricts [`kind::PROP`] rows to one property key.
#[allow(clippy::too_many_arguments)]
pub(crate) fn breakdown(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    row_kind: i64,
    prop_key: Option<i64>,
    order: Breakdown,
    with_visitors: bool,
    limit: usize,
) -> Result<Vec<(i64, Totals)>, StoreError> {
    // Entry and exit pages live on the rows of their paths.
    let stored_kind = match row_kind {
        kind::ENTRY_PAGE | kind::EXIT_PAGE => kind::PAGE,
        other => other,
    };
    let mut by_value: IdMap<Totals> = IdMap::default();
    let pieces = rollup_spans::cover(conn, site, range)?;
    for piece in pieces.iter().copied() {
        let Piece { table, range } = piece;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT value, pageviews, events, visits, bounces, visit_pageviews, duration_ms, \
             exits FROM {} WHERE site_id = ?1 AND kind = ?2 AND day >= ?3 AND day < ?4",
            table.name()
        ))?;
        let mut add = |value: i64, c: [i64; 6], exits: i64| {
            let totals = by_value.entry(value).or_default();
            match row_kind {
                kind::PAGE => {
                    totals.pageviews += c[0];
                    totals.events += c[1];
                }
                kind::ENTRY_PAGE => totals.add_counts(&[0, 0, c[2], c[3], c[4], c[5]]),
                kind::EXIT_PAGE => totals.visits += exits,
                _ => totals.add_counts(&c),
            }
        };
        let mut rows = stmt.query(params![site.id, stored_kind, range.start, range.end])?;
        while let Some(row) = rows.next()? {
            let value: i64 = row.get(0)?;
            if prop_key.is_some_and(|key| value >> 32 != key) {
                continue;
            }
            add(value, counts(row, 1)?, row.get(7)?);
        }
        if stored_kind == kind::PAGE {
            packed_pages::read_counts(conn, piece, site.id, |value, c| {
                add(value, [c[0], c[1], c[2], c[3], c[4], c[5]], c[6]);
            })?;
        }
    }
    let mut rows: Vec<(i64, Totals)> = by_value
        .into_iter()
        .filter(|(_, totals)| order.metric(totals) > 0)
        .collect();
    super::breakdown::sort_and_truncate(&mut rows, order, limit);
    if with_visitors && !rows.is_empty() {
        let visitors = visitors_of(conn, site, &pieces, stored_kind, &rows)?;
        for (value, totals) in &mut rows {
            totals.visitors = visitors.get(value).map_or(0, SketchUnion::estimate);
        }
    }
    Ok(rows)
}

/// The totals of the rows of `row_kind` ([`kind::PAGE`] or [`kind::EVENT`])
/// whose value is one of `values`, taken together: page views and events
/// summed, visitors of all of them unioned (one visitor of two of them
/// counts once). A goal's conversions without filters.
pub(crate) fn value_set(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    row_kind: i64,
    values: &HashSet<i64>,
) -> Result<Totals, StoreError> {
    let mut totals = Totals::default();
    let mut union = SketchUnion::new();
    if values.is_empty() {
        return Ok(totals);
    }
    for piece in rollup_spans::cover(conn, site, range)? {
        let Piece { table, range } = piece;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT value, pageviews, events, visits, bounces, visit_pageviews, duration_ms, \
             visitors FROM {} WHERE site_id = ?1 AND kind = ?2 AND day >= ?3 AND day < ?4",
            table.name()
        ))?;
        let mut rows = stmt.query(params![site.id, row_kind, range.start, range.end])?;
        while let Some(row) = rows.next()? {
            if values.contains(&row.get::<_, i64>(0)?) {
                let c = counts(row, 1)?;
                totals.pageviews += c[0];
                totals.events += c[1];
                add_sketch(&mut union, row.get_ref(7)?)?;
            }
        }
        if row_kind == kind::PAGE {
            packed_pages::read_counts(conn, piece, site.id, |value, c| {
                if values.contains(&value) {
                    totals.pageviews += c[0];
                    totals.events += c[1];
                }
            })?;
            packed_pages::read_sketches(conn, piece, site.id, values, |_, bytes| {
                add_sketch(&mut union, ValueRef::Blob(bytes))
            })?;
        }
    }
    totals.visitors = union.estimate();
    Ok(totals)
}

/// The `limit` custom property keys with the most events in `range`, by
/// key id, with their events and visitors (ties by id): the property rows
/// ([`kind::PROP`], one per key, value and day or span) of each key taken
/// together. An event carries one value of a key, so its values' events add
/// up to the key's; its visitors are the union of its values' visitors.
pub(crate) fn prop_keys(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    limit: usize,
) -> Result<Vec<(i64, Totals)>, StoreError> {
    let mut by_key: IdMap<(Totals, SketchUnion)> = IdMap::default();
    for Piece { table, range } in rollup_spans::cover(conn, site, range)? {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT value, events, visitors FROM {} WHERE site_id = ?1 AND kind = ?2 \
             AND day >= ?3 AND day < ?4",
            table.name()
        ))?;
        let mut rows = stmt.query(params![site.id, kind::PROP, range.start, range.end])?;
        while let Some(row) = rows.next()? {
            let value: i64 = row.get(0)?;
            let (totals, union) = by_key.entry(value >> 32).or_default();
            totals.events += row.get::<_, i64>(1)?;
            add_sketch(union, row.get_ref(2)?)?;
        }
    }
    let mut rows: Vec<(i64, Totals)> = by_key
        .into_iter()
        .filter(|(_, (totals, _))| totals.events > 0)
        .map(|(key, (totals, union))| {
            let visitors = union.estimate();
            (key, Totals { visitors, ..totals })
        })
        .collect();
    super::breakdown::sort_and_truncate(&mut rows, Breakdown::ByEvents, limit);
    Ok(rows)
}

/// Adds to `unions` the sketches of `rows`' values in `piece`, a lookup
/// per value and day (or span).
fn add_looked_up(
    conn: &Connection,
    site: &SiteInfo,
    Piece { table, range }: Piece,
    row_kind: i64,
    rows: &[(i64, Totals)],
    unions: &mut HashMap<i64, SketchUnion>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT visitors FROM {} WHERE site_id = ?1 AND kind = ?2 AND day = ?3 AND value = ?4",
        table.name()
    ))?;
    for (value, _) in rows {
        let union = unions.entry(*value).or_default();
        for day in (range.start..range.end).step_by(table.days_per_row() as usize) {
            let mut found = stmt.query(params![site.id, row_kind, day, value])?;
            if let Some(row) = found.next()? {
                add_sketch(union, row.get_ref(0)?)?;
            }
        }
    }
    Ok(())
}

/// The visitor sketches of the chosen values, unioned over the `pieces`
/// of the range ([`rollup_spans::cover`]).
pub(crate) fn visitors_of(
    conn: &Connection,
    site: &SiteInfo,
    pieces: &[Piece],
    row_kind: i64,
    rows: &[(i64, Totals)],
) -> Result<HashMap<i64, SketchUnion>, StoreError> {
    let mut unions: HashMap<i64, SketchUnion> = HashMap::new();
    let wanted: HashSet<i64> = rows.iter().map(|(v, _)| *v).collect();
    for &piece in pieces {
        let Piece { table, range } = piece;
        let lookups = range.days() / table.days_per_row() * rows.len() as i64;
        // Spans of pages hold only packed rows, read below.
        if table.holds_rows_of(row_kind) {
            if lookups <= MAX_POINT_LOOKUPS {
                add_looked_up(conn, site, piece, row_kind, rows, &mut unions)?;
            } else {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT value, visitors FROM {} WHERE site_id = ?1 AND kind = ?2 \
                     AND day >= ?3 AND day < ?4",
                    table.name()
                ))?;
                let mut found = stmt.query(params![site.id, row_kind, range.start, range.end])?;
                while let Some(row) = found.next()? {
                    let value: i64 = row.get(0)?;
                    if wanted.contains(&value) {
                        add_sketch(unions.entry(value).or_default(), row.get_ref(1)?)?;
                    }
                }
            }
        }
        if row_kind == kind::PAGE {
            packed_pages::read_sketches(conn, piece, site.id, &wanted, |value, bytes| {
                add_sketch(unions.entry(value).or_default(), ValueRef::Blob(bytes))
            })?;
        }
    }
    Ok(unions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visit_record::Attribute;

    #[test]
    fn a_visit_attribute_value_names_the_row_its_visits_are_filed_under() {
        assert_eq!(
            attribute_row(Attribute::Source, Some(42)),
            Some((kind::SOURCE, 42))
        );
        // Direct visits (no source) are filed under 0.
        assert_eq!(
            attribute_row(Attribute::Source, None),
            Some((kind::SOURCE, 0))
        );
        // Device classes under their code + 1.
        assert_eq!(
            attribute_row(Attribute::Device, Some(2)),
            Some((kind::DEVICE, 3))
        );
        assert_eq!(attribute_row(Attribute::Device, None), None);
        assert_eq!(
            attribute_row(Attribute::Country, Some(7)),
            Some((kind::COUNTRY, 7))
        );
        // Attributes without rows.
        for attribute in [
            Attribute::UtmTerm,
            Attribute::UtmContent,
            Attribute::Region,
            Attribute::City,
            Attribute::Screen,
            Attribute::Flags,
        ] {
            assert_eq!(attribute_row(attribute, Some(1)), None, "{attribute:?}");
        }
    }
}
