//! Stats computed in memory from loaded events and visits: the filtered path
//! of every query, with exact visitor counts.

use std::collections::{HashMap, HashSet};

use mallard_core::Interval;

use super::{Breakdown, SeriesPoint, SiteInfo, Totals};
use crate::rollups::{kind, prop_value, visit_dims};
use crate::visits::VisitAttributes;

/// One event of the range with what the aggregations need.
#[derive(Debug, Clone)]
pub(crate) struct EventRec {
    pub(crate) ts: i64,
    pub(crate) visitor_id: i64,
    pub(crate) name: i64,
    pub(crate) pathname: i64,
    pub(crate) pageview: bool,
    /// The value of the property asked for by a props breakdown, if the event has it.
    pub(crate) prop: Option<(i64, i64)>,
    pub(crate) attrs: VisitAttributes,
}

/// One visit that starts in the range.
#[derive(Debug, Clone)]
pub(crate) struct VisitRec {
    pub(crate) visitor_id: i64,
    pub(crate) start_ts: i64,
    pub(crate) end_ts: i64,
    pub(crate) pageviews: i64,
    pub(crate) entry_page: Option<i64>,
    pub(crate) exit_page: Option<i64>,
    pub(crate) attrs: VisitAttributes,
}

/// The events and visits a filtered query counts.
#[derive(Debug, Default)]
pub(crate) struct RawData {
    pub(crate) events: Vec<EventRec>,
    pub(crate) visits: Vec<VisitRec>,
}

fn add_event(totals: &mut Totals, event: &EventRec) {
    totals.pageviews += i64::from(event.pageview);
    totals.events += 1;
}

fn add_visit(totals: &mut Totals, visit: &VisitRec) {
    totals.visits += 1;
    totals.bounces += i64::from(visit.pageviews == 1);
    totals.visit_pageviews += visit.pageviews;
    totals.duration_ms += visit.end_ts - visit.start_ts;
}

/// Totals over all loaded events and visits.
pub(crate) fn totals(data: &RawData) -> Totals {
    let mut totals = Totals::default();
    let mut visitors = HashSet::new();
    for event in &data.events {
        add_event(&mut totals, event);
        visitors.insert(event.visitor_id);
    }
    for visit in &data.visits {
        add_visit(&mut totals, visit);
    }
    totals.visitors = visitors.len() as u64;
    totals
}

/// Totals per bucket.
pub(crate) fn timeseries(
    data: &RawData,
    site: &SiteInfo,
    interval: Interval,
    keys: &[i64],
) -> Vec<SeriesPoint> {
    let tz = &site.time_zone;
    let bucket = |ts: i64| match interval {
        Interval::Hour => tz.local_hour(ts),
        _ => interval.bucket_start_day(tz.local_day(ts)),
    };
    let mut buckets: HashMap<i64, (Totals, HashSet<i64>)> = HashMap::new();
    for event in &data.events {
        let (totals, visitors) = buckets.entry(bucket(event.ts)).or_default();
        add_event(totals, event);
        visitors.insert(event.visitor_id);
    }
    for visit in &data.visits {
        add_visit(
            &mut buckets.entry(bucket(visit.start_ts)).or_default().0,
            visit,
        );
    }
    keys.iter()
        .map(|&key| SeriesPoint {
            key,
            totals: buckets
                .get(&key)
                .map_or_else(Totals::default, |(t, v)| Totals {
                    visitors: v.len() as u64,
                    ..*t
                }),
        })
        .collect()
}

fn visit_value(row_kind: i64, attrs: &VisitAttributes) -> Option<i64> {
    visit_dims(attrs)
        .into_iter()
        .find(|(k, _)| *k == row_kind)
        .map(|(_, v)| v)
}

/// The rollup value an event counts for in `row_kind`, if any.
fn event_value(row_kind: i64, event: &EventRec) -> Option<i64> {
    match row_kind {
        kind::PAGE => event.pageview.then_some(event.pathname),
        kind::EVENT => (!event.pageview).then_some(event.name),
        kind::PROP => (!event.pageview)
            .then_some(event.prop)
            .flatten()
            .map(|(k, v)| prop_value(k, v)),
        kind::ENTRY_PAGE | kind::EXIT_PAGE => None,
        _ => visit_value(row_kind, &event.attrs),
    }
}

/// The rollup value a visit counts for in `row_kind`, if any.
fn visit_row_value(row_kind: i64, visit: &VisitRec) -> Option<i64> {
    match row_kind {
        kind::ENTRY_PAGE => Some(visit.entry_page.unwrap_or(0)),
        kind::EXIT_PAGE => Some(visit.exit_page.unwrap_or(0)),
        kind::PAGE | kind::EVENT | kind::PROP => None,
        _ => visit_value(row_kind, &visit.attrs),
    }
}

/// The top `limit` values of `row_kind` with their totals.
pub(crate) fn breakdown(
    data: &RawData,
    row_kind: i64,
    order: Breakdown,
    with_visitors: bool,
    limit: usize,
) -> Vec<(i64, Totals)> {
    let mut by_value: HashMap<i64, (Totals, HashSet<i64>)> = HashMap::new();
    for event in &data.events {
        if let Some(value) = event_value(row_kind, event) {
            let (totals, visitors) = by_value.entry(value).or_default();
            add_event(totals, event);
            visitors.insert(event.visitor_id);
        }
    }
    for visit in &data.visits {
        if let Some(value) = visit_row_value(row_kind, visit) {
            let totals = &mut by_value.entry(value).or_default().0;
            if row_kind == kind::EXIT_PAGE {
                // Exit pages count the visits that left from them, nothing else.
                totals.visits += 1;
            } else {
                add_visit(totals, visit);
            }
        }
    }
    let mut rows: Vec<(i64, Totals)> = by_value
        .into_iter()
        .map(|(value, (totals, visitors))| {
            let visitors = if with_visitors {
                visitors.len() as u64
            } else {
                0
            };
            (value, Totals { visitors, ..totals })
        })
        .filter(|(_, totals)| order.metric(totals) > 0)
        .collect();
    super::breakdown::sort_and_truncate(&mut rows, order, limit);
    rows
}
