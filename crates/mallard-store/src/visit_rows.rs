//! Visits read from rows as [`VisitRecord`]s: the days that are not kept as
//! day segments (the open days, and closed days not packed yet).
//!
//! A day at a time: the visits of `site` that start on one UTC day (found by
//! their id range, [`crate::visit_days`]), then, when events are asked for,
//! the events from the day's start to the end of its last visit in key
//! order, which is time order with ties by event id, and their properties
//! the same way. Memory is bounded by one day of one site.

use rusqlite::{Connection, params, params_from_iter};
use rustc_hash::FxHashMap;

use crate::error::StoreError;
use crate::visit_days::{DayRange, day_ranges};
use crate::visit_record::{
    Attribute, AttributeCondition, Columns, EventRecord, Take, VisitGate, VisitRecord,
};
use crate::visits::{Visit, VisitAttributes};

/// The attribute columns of `visits`, in the order [`attributes_at`] reads
/// them.
pub(crate) const ATTRIBUTE_COLUMNS: &str = "referrer_source, referrer_url, utm_source, \
    utm_medium, utm_campaign, utm_term, utm_content, browser, browser_version, os, os_version, \
    device, screen_width, country, is_bot, is_internal, region, city";

/// The attributes of a `visits` row, read from its [`ATTRIBUTE_COLUMNS`]
/// starting at column `at`.
pub(crate) fn attributes_at(
    row: &rusqlite::Row<'_>,
    at: usize,
) -> rusqlite::Result<VisitAttributes> {
    Ok(VisitAttributes {
        referrer_source: row.get(at)?,
        referrer_url: row.get(at + 1)?,
        utm_source: row.get(at + 2)?,
        utm_medium: row.get(at + 3)?,
        utm_campaign: row.get(at + 4)?,
        utm_term: row.get(at + 5)?,
        utm_content: row.get(at + 6)?,
        browser: row.get(at + 7)?,
        browser_version: row.get(at + 8)?,
        os: row.get(at + 9)?,
        os_version: row.get(at + 10)?,
        device: row.get(at + 11)?,
        screen_width: row.get(at + 12)?,
        country: row.get(at + 13)?,
        is_bot: row.get(at + 14)?,
        is_internal: row.get(at + 15)?,
        region: row.get(at + 16)?,
        city: row.get(at + 17)?,
    })
}

/// Inserts `visit` as a row of `visits`, whole (a new visit, or one
/// restored from its day's segment).
pub(crate) fn insert_visit(conn: &Connection, visit: &Visit) -> Result<(), StoreError> {
    let a = &visit.attributes;
    conn.prepare_cached(&format!(
        "INSERT INTO visits (id, site_id, visitor_id, start_ts, end_ts, pageviews, events, \
         entry_page, exit_page, {ATTRIBUTE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
         ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)"
    ))?
    .execute(params![
        visit.id,
        visit.site_id,
        visit.visitor_id,
        visit.start_ts,
        visit.end_ts,
        visit.pageviews,
        visit.events,
        visit.entry_page,
        visit.exit_page,
        a.referrer_source,
        a.referrer_url,
        a.utm_source,
        a.utm_medium,
        a.utm_campaign,
        a.utm_term,
        a.utm_content,
        a.browser,
        a.browser_version,
        a.os,
        a.os_version,
        a.device,
        a.screen_width,
        a.country,
        a.is_bot,
        a.is_internal,
        a.region,
        a.city
    ])?;
    Ok(())
}

/// The query of a day's visits with the columns asked for, and the
/// attributes it selects in order. Only those columns are selected: a row's
/// columns cost their decoding whether they are read or not. The gate's
/// [`VisitGate::attribute_conditions`] are conditions of the query, so that
/// SQLite passes over the visits that fail them without handing over a
/// column: under a rare filter most of the day's rows cost a comparison,
/// not the reading of two dozen columns (an export of today under
/// `utm_source==newsletter;browser==Chrome` spent half its time there).
struct VisitSelect {
    sql: String,
    attributes: Vec<Attribute>,
    /// The values the conditions compare with, in the order of their
    /// parameters (after the five of the day's range).
    condition_values: Vec<Option<i64>>,
}

impl VisitSelect {
    fn of(columns: Columns, conditions: &[AttributeCondition]) -> Self {
        let attributes: Vec<Attribute> = Attribute::EVERY
            .into_iter()
            .filter(|&attribute| columns.attributes.contains(attribute))
            .collect();
        let mut sql = String::from("SELECT id, start_ts, end_ts");
        if columns.visitors {
            sql.push_str(", visitor_id");
        }
        if columns.visit {
            sql.push_str(", pageviews, events");
            if columns.pages {
                sql.push_str(", entry_page, exit_page");
            }
        }
        for attribute in &attributes {
            sql.push_str(", ");
            sql.push_str(attribute.visits_column());
        }
        sql.push_str(
            " FROM visits WHERE id BETWEEN ?1 AND ?2 AND site_id = ?3 AND start_ts >= ?4 \
             AND start_ts < ?5",
        );
        // `IS` compares NULL as a value, as `AttributeCondition::holds`
        // compares `None`.
        for (at, condition) in conditions.iter().enumerate() {
            let comparison = if condition.is { "IS" } else { "IS NOT" };
            sql.push_str(&format!(
                " AND ({}) {comparison} ?{}",
                condition.attribute.visits_column(),
                at + 6
            ));
        }
        Self {
            sql,
            attributes,
            condition_values: conditions.iter().map(|condition| condition.value).collect(),
        }
    }
}

/// Visits of a day read from rows and held at a time, at most (fewer in
/// tests, so that days take several slices): by the evening the open day
/// of a busy site holds tens of thousands of visits, each with its
/// attributes and events, and every query that reaches today held all of
/// them at once (about 3 MB for a slice).
const SLICE_VISITS: usize = if cfg!(test) { 3 } else { 4096 };

/// A slice of the visits of one day with their events, before they are
/// handed over.
struct DayVisits {
    records: Vec<VisitRecord>,
    /// Where each visit id sits in `records`.
    position: FxHashMap<i64, usize>,
    /// The end of the slice's last visit taken with its events
    /// (`i64::MIN` while it has none).
    max_end: i64,
}

/// Folds the visits of `site` that start in `[from_ms, to_ms)` from rows, a
/// UTC day at a time, filling the `columns` asked for, and hands over those
/// that `gate` takes, with their events when it takes them with their
/// events ([`Take::Events`]). A day's visits are read in id order a slice
/// of [`SLICE_VISITS`] at a time, and each slice is handed over in start
/// order (ties by id): ids follow starts but for visits that late events
/// opened. The gate sees each visit before any event is read, so only the
/// events of the visits taken with them are decoded, and none when no
/// visit is. Returns the accumulator in a list, like the folds of the day
/// segments, so that callers merge both alike.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fold_records<A>(
    conn: &Connection,
    site: i64,
    from_ms: i64,
    to_ms: i64,
    columns: Columns,
    gate: &impl VisitGate,
    new: impl Fn() -> A,
    each: impl Fn(&mut A, &VisitRecord),
) -> Result<Vec<A>, StoreError> {
    let mut acc = new();
    let pageview = crate::rollup_rebuild::pageview_name_id(conn)?;
    let select = VisitSelect::of(columns, gate.attribute_conditions());
    let mut slice = DayVisits {
        records: Vec::new(),
        position: FxHashMap::default(),
        max_end: i64::MIN,
    };
    for range in day_ranges(conn, site, from_ms, to_ms)? {
        crate::cancel::check(conn)?;
        fold_day(
            conn,
            site,
            range,
            (columns, &select),
            gate,
            pageview,
            &mut slice,
            &mut |record| each(&mut acc, record),
        )?;
    }
    Ok(vec![acc])
}

/// Hands `hand` the visits that start in `range` and that `gate` takes,
/// with the asked columns, a slice at a time through `slice`.
#[allow(clippy::too_many_arguments)]
fn fold_day(
    conn: &Connection,
    site: i64,
    range: DayRange,
    (columns, select): (Columns, &VisitSelect),
    gate: &impl VisitGate,
    pageview: Option<i64>,
    slice: &mut DayVisits,
    hand: &mut dyn FnMut(&VisitRecord),
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&select.sql)?;
    let day = [
        range.low_id,
        range.high_id,
        site,
        range.from_ms,
        range.to_ms,
    ];
    let mut rows = stmt.query(params_from_iter(
        day.into_iter()
            .map(Some)
            .chain(select.condition_values.iter().copied()),
    ))?;
    while let Some(row) = rows.next()? {
        let end_ts: i64 = row.get(2)?;
        let mut record = VisitRecord {
            id: row.get(0)?,
            start_ts: row.get(1)?,
            ..VisitRecord::default()
        };
        let mut at = 3;
        if columns.visitors {
            record.visitor_id = row.get(at)?;
            at += 1;
        }
        if columns.visit {
            record.end_ts = end_ts;
            record.pageviews = row.get(at)?;
            record.events_count = row.get(at + 1)?;
            at += 2;
            if columns.pages {
                record.entry_page = row.get(at)?;
                record.exit_page = row.get(at + 1)?;
                at += 2;
            }
        }
        for &attribute in &select.attributes {
            // The device class and the flags are never NULL in `visits`.
            if !attribute.set(&mut record.attrs, row.get(at)?) {
                return Err(StoreError::InvalidData(format!(
                    "visit {} has no {attribute:?}",
                    record.id
                )));
            }
            at += 1;
        }
        match gate.take(&record) {
            Take::Skip => continue,
            Take::Visit => {}
            Take::Events => {
                // Only the events of the visits taken with them are read.
                record.events_read = columns.events;
                slice.max_end = slice.max_end.max(end_ts);
            }
        }
        slice.records.push(record);
        if slice.records.len() >= SLICE_VISITS {
            hand_slice(conn, site, slice, columns, pageview, hand)?;
        }
    }
    hand_slice(conn, site, slice, columns, pageview, hand)
}

/// Reads the events of the visits of `slice` taken with them, hands every
/// visit of it over in start order (ties by id), and empties it.
fn hand_slice(
    conn: &Connection,
    site: i64,
    slice: &mut DayVisits,
    columns: Columns,
    pageview: Option<i64>,
    hand: &mut dyn FnMut(&VisitRecord),
) -> Result<(), StoreError> {
    slice.records.sort_unstable_by_key(|r| (r.start_ts, r.id));
    slice.position.clear();
    slice.position.extend(
        slice
            .records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.events_read)
            .map(|(at, r)| (r.id, at)),
    );
    if !slice.position.is_empty() {
        read_events(conn, site, slice, columns, pageview)?;
    }
    for record in &mut slice.records {
        if !columns.ids {
            // As a day segment hands them over without their ids.
            record.id = 0;
        }
        hand(record);
    }
    slice.records.clear();
    slice.max_end = i64::MIN;
    Ok(())
}

/// The events of a slice's visits taken with them are looked up by visit in
/// SQLite when fewer than one in this many of the visit ids they span are
/// taken. The list costs a probe per event of the range: with a third of
/// today's visits taken (Chrome on desktop) it cost a tenth more than
/// handing every event to Rust, with one in twenty it halved the read.
const FEW_TAKEN_OF: i64 = 4;

/// Appends each visit's events (and their properties) in time order.
fn read_events(
    conn: &Connection,
    site: i64,
    day: &mut DayVisits,
    columns: Columns,
    pageview: Option<i64>,
) -> Result<(), StoreError> {
    let from = day
        .records
        .iter()
        .find(|r| r.events_read)
        .map_or(0, |r| r.start_ts);
    // Properties by (time, event id), read only when asked for.
    let mut props: FxHashMap<(i64, i64), Vec<(i64, i64)>> = FxHashMap::default();
    if columns.props {
        let mut stmt = conn.prepare_cached(
            "SELECT ts, event_id, key, value FROM event_props WHERE site_id = ?1 AND ts >= ?2 \
             AND ts <= ?3",
        )?;
        let mut rows = stmt.query(params![site, from, day.max_end])?;
        while let Some(row) = rows.next()? {
            props
                .entry((row.get(0)?, row.get(1)?))
                .or_default()
                .push((row.get(2)?, row.get(3)?));
        }
    }
    // The revenue and the host only when asked for, and the consent of
    // collector events too, and then only when some event of the range has
    // one: it is a lookup per event (a sixth of an export's time).
    let mut sql = String::from("SELECT e.ts, e.id, e.visit_id, e.name, e.pathname");
    if columns.revenue {
        sql.push_str(", e.revenue_micros, e.currency");
    }
    if columns.provenance && any_consent(conn, site, from, day.max_end)? {
        sql.push_str(
            ", e.hostname, c.consent_id FROM events e LEFT JOIN collector_event_consent c \
             ON c.site_id = e.site_id AND c.ts = e.ts AND c.event_id = e.id",
        );
    } else if columns.provenance {
        sql.push_str(", e.hostname, NULL FROM events e");
    } else {
        sql.push_str(" FROM events e");
    }
    sql.push_str(" WHERE e.site_id = ?1 AND e.ts >= ?2 AND e.ts <= ?3");
    // When the visits taken with their events are few among those whose
    // ids they span, SQLite passes over the others' events itself: a list
    // it looks each event's visit up in costs less than handing every
    // event of the day to Rust.
    let taken = day.position.keys();
    let spanned = taken
        .clone()
        .max()
        .zip(taken.min())
        .map_or(0, |(&max, &min)| max.saturating_sub(min).saturating_add(1));
    let visit_list = (day.position.len() as i64 * FEW_TAKEN_OF < spanned).then(|| {
        let ids: Vec<String> = day.position.keys().map(i64::to_string).collect();
        format!("[{}]", ids.join(","))
    });
    if visit_list.is_some() {
        sql.push_str(" AND e.visit_id IN (SELECT value FROM json_each(?4))");
    }
    let mut stmt = conn.prepare_cached(&sql)?;
    let provenance_at = if columns.revenue { 7 } else { 5 };
    let mut rows = match &visit_list {
        Some(list) => stmt.query(params![site, from, day.max_end, list])?,
        None => stmt.query(params![site, from, day.max_end])?,
    };
    while let Some(row) = rows.next()? {
        let Some(&at) = day.position.get(&row.get::<_, i64>(2)?) else {
            continue;
        };
        let record = &mut day.records[at];
        let ts: i64 = row.get(0)?;
        let name: i64 = row.get(3)?;
        let pathname: i64 = row.get(4)?;
        let is_pageview = Some(name) == pageview;
        let mut event = EventRecord {
            ts: if columns.event_times {
                ts
            } else {
                record.start_ts
            },
            pageview: is_pageview,
            code: if is_pageview { pathname } else { name },
            pathname: if is_pageview || columns.event_paths {
                pathname
            } else {
                0
            },
            ..EventRecord::default()
        };
        if columns.revenue {
            event.revenue_micros = row.get(5)?;
            event.currency = row.get(6)?;
        }
        if columns.provenance {
            event.hostname = row.get(provenance_at)?;
            event.consent = row.get(provenance_at + 1)?;
        }
        if columns.props
            && let Some(mut pairs) = props.remove(&(ts, row.get(1)?))
        {
            pairs.sort_unstable();
            let start = u32::try_from(record.props.len()).unwrap_or(u32::MAX);
            record.props.extend(pairs);
            let end = u32::try_from(record.props.len()).unwrap_or(u32::MAX);
            event.props = (start, end);
        }
        record.events.push(event);
    }
    Ok(())
}

/// Whether some event of `site` from `from_ms` to `to_ms` (inclusive) came
/// with a collector consent.
fn any_consent(conn: &Connection, site: i64, from_ms: i64, to_ms: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM collector_event_consent WHERE site_id = ?1 \
             AND ts >= ?2 AND ts <= ?3)",
        )?
        .query_row(params![site, from_ms, to_ms], |row| row.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visit_record::AttributeSet;

    const SITE: i64 = 1;
    const DAY: i64 = 86_400_000;

    /// A migrated database: `pageview` is event name 0; tests use path ids
    /// from 10 and the custom event name 5.
    fn database() -> Connection {
        crate::schema::migrated_in_memory()
    }

    fn add_visit(conn: &Connection, id: i64, visitor: i64, events: &[(i64, i64, bool)]) {
        let start = events.iter().map(|e| e.0).min().unwrap();
        let end = events.iter().map(|e| e.0).max().unwrap();
        let pageviews = events.iter().filter(|e| e.2).count() as i64;
        conn.execute(
            "INSERT INTO visits (id, site_id, visitor_id, start_ts, end_ts, pageviews, events, \
             entry_page, exit_page, referrer_source, device, country) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 10, 11, 42, 2, NULL)",
            params![
                id,
                SITE,
                visitor,
                start,
                end,
                pageviews,
                events.len() as i64
            ],
        )
        .unwrap();
        let day = start.div_euclid(DAY);
        conn.execute(
            "INSERT INTO visit_days (site_id, day, min_id, max_id) VALUES (?1, ?2, ?3, ?3) \
             ON CONFLICT (site_id, day) DO UPDATE SET min_id = min(min_id, ?3), \
             max_id = max(max_id, ?3)",
            params![SITE, day, id],
        )
        .unwrap();
        for (n, &(ts, code, pageview)) in events.iter().enumerate() {
            let event_id = id * 100 + n as i64;
            let (name, path) = if pageview { (0, code) } else { (code, 10) };
            conn.execute(
                "INSERT INTO events (site_id, ts, id, visit_id, name, hostname, pathname, \
                 revenue_micros, currency) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8)",
                params![
                    SITE,
                    ts,
                    event_id,
                    id,
                    name,
                    path,
                    (!pageview).then_some(1_500_000i64),
                    (!pageview).then_some(77i64)
                ],
            )
            .unwrap();
            if !pageview {
                for (key, value) in [(31, 32), (30, 33)] {
                    conn.execute(
                        "INSERT INTO event_props (site_id, ts, event_id, key, value) \
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![SITE, ts, event_id, key, value],
                    )
                    .unwrap();
                }
            }
        }
    }

    fn read(conn: &Connection, from: i64, to: i64, columns: Columns) -> Vec<VisitRecord> {
        read_through(
            conn,
            (from, to),
            columns,
            &|_: &VisitRecord| Take::Events,
            |_| {},
        )
    }

    /// The visits of `[from, to)` that `gate` takes, with `columns`,
    /// each shown to `seen` as it is handed over.
    fn read_through(
        conn: &Connection,
        (from, to): (i64, i64),
        columns: Columns,
        gate: &impl VisitGate,
        seen: impl Fn(&VisitRecord),
    ) -> Vec<VisitRecord> {
        fold_records(
            conn,
            SITE,
            from,
            to,
            columns,
            gate,
            Vec::new,
            |all: &mut Vec<VisitRecord>, r| {
                seen(r);
                all.push(r.clone());
            },
        )
        .unwrap()
        .into_iter()
        .flatten()
        .collect()
    }

    #[test]
    fn visits_come_in_start_order_with_their_events_across_midnight() {
        let conn = database();
        let base = 20_000 * DAY;
        // Visit 2 starts first; visit 1 runs past midnight.
        add_visit(
            &conn,
            1,
            7,
            &[
                (base + DAY - 60_000, 12, true),
                (base + DAY + 5_000, 5, false),
            ],
        );
        add_visit(&conn, 2, 8, &[(base + 1_000, 10, true)]);
        add_visit(&conn, 3, 9, &[(base + DAY + 9_000, 10, true)]);
        let all = read(&conn, base, base + DAY, Columns::ALL);
        assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [2, 1]);
        let late = &all[1];
        assert_eq!(
            (
                late.visitor_id,
                late.end_ts,
                late.pageviews,
                late.events_count
            ),
            (7, base + DAY + 5_000, 1, 2)
        );
        assert_eq!(late.attrs.referrer_source, Some(42));
        assert_eq!(late.attrs.device, 2);
        let codes: Vec<_> = late
            .events
            .iter()
            .map(|e| (e.ts, e.pageview, e.code, e.pathname))
            .collect();
        assert_eq!(
            codes,
            [
                (base + DAY - 60_000, true, 12, 12),
                (base + DAY + 5_000, false, 5, 10)
            ]
        );
        let custom = &late.events[1];
        assert_eq!(late.props_of(custom), &[(30, 33), (31, 32)]);
        assert_eq!(
            (custom.revenue_micros, custom.currency),
            (Some(1_500_000), Some(77))
        );
    }

    #[test]
    fn columns_not_asked_for_keep_their_defaults() {
        let conn = database();
        let base = 20_000 * DAY;
        add_visit(&conn, 1, 7, &[(base + 10, 12, true), (base + 20, 5, false)]);
        let columns = Columns {
            events: true,
            ..Columns::default()
        };
        let [record] = read(&conn, base, base + DAY, columns).try_into().unwrap();
        assert_eq!(
            (record.visitor_id, record.end_ts, record.pageviews),
            (0, 0, 0)
        );
        assert_eq!(record.attrs, VisitAttributes::default());
        assert!(record.props.is_empty());
        // Without times every event sits at the visit's start; without paths
        // a custom event has none.
        let events: Vec<_> = record
            .events
            .iter()
            .map(|e| (e.ts, e.code, e.pathname, e.revenue_micros))
            .collect();
        assert_eq!(events, [(base + 10, 12, 12, None), (base + 10, 5, 0, None)]);
        let bare = read(&conn, base, base + DAY, Columns::default());
        assert!(bare[0].events.is_empty());
    }

    #[test]
    fn the_gate_decides_which_visits_come_and_which_bring_their_events() {
        let conn = database();
        let base = 20_000 * DAY;
        add_visit(&conn, 1, 7, &[(base + 10, 12, true), (base + 20, 5, false)]);
        add_visit(&conn, 2, 8, &[(base + 30, 12, true)]);
        add_visit(&conn, 3, 9, &[(base + 40, 13, true), (base + 50, 12, true)]);
        let gate = |visit: &VisitRecord| match visit.id {
            1 => Take::Skip,
            2 => Take::Visit,
            _ => Take::Events,
        };
        let taken: Vec<(i64, bool, usize)> =
            read_through(&conn, (base, base + DAY), Columns::ALL, &gate, |_| {})
                .into_iter()
                .map(|r| (r.id, r.events_read, r.events.len()))
                .collect();
        assert_eq!(taken, [(2, false, 0), (3, true, 2)]);
    }

    #[test]
    fn only_the_attributes_asked_for_are_read() {
        let conn = database();
        let base = 20_000 * DAY;
        add_visit(&conn, 1, 7, &[(base + 10, 12, true)]);
        conn.execute("UPDATE visits SET is_bot = 1, is_internal = 1", [])
            .unwrap();
        let columns = Columns {
            attributes: AttributeSet::of(Attribute::Device)
                .with(AttributeSet::of(Attribute::Flags)),
            ..Columns::default()
        };
        let [record] = read(&conn, base, base + DAY, columns).try_into().unwrap();
        assert_eq!(
            record.attrs,
            VisitAttributes {
                device: 2,
                is_bot: true,
                is_internal: true,
                ..VisitAttributes::default()
            }
        );
    }

    #[test]
    fn the_range_cuts_by_start_and_an_empty_range_reads_nothing() {
        let conn = database();
        let base = 20_000 * DAY;
        add_visit(&conn, 1, 7, &[(base + 1_000, 12, true)]);
        add_visit(&conn, 2, 7, &[(base + 5_000, 12, true)]);
        let ids = |from, to| -> Vec<i64> {
            read(&conn, from, to, Columns::ALL)
                .iter()
                .map(|r| r.id)
                .collect()
        };
        assert_eq!(ids(base + 2_000, base + DAY), [2]);
        assert_eq!(ids(base, base + 5_000), [1]);
        assert!(ids(base + 5_000, base + 5_000).is_empty());
    }

    #[test]
    fn a_day_is_read_and_handed_over_a_slice_at_a_time_with_every_event() {
        use std::sync::Mutex;

        let conn = database();
        let base = 20_000 * DAY;
        // Seven visits (more than two slices), ids against their starts
        // (late events opened the low ones), each with two events, one of
        // them past the next visits' starts.
        for id in 1..=7 {
            let start = base + (8 - id) * 60_000;
            add_visit(
                &conn,
                id,
                100 + id,
                &[(start, 10 + id, true), (start + 300_000, 5, false)],
            );
        }
        // What happened, in order: a visit read (the gate sees it), or
        // handed over.
        let log: Mutex<Vec<(bool, i64)>> = Mutex::new(Vec::new());
        let gate = |visit: &VisitRecord| {
            log.lock().unwrap().push((false, visit.id));
            Take::Events
        };
        let handed = read_through(&conn, (base, base + DAY), Columns::ALL, &gate, |visit| {
            log.lock().unwrap().push((true, visit.id));
        });
        // Every visit once, with both its events.
        let mut ids: Vec<i64> = handed.iter().map(|v| v.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, (1..=7).collect::<Vec<_>>());
        for visit in &handed {
            let codes: Vec<i64> = visit.events.iter().map(|e| e.code).collect();
            assert_eq!(codes, [10 + visit.id, 5], "visit {}", visit.id);
        }
        // A slice is handed over, in start order, before the next is read.
        let log = log.into_inner().unwrap();
        let slices: Vec<Vec<i64>> = log
            .chunk_by(|a, b| a.0 == b.0)
            .filter(|run| run[0].0)
            .map(|run| run.iter().map(|&(_, id)| id).collect())
            .collect();
        assert_eq!(slices, [vec![3, 2, 1], vec![6, 5, 4], vec![7]]);
    }
}
