//! Revenue of a range (`GET /api/stats/revenue`): per currency, the total
//! and the number of events that carry an amount, over the whole range and
//! per bucket of a time series, counted from the events the filters select.
//! Amounts of different currencies are never added together.
//!
//! Without filters, or with filters on visit attributes only, a packed day
//! with entry events ([`crate::day_segment::entry_events`]) is read from
//! them and its revenue part alone (and the attributes its visits are
//! screened by): a few hundred events instead of the day's visits. Its
//! amounts are those of the visits that start on it, so the other days
//! (kept as rows, or packed before the part existed) are counted from the
//! visits that start on them.

use std::collections::BTreeMap;

use mallard_core::{DayRange, Interval};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, params};

use super::{EventNeed, Screen, Tally, Visits, Window, bucket_key, run_screened_over};
use crate::day_segment::{self, Damaged, DayScreen, entry_events, part};
use crate::error::StoreError;
use crate::stats::period_source::reach_back;
use crate::stats::predicate::Predicate;
use crate::stats::{RevenuePoint, SiteInfo};
use crate::visit_days::DAY_MS;
use crate::visit_record::{Columns, EntryNeed, EventRecord, VisitRecord};

/// The revenue per `(currency id, bucket key)`: the total in micros and the
/// events with an amount (currency id 0: an amount sent without one).
struct RevenueTally<'a> {
    interval: Interval,
    tz: &'a mallard_core::SiteTimeZone,
    sums: BTreeMap<(i64, i64), (i128, i64)>,
}

impl<'a> RevenueTally<'a> {
    fn new(interval: Interval, tz: &'a mallard_core::SiteTimeZone) -> Self {
        Self {
            interval,
            tz,
            sums: BTreeMap::new(),
        }
    }

    /// Adds an amount of `micros` in `currency` at `ts`.
    fn add(&mut self, currency: i64, ts: i64, micros: i64) {
        let key = (currency, bucket_key(self.interval, self.tz, ts));
        let (total, events) = self.sums.entry(key).or_default();
        *total += i128::from(micros);
        *events += 1;
    }
}

impl Tally for RevenueTally<'_> {
    fn event(&mut self, _: &VisitRecord, event: &EventRecord, _: u32) {
        if let Some(micros) = event.revenue_micros {
            self.add(event.currency.unwrap_or(0), event.ts, micros);
        }
    }

    // Every visit is read with its events
    // ([`EventNeed::AlwaysTimedAcrossBuckets`]).
    fn whole_visit(&mut self, _: &VisitRecord, _: u32) {}

    fn visit(&mut self, _: &VisitRecord) {}

    fn merge(&mut self, other: Self) {
        for (key, (total, events)) in other.sums {
            let mine = self.sums.entry(key).or_default();
            mine.0 += total;
            mine.1 += events;
        }
    }
}

/// The revenue of `range` under `predicate`, per currency id (0: none
/// given) and bucket of `interval`, buckets without revenue left out, in
/// currency then bucket order.
pub(in crate::stats) fn revenue(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    interval: Interval,
) -> Result<Vec<(i64, RevenuePoint)>, StoreError> {
    let tally = if predicate.selects_everything() || predicate.attributes_only() {
        Some(from_entry_events(conn, site, range, predicate, interval)?)
    } else {
        from_visits(conn, site, (range, Visits::OfRange), predicate, interval)?
    };
    Ok(tally
        .map(|tally| {
            tally
                .sums
                .into_iter()
                .map(|((currency, key), (micros, events))| {
                    (
                        currency,
                        RevenuePoint {
                            key,
                            micros,
                            events,
                        },
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The revenue of `visits` under `predicate`, counted from their events.
fn from_visits<'a>(
    conn: &Connection,
    site: &'a SiteInfo,
    visits: (DayRange, Visits),
    predicate: &Predicate,
    interval: Interval,
) -> Result<Option<RevenueTally<'a>>, StoreError> {
    let columns = Columns {
        revenue: true,
        ..Columns::default()
    };
    let tz = &site.time_zone;
    run_screened_over(
        conn,
        site,
        visits,
        predicate,
        // Each amount counts in its event's own bucket: the events' times
        // are read unless the whole visit falls in one bucket.
        (columns, EventNeed::AlwaysTimedAcrossBuckets(interval, tz)),
        // Only the events with an amount count.
        Screen {
            entries: Some(EntryNeed::Revenue),
            ..Screen::default()
        },
        || RevenueTally::new(interval, tz),
    )
}

/// The revenue of `range` under `predicate`, without conditions or with
/// conditions on visit attributes only: the days with entry events from
/// them and their revenue parts (and their visits' attributes), the visits
/// that start on the other days from their events.
fn from_entry_events<'a>(
    conn: &Connection,
    site: &'a SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    interval: Interval,
) -> Result<RevenueTally<'a>, StoreError> {
    let tz = &site.time_zone;
    let mut tally = RevenueTally::new(interval, tz);
    if range.days() <= 0 {
        return Ok(tally);
    }
    let window = Window::new(tz, range);
    let to_ms = window.end_ms();
    // The visits that start before this are counted.
    let mut counted_to = reach_back(conn, site.id, window.from_ms)?;
    let count_starting = |tally: &mut RevenueTally<'a>, from_ms: i64, to_ms: i64| {
        let visits = (range, Visits::Starting(from_ms, to_ms));
        if let Some(counted) = from_visits(conn, site, visits, predicate, interval)? {
            tally.merge(counted);
        }
        Ok::<_, StoreError>(())
    };
    // Each day with entry events, with its revenue part (every packed day
    // has one) and, under conditions, its attributes part.
    let conditions = predicate.attribute_conditions();
    let mut stmt = conn.prepare_cached(
        "SELECT e.day, e.data, r.data, CASE WHEN ?6 THEN a.data END FROM day_segments e \
         JOIN day_segments r ON r.site_id = e.site_id AND r.day = e.day AND r.part = ?3 \
         JOIN day_segments a ON a.site_id = e.site_id AND a.day = e.day AND a.part = ?7 \
         WHERE e.site_id = ?1 AND e.part = ?2 AND e.day >= ?4 AND e.day < ?5 ORDER BY e.day",
    )?;
    let mut days = stmt.query(params![
        site.id,
        part::ENTRY_EVENTS,
        part::REVENUE,
        counted_to.div_euclid(DAY_MS),
        to_ms.div_euclid(DAY_MS) + 1,
        !conditions.is_empty(),
        part::ATTRIBUTES,
    ])?;
    while let Some(row) = days.next()? {
        crate::cancel::check(conn)?;
        let day: i64 = row.get(0)?;
        let day_start = day * DAY_MS;
        if counted_to < day_start {
            count_starting(&mut tally, counted_to, day_start)?;
        }
        let damaged = || StoreError::DamagedSegment {
            site_id: site.id,
            day,
        };
        let unsealed = |at: usize| match row.get_ref(at)? {
            ValueRef::Blob(sealed) => day_segment::unseal(sealed).map_err(|Damaged| damaged()),
            _ => Err(damaged()),
        };
        let events = unsealed(1)?;
        let attributes = if conditions.is_empty() {
            None
        } else {
            Some(unsealed(3)?)
        };
        let selected = entry_events::visits(events)
            .and_then(|count| {
                DayScreen::new(attributes, count, conditions)
                    .and_then(|screen| screen.selection(count))
            })
            .map_err(|Damaged| damaged())?;
        entry_events::amounts(
            day_start,
            (events, unsealed(2)?),
            selected.as_deref(),
            |amount| {
                if window.contains(amount.ts) {
                    tally.add(amount.currency, amount.ts, amount.micros);
                }
            },
        )
        .map_err(|Damaged| damaged())?;
        counted_to = counted_to.max(day_start + DAY_MS);
    }
    if counted_to < to_ms {
        count_starting(&mut tally, counted_to, to_ms)?;
    }
    Ok(tally)
}
