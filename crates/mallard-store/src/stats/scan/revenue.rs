//! Revenue of a range (`GET /api/stats/revenue`): per currency, the total
//! and the number of events that carry an amount, over the whole range and
//! per bucket of a time series, counted from the events the filters select.
//! Amounts of different currencies are never added together.
//!
//! Without filters, or with filters on visit attributes only, a packed day
//! with entry events is read from them and its revenue part
//! ([`super::entry_days`]).

use std::collections::BTreeMap;

use mallard_core::{DayRange, Interval};
use rusqlite::Connection;

use super::entry_days::{EntriesAsked, fold_entry_days};
use super::{EventNeed, Screen, Tally, Visits, bucket_key, run_screened_over};
use crate::day_segment::{entry_events, part};
use crate::error::StoreError;
use crate::stats::predicate::Predicate;
use crate::stats::{RevenuePoint, SiteInfo};
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
    let tally = if predicate.attributes_only() {
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
/// conditions on visit attributes only ([`fold_entry_days`]).
fn from_entry_events<'a>(
    conn: &Connection,
    site: &'a SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    interval: Interval,
) -> Result<RevenueTally<'a>, StoreError> {
    let asked = EntriesAsked {
        part: part::REVENUE,
        visitors: false,
    };
    fold_entry_days(
        conn,
        site,
        (range, predicate),
        asked,
        RevenueTally::new(interval, &site.time_zone),
        |visits| from_visits(conn, site, (range, visits), predicate, interval),
        |tally, window, day| {
            entry_events::amounts(day.start_ms, day.parts, day.selected, |amount| {
                if window.contains(amount.ts) {
                    tally.add(amount.currency, amount.ts, amount.micros);
                }
            })
        },
    )
}
