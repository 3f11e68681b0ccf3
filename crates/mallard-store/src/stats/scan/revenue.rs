//! Revenue of a range (`GET /api/stats/revenue`): per currency, the total
//! and the number of events that carry an amount, over the whole range and
//! per bucket of a time series, counted from the events the filters select.
//! Amounts of different currencies are never added together.

use std::collections::BTreeMap;

use mallard_core::{DayRange, Interval};
use rusqlite::Connection;

use super::{EventNeed, Screen, Tally, bucket_key, run_screened};
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

impl Tally for RevenueTally<'_> {
    fn event(&mut self, _: &VisitRecord, event: &EventRecord, _: u32) {
        let Some(micros) = event.revenue_micros else {
            return;
        };
        let key = (
            event.currency.unwrap_or(0),
            bucket_key(self.interval, self.tz, event.ts),
        );
        let (total, events) = self.sums.entry(key).or_default();
        *total += i128::from(micros);
        *events += 1;
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
    let columns = Columns {
        revenue: true,
        ..Columns::default()
    };
    let tz = &site.time_zone;
    let tally = run_screened(
        conn,
        site,
        range,
        predicate,
        // Each amount counts in its event's own bucket: the events' times
        // are read unless the whole visit falls in one bucket.
        (columns, EventNeed::AlwaysTimedAcrossBuckets(interval, tz)),
        // Only the events with an amount count.
        Screen {
            entries: Some(EntryNeed::Revenue),
            ..Screen::default()
        },
        || RevenueTally {
            interval,
            tz,
            sums: BTreeMap::new(),
        },
    )?;
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
