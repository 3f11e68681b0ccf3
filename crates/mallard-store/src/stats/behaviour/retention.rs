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
use super::selection::{Bounds, event_matched_visits, visits_query};
use crate::error::StoreError;

/// A visitor's first week (index into the period's weeks) and the weeks in
/// which they visited, as bits relative to it (bit `k`: `k` weeks later).
#[derive(Debug, Clone, Copy)]
struct Seen {
    first: u32,
    weeks: u64,
}

impl Seen {
    /// Records a visit in `week`; visits arrive in any order.
    fn add(&mut self, week: u32) {
        if week < self.first {
            let shift = self.first - week;
            self.weeks = (self.weeks | 1).checked_shl(shift).unwrap_or(0);
            self.first = week;
        }
        if let Some(bit) = 1u64.checked_shl(week - self.first) {
            self.weeks |= bit;
        }
    }
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
    let matched = event_matched_visits(conn, site, query, Bounds::of(site, query))?;
    let mut seen: IdMap<Seen> = IdMap::default();
    if let Some((sql, params)) = visits_query(conn, site, query, "v.id, v.visitor_id, v.start_ts")?
    {
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(&params))?;
        while let Some(row) = rows.next()? {
            if let Some(ids) = &matched
                && !ids.contains(&row.get::<_, i64>(0)?)
            {
                continue;
            }
            let start: i64 = row.get(2)?;
            let week = week_starts
                .partition_point(|&s| s <= start)
                .saturating_sub(1) as u32;
            seen.entry(row.get(1)?)
                .or_insert(Seen {
                    first: week,
                    weeks: 0,
                })
                .add(week);
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
            if entry.weeks & (1 << k) != 0
                && let Some(Some(count)) = cohort.returning.get_mut(k - 1)
            {
                *count += 1;
            }
        }
    }
    Ok(cohorts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_are_relative_to_the_earliest_whatever_the_order() {
        let mut seen = Seen { first: 5, weeks: 0 };
        for week in [5, 7, 3, 3, 70] {
            seen.add(week);
        }
        assert_eq!(seen.first, 3);
        assert_eq!(seen.weeks, 0b10101);
        let mut far = Seen {
            first: 100,
            weeks: 0,
        };
        far.add(100);
        far.add(1);
        assert_eq!((far.first, far.weeks), (1, 1));
    }
}
