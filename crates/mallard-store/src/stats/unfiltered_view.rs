//! The dashboard's whole view without filters: its panels are independent
//! queries of the rollups, answered on two connections at once.

use std::sync::atomic::{AtomicUsize, Ordering};

use mallard_core::{Dimension, Interval};

use super::{BreakdownRow, SeriesPoint, SiteInfo, StatsQuery, StatsView, Totals};
use crate::error::StoreError;
use crate::reader::ReadConn;

/// One panel of an unfiltered view, answered on its own.
enum ViewPanel {
    Main(Totals),
    Series(Vec<SeriesPoint>),
    Breakdown(Vec<BreakdownRow>),
}

/// [`ReadConn::stats_view`] without filters: each panel is its own
/// query of the rollups, so two connections take the panels from one
/// list, the time series first (the costliest with the page breakdown),
/// and answer them on two cores ([`ReadConn::on_two`]).
pub(super) fn view(
    db: &ReadConn<'_>,
    site: &SiteInfo,
    query: &StatsQuery,
    interval: Interval,
    dimensions: &[Dimension],
    limit: usize,
) -> Result<StatsView, StoreError> {
    let next = AtomicUsize::new(0);
    let answer = |db: &ReadConn<'_>| -> Result<Vec<(usize, ViewPanel)>, StoreError> {
        let mut answered = Vec::new();
        loop {
            let at = next.fetch_add(1, Ordering::Relaxed);
            let panel = match at {
                0 => ViewPanel::Series(db.stats_timeseries(site, query, interval)?),
                1 => ViewPanel::Main(db.stats_main(site, query)?),
                _ => match dimensions.get(at - 2) {
                    Some(dimension) => {
                        ViewPanel::Breakdown(db.stats_breakdown(site, query, dimension, limit)?)
                    }
                    None => return Ok(answered),
                },
            };
            answered.push((at, panel));
        }
    };
    let (own, theirs) = db.on_two(answer)?;
    let mut panels: Vec<(usize, ViewPanel)> = own
        .into_iter()
        .chain(theirs.into_iter().flatten())
        .collect();
    panels.sort_unstable_by_key(|(at, _)| *at);
    let mut view = StatsView {
        main: Totals::default(),
        series: Vec::new(),
        breakdowns: Vec::with_capacity(dimensions.len()),
    };
    for (_, panel) in panels {
        match panel {
            ViewPanel::Main(main) => view.main = main,
            ViewPanel::Series(series) => view.series = series,
            ViewPanel::Breakdown(rows) => view.breakdowns.push(rows),
        }
    }
    Ok(view)
}
