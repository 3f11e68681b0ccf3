//! Retention: weekly cohorts of visitors by the week of their first visit in
//! the period, and how many of each cohort came back 1..N weeks later.
//!
//! Weeks are Monday-based weeks of the site's time zone, cut to the period
//! (the first and last week may be partial). A visitor is a visitor id, which
//! for the browser tracker rotates every UTC day (see `mallard_core::visitor`),
//! so such visitors cannot come back in a later week; ids from SDKs that send
//! their own anonymous id are stable. Only the visits that start in the period
//! and meet the filters count, for the first visit and for the returns.

use mallard_core::Interval;
use rusqlite::{Connection, params_from_iter};

use super::super::rollup::IdMap;
use super::super::{SiteInfo, StatsQuery};
use super::Cohort;
use super::selection::{Bounds, event_matched_visits, visit_conditions};
use crate::error::StoreError;

/// A visitor's first week (index into the period's weeks) and the weeks after
/// it in which they came back (bit `k` for `k` weeks later).
#[derive(Debug, Clone, Copy)]
struct Seen {
    first: u32,
    returned: u64,
}

/// The cohorts of the period, oldest first, each with `weeks` return counts
/// (`None` for weeks after the period's end).
pub(crate) fn run(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    weeks: usize,
) -> Result<Vec<Cohort>, StoreError> {
    let buckets = Interval::Week
        .buckets(query.range)
        .map_err(|e| StoreError::InvalidData(e.to_string()))?;
    // The first instant of each week within the period.
    let week_starts: Vec<i64> = buckets
        .iter()
        .map(|&day| site.time_zone.day_start_ms(day.max(query.range.start)))
        .collect();
    let bounds = Bounds::of(site, query);
    let matched = event_matched_visits(conn, site, query, bounds)?;
    let (sql, filter_params) = visit_conditions(conn, query, 4)?;
    let mut params = vec![site.id, bounds.from, bounds.to];
    params.extend(filter_params);
    let mut stmt = conn.prepare(&format!(
        "SELECT v.id, v.visitor_id, v.start_ts FROM visits v WHERE v.site_id = ?1 \
         AND v.start_ts >= ?2 AND v.start_ts < ?3{sql} ORDER BY v.start_ts"
    ))?;
    let mut rows = stmt.query(params_from_iter(&params))?;
    let mut seen: IdMap<Seen> = IdMap::default();
    while let Some(row) = rows.next()? {
        if let Some(ids) = &matched
            && !ids.contains(&row.get::<_, i64>(0)?)
        {
            continue;
        }
        let visitor: i64 = row.get(1)?;
        let start: i64 = row.get(2)?;
        let week = week_starts
            .partition_point(|&s| s <= start)
            .saturating_sub(1) as u32;
        let entry = seen.entry(visitor).or_insert(Seen {
            first: week,
            returned: 0,
        });
        let later = (week - entry.first.min(week)) as usize;
        if (1..=weeks).contains(&later) && later < 64 {
            entry.returned |= 1 << later;
        }
    }
    let mut cohorts: Vec<Cohort> = buckets
        .iter()
        .enumerate()
        .map(|(i, &day)| Cohort {
            week_start: day,
            visitors: 0,
            returning: (1..=weeks)
                .map(|k| (i + k < buckets.len()).then_some(0))
                .collect(),
        })
        .collect();
    for entry in seen.values() {
        let cohort = &mut cohorts[entry.first as usize];
        cohort.visitors += 1;
        for k in 1..=weeks {
            if entry.returned & (1 << k) != 0
                && let Some(Some(count)) = cohort.returning.get_mut(k - 1)
            {
                *count += 1;
            }
        }
    }
    Ok(cohorts)
}
