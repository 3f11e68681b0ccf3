//! Sessions: the visits of the period one by one, newest (or oldest) first,
//! a page at a time.

use std::ops::ControlFlow;

use rusqlite::Connection;

use super::super::labels::DimTexts;
use super::super::{SiteInfo, StatsQuery};
use super::source::{Bounds, VisitFilter, fold_matching};
use super::{SessionRow, VisitLabels};
use crate::error::StoreError;
use crate::visit_record::{AttributeSet, Columns, VisitRecord};

const DAY_MS: i64 = 86_400_000;

/// Visits that start in the period and meet the filters, ordered by start time
/// (newest first unless `oldest_first`; ties by visit id in the same
/// direction), `offset` rows skipped, at most `limit` returned.
///
/// The period is read one UTC day at a time, in the list's order, through the
/// period's source ([`super::source`]); the walk stops as soon as the page is
/// full, so the first pages read a day or two.
pub(crate) fn list(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    limit: usize,
    offset: usize,
    oldest_first: bool,
) -> Result<Vec<SessionRow>, StoreError> {
    let mut out = Vec::new();
    each(conn, site, query, limit, offset, oldest_first, &mut |row| {
        out.push(row);
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// The parts of the period on each UTC day, in the list's order.
fn days_of(bounds: Bounds, oldest_first: bool) -> Vec<Bounds> {
    if bounds.from >= bounds.to {
        return Vec::new();
    }
    let mut days: Vec<Bounds> = (bounds.from.div_euclid(DAY_MS)
        ..=(bounds.to - 1).div_euclid(DAY_MS))
        .map(|day| Bounds {
            from: (day * DAY_MS).max(bounds.from),
            to: ((day + 1) * DAY_MS).min(bounds.to),
        })
        .collect();
    if !oldest_first {
        days.reverse();
    }
    days
}

/// What the list keeps of a visit until it is handed over: the visit
/// without its events.
fn kept(visit: &VisitRecord) -> VisitRecord {
    VisitRecord {
        id: visit.id,
        start_ts: visit.start_ts,
        end_ts: visit.end_ts,
        pageviews: visit.pageviews,
        events_count: visit.events_count,
        entry_page: visit.entry_page,
        exit_page: visit.exit_page,
        attrs: visit.attrs,
        ..VisitRecord::default()
    }
}

/// Like [`list`], handing each visit to `visit` as it is read instead of
/// collecting them; `visit` may stop the walk early. Returns how many visits
/// were handed over.
pub(crate) fn each(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    limit: usize,
    offset: usize,
    oldest_first: bool,
    visit: &mut dyn FnMut(SessionRow) -> ControlFlow<()>,
) -> Result<usize, StoreError> {
    let bounds = Bounds::of(site, query);
    let filter = VisitFilter::compile(conn, query, bounds)?;
    if filter.matches_nothing() || limit == 0 {
        return Ok(0);
    }
    let columns = Columns {
        ids: true,
        visit: true,
        pages: true,
        attributes: AttributeSet::ALL,
        ..Columns::default()
    };
    let mut texts = DimTexts::default();
    let mut handed = 0;
    let mut skipped = 0;
    for day in days_of(bounds, oldest_first) {
        crate::cancel::check(conn)?;
        // One day's matching visits (without their events) at a time.
        let mut visits: Vec<VisitRecord> =
            fold_matching(conn, site.id, day, &filter, columns, Vec::new, |list, v| {
                list.push(kept(v));
            })?
            .into_iter()
            .flatten()
            .collect();
        visits.sort_unstable_by_key(|v| (v.start_ts, v.id));
        if !oldest_first {
            visits.reverse();
        }
        for record in visits {
            if skipped < offset {
                skipped += 1;
                continue;
            }
            let row = SessionRow {
                visit_id: record.id,
                start_ts: record.start_ts,
                end_ts: record.end_ts,
                pageviews: record.pageviews,
                events: record.events_count,
                entry_page: texts.get(conn, record.entry_page)?,
                exit_page: texts.get(conn, record.exit_page)?,
                visit: VisitLabels::of(conn, &record.attrs, &mut texts)?,
            };
            handed += 1;
            if visit(row).is_break() || handed == limit {
                return Ok(handed);
            }
        }
    }
    Ok(handed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_cover_the_period_in_the_list_order() {
        let bounds = Bounds {
            from: 3 * DAY_MS - 7,
            to: 5 * DAY_MS + 9,
        };
        let oldest = days_of(bounds, true);
        let spans: Vec<(i64, i64)> = oldest.iter().map(|d| (d.from, d.to)).collect();
        assert_eq!(
            spans,
            [
                (3 * DAY_MS - 7, 3 * DAY_MS),
                (3 * DAY_MS, 4 * DAY_MS),
                (4 * DAY_MS, 5 * DAY_MS),
                (5 * DAY_MS, 5 * DAY_MS + 9)
            ]
        );
        let mut newest = days_of(bounds, false);
        newest.reverse();
        assert_eq!(newest, oldest);
        assert!(days_of(Bounds { from: 5, to: 5 }, true).is_empty());
    }
}
