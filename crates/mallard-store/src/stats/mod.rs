//! The queries of the stats API.
//!
//! Every query runs on a [`ReadConn`] for one site and a range of local days
//! ([`StatsQuery`]). Unfiltered queries read the pre-aggregated rollups
//! ([`crate::rollups`]): their cost depends on the number of days and distinct
//! dimension values, not on the number of events. Filtered queries cannot be
//! answered from one-dimensional rollups: their filters are compiled once
//! into a [`predicate::Predicate`] and they count in one pass over the
//! period's visits ([`scan`], reading [`period_source`]), with memory bounded
//! by the distinct values counted, not by the events read.
//!
//! Metrics, for the days of the range (local days of the site's time zone):
//! - `visitors`: distinct visitors with at least one event in the range
//!   (exact for small sets, a HyperLogLog estimate beyond, see [`crate::hll`]);
//! - `pageviews`, `events`: page views and all events in the range;
//! - `visits`, `bounces`, `visit_pageviews`, `duration_ms`: over the visits that
//!   *start* in the range; a bounce is a visit with exactly one page view, and
//!   a visit's duration is its last event's time minus its first.

pub(crate) mod behaviour;
mod breakdown;
pub(crate) mod id_set;
mod imported;
pub(crate) mod labels;
pub(crate) mod period_source;
mod predicate;
mod raw;
mod rollup;
mod scan;
mod site;
mod unfiltered_view;

use mallard_core::{DayRange, Dimension, Filter, Interval};

pub use behaviour::{
    Cohort, ExportEvent, Flow, FlowRow, FunnelStep, Neighbour, Sequence, SessionRow, VisitLabels,
};
pub(crate) use scan::{CLOCK_SET_BACK_MARGIN_MS, GoalCounter, goal_counters_by_day};
pub use site::SiteInfo;
pub(crate) use site::by_id as site_by_id;

use crate::error::StoreError;
use crate::reader::ReadConn;
use predicate::Predicate;

/// What a stats query is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatsQuery {
    /// The local days to count.
    pub range: DayRange,
    /// Conditions every counted event and visit must meet.
    pub filters: Vec<Filter>,
    /// Whether imported daily aggregates ([`crate::imported_daily`]) count
    /// too: only without filters, for the totals, day-sized (or larger)
    /// time series and the breakdowns they have (see [`imported`]).
    pub with_imported: bool,
}

/// Counters over a range (or a bucket, or a breakdown value).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Distinct visitors.
    pub visitors: u64,
    /// Page views.
    pub pageviews: i64,
    /// Events of any name, page views included.
    pub events: i64,
    /// Visits that started in the range.
    pub visits: i64,
    /// Of those, visits with exactly one page view.
    pub bounces: i64,
    /// The page views of those visits, wherever they fell.
    pub visit_pageviews: i64,
    /// The summed durations of those visits, in milliseconds.
    pub duration_ms: i64,
}

impl Totals {
    /// Adds `other`'s counters, visitors aside (distinct visitors of two
    /// sets do not add up).
    pub(crate) fn add_counters(&mut self, other: &Totals) {
        self.pageviews += other.pageviews;
        self.events += other.events;
        self.visits += other.visits;
        self.bounces += other.bounces;
        self.visit_pageviews += other.visit_pageviews;
        self.duration_ms += other.duration_ms;
    }

    fn add_counts(&mut self, counts: &[i64; 6]) {
        self.pageviews += counts[0];
        self.events += counts[1];
        self.visits += counts[2];
        self.bounces += counts[3];
        self.visit_pageviews += counts[4];
        self.duration_ms += counts[5];
    }
}

/// One bucket of a time series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesPoint {
    /// The bucket key: a local hour number for hourly series, else the local
    /// day number of the bucket's first day.
    pub key: i64,
    /// The bucket's counters.
    pub totals: Totals,
}

/// The revenue of one currency in one bucket of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevenuePoint {
    /// The bucket key, as [`SeriesPoint::key`].
    pub key: i64,
    /// The sum of the amounts, in millionths of the currency's unit.
    pub micros: i128,
    /// The events that carry an amount.
    pub events: i64,
}

/// The revenue of one currency over a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyRevenue {
    /// The ISO 4217 code, or `(unknown)` for amounts sent without one.
    pub currency: String,
    /// The buckets with revenue, in time order.
    pub points: Vec<RevenuePoint>,
}

/// What one goal converted ([`ReadConn::stats_goal_conversions`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoalConversions {
    /// `visitors` who converted and `events` that did.
    pub totals: Totals,
    /// The revenue of the converting events, per currency, most events
    /// first (amounts of different currencies are never added up).
    pub revenue: Vec<GoalRevenue>,
}

/// The revenue of a goal's conversions in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalRevenue {
    /// The ISO 4217 code, or `(unknown)` for amounts sent without one.
    pub currency: String,
    /// The amounts' sum, in millionths of the currency's unit.
    pub micros: i128,
    /// The converting events that carried an amount.
    pub events: i64,
}

/// One row of a breakdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakdownRow {
    /// The dimension value, `(unknown)` when missing.
    pub value: String,
    /// The row's counters. For entry and exit pages `visitors` is not counted
    /// (see [`Breakdown::counts_visitors`]).
    pub totals: Totals,
}

/// The whole view of a range: its totals, its time series and several
/// breakdowns, as [`ReadConn::stats_view`] answers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsView {
    /// The totals, as [`ReadConn::stats_main`] answers them.
    pub main: Totals,
    /// The time series, as [`ReadConn::stats_timeseries`] answers it.
    pub series: Vec<SeriesPoint>,
    /// The breakdowns in the order asked for, each as
    /// [`ReadConn::stats_breakdown`] answers it.
    pub breakdowns: Vec<Vec<BreakdownRow>>,
}

/// A breakdown limit that keeps every value.
pub(crate) const ALL_VALUES: usize = 1 << 40;

/// Which counter orders a breakdown, and whether it counts visitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakdown {
    /// Rows ordered by page views (pages).
    ByPageviews,
    /// Rows ordered by visits (visit-level dimensions).
    ByVisits,
    /// Rows ordered by events (custom events and their properties).
    ByEvents,
}

impl Breakdown {
    /// How rows of `dimension` are ordered.
    pub fn of(dimension: &Dimension) -> Self {
        match dimension {
            Dimension::Page => Self::ByPageviews,
            Dimension::Event | Dimension::Prop(_) => Self::ByEvents,
            _ => Self::ByVisits,
        }
    }

    /// Whether rows of `dimension` carry a visitor count: all but entry and
    /// exit pages, whose value changes while a visit grows.
    pub fn counts_visitors(dimension: &Dimension) -> bool {
        !matches!(dimension, Dimension::EntryPage | Dimension::ExitPage)
    }

    fn metric(self, totals: &Totals) -> i64 {
        match self {
            Self::ByPageviews => totals.pageviews,
            Self::ByVisits => totals.visits,
            Self::ByEvents => totals.events,
        }
    }
}

impl ReadConn<'_> {
    /// The site with this domain, or `None` when it never received an event.
    pub fn stats_site(&self, domain: &str) -> Result<Option<SiteInfo>, StoreError> {
        site::lookup(self.connection(), domain)
    }

    /// The totals of the range.
    pub fn stats_main(&self, site: &SiteInfo, query: &StatsQuery) -> Result<Totals, StoreError> {
        if query.filters.is_empty() {
            let mut totals = rollup::main(self.connection(), site, query.range)?;
            if let Some(window) = imported::window(site, query) {
                let more = imported::main(self.connection(), site.id, window)?;
                imported::add(&mut totals, &more);
            }
            Ok(totals)
        } else {
            let predicate = Predicate::compile(self.connection(), &query.filters)?;
            // One `==` on a visit dimension with rollup rows is that row
            // (the writer files every visit under its value).
            match single_visit_row(&predicate) {
                Some(row) => rollup::main_of_value(self.connection(), site, query.range, row),
                None => scan::main(self.connection(), site, query.range, &predicate),
            }
        }
    }

    /// The time series of the range: every bucket of `interval`, zeros included.
    pub fn stats_timeseries(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        interval: Interval,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        let keys = interval
            .buckets(query.range)
            .map_err(|e| StoreError::InvalidData(e.to_string()))?;
        if query.filters.is_empty() {
            let mut points =
                rollup::timeseries(self.connection(), site, query.range, interval, &keys)?;
            if let Some(window) = imported::window(site, query) {
                imported::add_to_series(self.connection(), site.id, window, interval, &mut points)?;
            }
            Ok(points)
        } else {
            let predicate = Predicate::compile(self.connection(), &query.filters)?;
            if interval != Interval::Hour
                && let Some(row) = single_visit_row(&predicate)
            {
                return rollup::timeseries_of_value(
                    self.connection(),
                    site,
                    query.range,
                    interval,
                    &keys,
                    row,
                );
            }
            scan::timeseries(
                self.connection(),
                site,
                query.range,
                &predicate,
                interval,
                &keys,
            )
        }
    }

    /// The top `limit` values of `dimension` in the range, ordered by the
    /// counter of [`Breakdown::of`] (descending, ties by internal id).
    pub fn stats_breakdown(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        dimension: &Dimension,
        limit: usize,
    ) -> Result<Vec<BreakdownRow>, StoreError> {
        let conn = self.connection();
        let imported_rows = match (
            imported::window(site, query),
            mallard_core::plausible_export::ImportedDimension::of(dimension),
        ) {
            (Some(window), Some(imported)) => {
                imported::breakdown(conn, site.id, window, imported, Breakdown::of(dimension))?
            }
            _ => Vec::new(),
        };
        if imported_rows.is_empty() {
            return breakdown::run(conn, site, query, dimension, limit);
        }
        imported::merged_breakdown(conn, site, query, dimension, imported_rows, limit)
    }

    /// The totals, the time series over `interval` and the top `limit`
    /// values of each of `dimensions`, each equal to what its own query
    /// answers. Unfiltered, each part reads the rollups, on two cores
    /// ([`unfiltered_view::view`]); filtered, all of them are counted in one pass
    /// over the period's visits, so a whole dashboard costs one read of the
    /// period instead of one per panel.
    pub fn stats_view(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        interval: Interval,
        dimensions: &[Dimension],
        limit: usize,
    ) -> Result<StatsView, StoreError> {
        if query.filters.is_empty() {
            return unfiltered_view::view(self, site, query, interval, dimensions, limit);
        }
        let conn = self.connection();
        let keys = interval
            .buckets(query.range)
            .map_err(|e| StoreError::InvalidData(e.to_string()))?;
        let predicate = Predicate::compile(conn, &query.filters)?;
        let specs = dimensions
            .iter()
            .map(|dimension| breakdown::spec(conn, dimension, limit))
            .collect::<Result<Vec<_>, _>>()?;
        // Under one visit filter with rollup rows, the totals and the
        // series (but an hourly one) are that value's rows, as on their own
        // ([`ReadConn::stats_main`]); under one `==` or `!=` on a visit
        // dimension with rollup rows, so is the breakdown by it
        // ([`breakdown::own_row`]). The pass counts only what they do not
        // answer. A property key never stored has no values: it is not
        // counted.
        let row = single_visit_row(&predicate);
        let own_rows: Vec<Option<breakdown::OwnRow>> = specs
            .iter()
            .map(|spec| spec.and_then(|spec| breakdown::own_row(&predicate, &spec)))
            .collect();
        let counted: Vec<_> = specs
            .iter()
            .zip(&own_rows)
            .filter_map(|(spec, own)| spec.filter(|_| own.is_none()))
            .collect();
        let rollup_series = row.is_some() && interval != Interval::Hour;
        let parts = scan::ViewParts {
            main: row.is_none(),
            series: !rollup_series,
        };
        let counts = scan::view(
            conn,
            site,
            query.range,
            &predicate,
            interval,
            &keys,
            &counted,
            parts,
        )?;
        let mut rows = counts.breakdowns.into_iter();
        let breakdowns = specs
            .iter()
            .zip(own_rows)
            .map(|(spec, own)| match (spec, own) {
                (Some(spec), Some(own)) => breakdown::label(
                    conn,
                    spec.row_kind,
                    breakdown::of_own_row(conn, site, query.range, own, spec)?,
                ),
                (Some(spec), None) => {
                    breakdown::label(conn, spec.row_kind, rows.next().unwrap_or_default())
                }
                (None, _) => Ok(Vec::new()),
            })
            .collect::<Result<_, _>>()?;
        let main = match (row, counts.main) {
            (_, Some(main)) => main,
            (Some(row), None) => rollup::main_of_value(conn, site, query.range, row)?,
            // Not reached: without a row the pass counts the totals.
            (None, None) => Totals::default(),
        };
        let series = match (row, counts.series) {
            (_, Some(series)) => series,
            (Some(row), None) => {
                rollup::timeseries_of_value(conn, site, query.range, interval, &keys, row)?
            }
            // Not reached: without a row the pass counts the series.
            (None, None) => Vec::new(),
        };
        Ok(StatsView {
            main,
            series,
            breakdowns,
        })
    }

    /// The top `limit` custom property keys of the range (most events
    /// first, ties by internal id), each with the events that carry it
    /// (`events`: page views and custom events) and their visitors; from
    /// the property rollups without filters, from the visits with them.
    pub fn stats_prop_keys(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        limit: usize,
    ) -> Result<Vec<BreakdownRow>, StoreError> {
        let conn = self.connection();
        let rows = if query.filters.is_empty() {
            rollup::prop_keys(conn, site, query.range, limit)?
        } else {
            let predicate = Predicate::compile(conn, &query.filters)?;
            scan::prop_keys(conn, site, query.range, &predicate, limit)?
        };
        breakdown::label(conn, crate::rollups::kind::EVENT, rows)
    }

    /// The conversions of each of `goals` in the range under the query's
    /// filters, in their order: `visitors` who converted and `events` that
    /// did (the other counters stay 0), and the revenue of the converting
    /// events per currency.
    pub fn stats_goal_conversions(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        goals: &[crate::goals::Goal],
    ) -> Result<Vec<GoalConversions>, StoreError> {
        let conn = self.connection();
        let matchers = goals
            .iter()
            .map(|goal| goal_matcher(conn, &goal.definition))
            .collect::<Result<Vec<_>, _>>()?;
        // Without filters, the goal days counted so far answer for their
        // days ([`crate::goal_days`]).
        let stored = if query.filters.is_empty() {
            from_goal_days(conn, site, query.range, goals, &matchers)?
        } else {
            None
        };
        let counted = match stored {
            Some(counted) => counted,
            None => counted_conversions(conn, site, query, goals, &matchers)?,
        };
        label_conversions(conn, counted)
    }

    /// [`ReadConn::stats_goal_conversions`] with the visitors of the range
    /// under the filters ([`ReadConn::stats_main`]'s), 0 without goals. Under
    /// filters whose visitors the rollups do not answer (anything but one
    /// `==` on a visit dimension with rollup rows), both are counted in one
    /// pass over the visits.
    pub fn stats_goal_conversions_and_visitors(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        goals: &[crate::goals::Goal],
    ) -> Result<(Vec<GoalConversions>, u64), StoreError> {
        if goals.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let conn = self.connection();
        if !query.filters.is_empty() {
            let predicate = Predicate::compile(conn, &query.filters)?;
            if single_visit_row(&predicate).is_none() {
                let matchers = goals
                    .iter()
                    .map(|goal| goal_matcher(conn, &goal.definition))
                    .collect::<Result<Vec<_>, _>>()?;
                let (counted, visitors) = scan::goal_conversions_and_visitors(
                    conn,
                    site,
                    query.range,
                    &predicate,
                    &matchers,
                )?;
                return Ok((label_conversions(conn, counted)?, visitors));
            }
        }
        Ok((
            self.stats_goal_conversions(site, query, goals)?,
            self.stats_main(site, query)?.visitors,
        ))
    }

    /// The revenue of the range per currency (most events first, ties by
    /// code), each with its buckets of `interval` that hold revenue;
    /// amounts of different currencies are never added together. Counted
    /// from the events, filtered or not.
    pub fn stats_revenue(
        &self,
        site: &SiteInfo,
        query: &StatsQuery,
        interval: Interval,
    ) -> Result<Vec<CurrencyRevenue>, StoreError> {
        let conn = self.connection();
        let predicate = Predicate::compile(conn, &query.filters)?;
        let mut by_currency: std::collections::BTreeMap<i64, Vec<RevenuePoint>> =
            std::collections::BTreeMap::new();
        for (currency, point) in scan::revenue(conn, site, query.range, &predicate, interval)? {
            by_currency.entry(currency).or_default().push(point);
        }
        let mut texts = labels::DimTexts::default();
        let mut report = by_currency
            .into_iter()
            .map(|(currency, points)| {
                let currency = texts
                    .get(conn, (currency != 0).then_some(currency))?
                    .unwrap_or_else(|| mallard_core::filter::UNKNOWN_VALUE.to_owned());
                Ok(CurrencyRevenue { currency, points })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let events = |c: &CurrencyRevenue| c.points.iter().map(|p| p.events).sum::<i64>();
        report.sort_by(|a, b| {
            events(b)
                .cmp(&events(a))
                .then_with(|| a.currency.cmp(&b.currency))
        });
        Ok(report)
    }

    /// Distinct visitors with an event between `from_ms` and `to_ms`
    /// (inclusive) that meet `filters`.
    pub fn stats_visitors_between(
        &self,
        site: &SiteInfo,
        from_ms: i64,
        to_ms: i64,
        filters: &[Filter],
    ) -> Result<u64, StoreError> {
        let predicate = Predicate::compile(self.connection(), filters)?;
        scan::visitors_between(self.connection(), site, from_ms, to_ms, &predicate)
    }
}

#[cfg(test)]
pub(crate) mod tests;

/// The rollup row that answers `predicate` alone: one `==` on a visit
/// dimension that has rollup rows ([`rollup::attribute_row`]).
fn single_visit_row(predicate: &Predicate) -> Option<(i64, i64)> {
    let (attribute, value) = predicate.single_attribute_is()?;
    rollup::attribute_row(attribute, value)
}

/// The conversions of `counted` with their currencies' codes, each goal's
/// revenue most events first, its visitors never above its conversions.
fn label_conversions(
    conn: &rusqlite::Connection,
    counted: Vec<scan::GoalCount>,
) -> Result<Vec<GoalConversions>, StoreError> {
    let mut texts = labels::DimTexts::default();
    counted
        .into_iter()
        .map(|(totals, revenue)| {
            let revenue = revenue
                .into_iter()
                .map(|(currency, (micros, events))| {
                    let code = texts
                        .get(conn, (currency != 0).then_some(currency))?
                        .unwrap_or_else(|| mallard_core::filter::UNKNOWN_VALUE.to_owned());
                    Ok(GoalRevenue {
                        currency: code,
                        micros,
                        events,
                    })
                })
                .collect::<Result<Vec<GoalRevenue>, StoreError>>()?;
            let mut revenue = revenue;
            revenue.sort_by(|a, b| {
                b.events
                    .cmp(&a.events)
                    .then_with(|| a.currency.cmp(&b.currency))
            });
            Ok(GoalConversions {
                totals: scan::visitors_at_most_conversions(totals),
                revenue,
            })
        })
        .collect()
}

/// The conversions of `goals` counted from the events (or, for some goals
/// without filters, from the rollups), in their order.
fn counted_conversions(
    conn: &rusqlite::Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    goals: &[crate::goals::Goal],
    matchers: &[scan::GoalMatcher],
) -> Result<Vec<scan::GoalCount>, StoreError> {
    let predicate = Predicate::compile(conn, &query.filters)?;
    // Without filters, a page goal, and an event goal while no revenue
    // was ever stored, is its pages' or event's rollups; the others
    // (properties, revenue) are counted from the events, together.
    let revenue_stored: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM dims WHERE kind = ?1)")?
        .query_row([crate::dims::DimKind::Currency as u8], |r| r.get(0))?;
    let from_rollups = |matcher: &scan::GoalMatcher| {
        query.filters.is_empty()
            && matcher.prop.is_none()
            && (matcher.pages.is_some() || !revenue_stored)
    };
    // Without filters, an event goal counted from the events reads only
    // the visits with its event (its own filters screen the others);
    // under filters, the goals share one pass.
    let alone = |goal: &crate::goals::GoalDefinition, matcher: &scan::GoalMatcher| {
        query.filters.is_empty() && goal.event_name.is_some() && !from_rollups(matcher)
    };
    let scanned: Vec<scan::GoalMatcher> = matchers
        .iter()
        .zip(goals)
        .filter(|(matcher, goal)| !from_rollups(matcher) && !alone(&goal.definition, matcher))
        .map(|(matcher, _)| matcher.clone())
        .collect();
    let mut counted =
        scan::goal_conversions(conn, site, query.range, &predicate, &scanned)?.into_iter();
    matchers
        .iter()
        .zip(goals)
        .map(|(matcher, goal)| {
            Ok(if from_rollups(matcher) {
                (
                    goal_rollup(conn, site, query.range, matcher)?,
                    Default::default(),
                )
            } else if alone(&goal.definition, matcher) {
                let own = Predicate::compile(conn, &goal_filters(&goal.definition))?;
                scan::goal_conversions(
                    conn,
                    site,
                    query.range,
                    &own,
                    std::slice::from_ref(matcher),
                )?
                .pop()
                .unwrap_or_default()
            } else {
                counted.next().unwrap_or_default()
            })
        })
        .collect()
}

/// The conversions of `goals` without filters from their goal days where
/// stored, the other days of the range (from the first to the last day that
/// some goal has no row for) counted from the events in one pass; `None`
/// when no day of the range is stored.
fn from_goal_days(
    conn: &rusqlite::Connection,
    site: &SiteInfo,
    range: DayRange,
    goals: &[crate::goals::Goal],
    matchers: &[scan::GoalMatcher],
) -> Result<Option<Vec<scan::GoalCount>>, StoreError> {
    // Before the site's first day there is nothing to count.
    let Some(first) = site.first_day else {
        return Ok(None);
    };
    let days = DayRange {
        start: range.start.max(first),
        end: range.end,
    };
    if goals.is_empty() || days.days() <= 0 {
        return Ok(None);
    }
    let stored = goals
        .iter()
        .map(|goal| crate::goal_days::read(conn, goal.id, days))
        .collect::<Result<Vec<_>, _>>()?;
    let mut missing =
        (days.start..days.end).filter(|day| stored.iter().any(|goal| !goal.contains_key(day)));
    let live = match missing.next() {
        Some(from) => DayRange {
            start: from,
            end: missing.next_back().unwrap_or(from) + 1,
        },
        None => DayRange {
            start: days.end,
            end: days.end,
        },
    };
    if live.days() == days.days() {
        return Ok(None);
    }
    let counters = if live.days() > 0 {
        scan::goal_counters(conn, site, live, &Predicate::default(), matchers)?
    } else {
        goals.iter().map(|_| scan::GoalCounter::default()).collect()
    };
    Ok(Some(
        counters
            .into_iter()
            .zip(stored)
            .map(|(mut counter, stored)| {
                let mut visitors = crate::hll::SketchUnion::new();
                for (day, stored_day) in &stored {
                    if !live.contains(*day) {
                        crate::goal_days::add_stored(&mut counter, stored_day);
                        visitors.add(&stored_day.visitors);
                    }
                }
                let scan::GoalCounter {
                    events,
                    visitors: live_visitors,
                    revenue,
                } = counter;
                visitors.add(&live_visitors.into_sketch());
                let totals = Totals {
                    events,
                    visitors: visitors.estimate(),
                    ..Totals::default()
                };
                (totals, revenue)
            })
            .collect(),
    ))
}

/// A goal's conversions without filters, from the rollups of its pages or
/// its event.
fn goal_rollup(
    conn: &rusqlite::Connection,
    site: &SiteInfo,
    range: DayRange,
    matcher: &scan::GoalMatcher,
) -> Result<Totals, StoreError> {
    match (&matcher.pages, matcher.event) {
        (Some(pages), _) => {
            let pages = pages.iter().collect();
            let mut totals =
                rollup::value_set(conn, site, range, crate::rollups::kind::PAGE, &pages)?;
            // Page views are the page goal's conversions.
            totals.events = totals.pageviews;
            Ok(totals)
        }
        (None, Some(name)) => rollup::value_set(
            conn,
            site,
            range,
            crate::rollups::kind::EVENT,
            &std::iter::once(name).collect(),
        ),
        (None, None) => Ok(Totals::default()),
    }
}

/// The filters that select an event goal's events: its name and property.
fn goal_filters(goal: &crate::goals::GoalDefinition) -> Vec<Filter> {
    let is = |dimension: Dimension, value: &str| Filter {
        dimension,
        op: mallard_core::FilterOp::Is,
        value: value.to_owned(),
    };
    let mut filters = Vec::new();
    if let Some(name) = &goal.event_name {
        filters.push(is(Dimension::Event, name));
    }
    if let Some((key, value)) = &goal.prop {
        filters.push(is(Dimension::Prop(key.clone()), value));
    }
    filters
}

/// `goal` with its names resolved to the ids events carry.
pub(crate) fn goal_matcher(
    conn: &rusqlite::Connection,
    goal: &crate::goals::GoalDefinition,
) -> Result<scan::GoalMatcher, StoreError> {
    use crate::dims::DimKind;
    use labels::dim_id;
    let mut matcher = scan::GoalMatcher::default();
    if let Some(name) = &goal.event_name {
        matcher.event = dim_id(conn, DimKind::EventName, name)?;
    }
    if let Some(path) = &goal.page_path {
        // A pattern stored before it was checked matches nothing.
        let pages = match mallard_core::goal::PathPattern::parse(path) {
            Ok(pattern) => predicate::matching_paths(conn, &pattern)?,
            Err(_) => std::collections::HashSet::new(),
        };
        matcher.pages = Some(pages.into());
    }
    if let Some((key, value)) = &goal.prop {
        matcher.prop = Some(dim_id(conn, DimKind::PropKey, key)?.zip(dim_id(
            conn,
            DimKind::PropValue,
            value,
        )?));
    }
    Ok(matcher)
}
