//! Breakdowns: the top values of one dimension, from the rollups or, with
//! filters, from the matching events and visits; under one `==` or `!=` on
//! the breakdown's own visit dimension, from the rollups ([`own_row`]).

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
            Some(own) => of_own_row(conn, site, query.range, own, &spec)?,
            None => scan::breakdown(conn, site, query.range, &predicate, spec)?,
        }
    };
    label(conn, spec.row_kind, rows)
}

/// The rollup rows that answer a breakdown under a predicate on its own
/// dimension alone ([`own_row`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OwnRow {
    /// One `==` (as a click on a row of the breakdown makes): every visit
    /// it selects has that one value, so the breakdown is that value's
    /// row.
    Only((i64, i64)),
    /// One `!=`: every visit it selects has another value, so the
    /// breakdown is the unfiltered one without that value's row.
    AllBut((i64, i64)),
}

/// The rollup rows that answer a breakdown under `predicate` when it is
/// one `==` or `!=` on the breakdown's own visit dimension, with rollup
/// rows ([`rollup::attribute_row`]).
pub(super) fn own_row(predicate: &Predicate, spec: &BreakdownSpec) -> Option<OwnRow> {
    let (attribute, value, is) = predicate.single_attribute()?;
    let row = rollup::attribute_row(attribute, value).filter(|&(kind, _)| kind == spec.row_kind)?;
    Some(if is {
        OwnRow::Only(row)
    } else {
        OwnRow::AllBut(row)
    })
}

/// The rows of a breakdown whose filter is one `==` or `!=` on its own
/// dimension ([`own_row`]), from the rollups.
pub(super) fn of_own_row(
    conn: &Connection,
    site: &SiteInfo,
    range: mallard_core::DayRange,
    own: OwnRow,
    spec: &BreakdownSpec,
) -> Result<Vec<(i64, Totals)>, StoreError> {
    match own {
        OwnRow::Only(row) => {
            let mut totals = rollup::main_of_value(conn, site, range, row)?;
            if !spec.with_visitors {
                totals.visitors = 0;
            }
            let counts = spec.order.metric(&totals) > 0;
            Ok(if counts && spec.limit > 0 {
                vec![(row.1, totals)]
            } else {
                Vec::new()
            })
        }
        OwnRow::AllBut((row_kind, value)) => {
            // One row more than kept, for the one left out.
            let mut rows = rollup::breakdown(
                conn,
                site,
                range,
                row_kind,
                spec.prop_key,
                spec.order,
                spec.with_visitors,
                spec.limit.saturating_add(1),
            )?;
            rows.retain(|&(kept, _)| kept != value);
            rows.truncate(spec.limit);
            Ok(rows)
        }
    }
}
