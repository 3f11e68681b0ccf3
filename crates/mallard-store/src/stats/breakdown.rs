//! Breakdowns: the top values of one dimension, from the rollups or, with
//! filters, from the matching events and visits; under one `==` on the
//! breakdown's own visit dimension, from that value's rollup rows
//! ([`own_row`]).

use mallard_core::Dimension;
use rusqlite::Connection;

use super::labels::{dim_id, labels};
use super::predicate::Predicate;
use super::scan::BreakdownSpec;
use super::{Breakdown, BreakdownRow, SiteInfo, StatsQuery, Totals, rollup, scan};
use crate::dims::DimKind;
use crate::error::StoreError;
use crate::rollups::kind;

/// The rollup kind of a dimension.
pub(crate) fn kind_of(dimension: &Dimension) -> i64 {
    match dimension {
        Dimension::Page => kind::PAGE,
        Dimension::EntryPage => kind::ENTRY_PAGE,
        Dimension::ExitPage => kind::EXIT_PAGE,
        Dimension::Source => kind::SOURCE,
        Dimension::Referrer => kind::REFERRER,
        Dimension::UtmSource => kind::UTM_SOURCE,
        Dimension::UtmMedium => kind::UTM_MEDIUM,
        Dimension::UtmCampaign => kind::UTM_CAMPAIGN,
        Dimension::UtmTerm => kind::UTM_TERM,
        Dimension::UtmContent => kind::UTM_CONTENT,
        Dimension::Browser => kind::BROWSER,
        Dimension::Os => kind::OS,
        Dimension::Device => kind::DEVICE,
        Dimension::Country => kind::COUNTRY,
        Dimension::Region => kind::REGION,
        Dimension::City => kind::CITY,
        Dimension::ScreenSize => kind::SCREEN,
        Dimension::Event => kind::EVENT,
        Dimension::Prop(_) => kind::PROP,
        // Never a breakdown: `from_breakdown_name` gives no goal dimension.
        Dimension::Goal => kind::EVENT,
    }
}

/// Orders rows by the breakdown's counter (descending), ties by value id, and
/// keeps the first `limit`.
pub(crate) fn sort_and_truncate(rows: &mut Vec<(i64, Totals)>, order: Breakdown, limit: usize) {
    rows.sort_unstable_by(|(va, a), (vb, b)| {
        order
            .metric(b)
            .cmp(&order.metric(a))
            .then_with(|| va.cmp(vb))
    });
    rows.truncate(limit);
}

/// What a breakdown of `dimension` counts, in which order, and how many rows
/// it keeps; `None` for a property key never stored (it has no values).
pub(crate) fn spec(
    conn: &Connection,
    dimension: &Dimension,
    limit: usize,
) -> Result<Option<BreakdownSpec>, StoreError> {
    let prop_key = match dimension {
        Dimension::Prop(key) => match dim_id(conn, DimKind::PropKey, key)? {
            Some(id) => Some(id),
            None => return Ok(None),
        },
        _ => None,
    };
    Ok(Some(BreakdownSpec {
        row_kind: kind_of(dimension),
        prop_key,
        order: Breakdown::of(dimension),
        with_visitors: Breakdown::counts_visitors(dimension),
        limit,
    }))
}

/// Names the values of a breakdown's rows.
pub(crate) fn label(
    conn: &Connection,
    row_kind: i64,
    rows: Vec<(i64, Totals)>,
) -> Result<Vec<BreakdownRow>, StoreError> {
    let names = labels(conn, row_kind, rows.iter().map(|(v, _)| *v))?;
    Ok(rows
        .into_iter()
        .map(|(value, totals)| BreakdownRow {
            value: names.get(&value).cloned().unwrap_or_default(),
            totals,
        })
        .collect())
}

/// Runs a breakdown and labels its rows.
pub(crate) fn run(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    dimension: &Dimension,
    limit: usize,
) -> Result<Vec<BreakdownRow>, StoreError> {
    let Some(spec) = spec(conn, dimension, limit)? else {
        return Ok(Vec::new());
    };
    let rows = if query.filters.is_empty() && kind::is_stored(spec.row_kind) {
        rollup::breakdown(
            conn,
            site,
            query.range,
            spec.row_kind,
            spec.prop_key,
            spec.order,
            spec.with_visitors,
            limit,
        )?
    } else {
        let predicate = Predicate::compile(conn, &query.filters)?;
        match own_row(&predicate, &spec) {
            Some(row) => of_own_row(conn, site, query.range, row, &spec)?,
            None => scan::breakdown(conn, site, query.range, &predicate, spec)?,
        }
    };
    label(conn, spec.row_kind, rows)
}

/// The rollup row that answers a breakdown under `predicate` alone: when
/// the predicate is one `==` on the breakdown's own visit dimension (as a
/// click on a row of it makes), every visit it selects has that one value,
/// so the breakdown is that value's row, as unfiltered
/// ([`super::single_visit_row`]).
pub(super) fn own_row(predicate: &Predicate, spec: &BreakdownSpec) -> Option<(i64, i64)> {
    super::single_visit_row(predicate).filter(|&(row_kind, _)| row_kind == spec.row_kind)
}

/// The rows of a breakdown whose filter selects the visits of the rollup
/// row `row` of its own dimension ([`own_row`]): that value with its
/// totals, if it counts anything in the range.
pub(super) fn of_own_row(
    conn: &Connection,
    site: &SiteInfo,
    range: mallard_core::DayRange,
    row: (i64, i64),
    spec: &BreakdownSpec,
) -> Result<Vec<(i64, Totals)>, StoreError> {
    let mut totals = rollup::main_of_value(conn, site, range, row)?;
    if !spec.with_visitors {
        totals.visitors = 0;
    }
    let mut rows = vec![(row.1, totals)];
    rows.retain(|(_, totals)| spec.order.metric(totals) > 0);
    sort_and_truncate(&mut rows, spec.order, spec.limit);
    Ok(rows)
}
