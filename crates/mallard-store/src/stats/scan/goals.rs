//! The conversions of a site's goals in a range (`GET /api/stats/goals`):
//! for each goal, the visitors who converted and the events that converted,
//! counted in one pass over the visits the filters select, each event
//! checked against every goal; also per local day, for the goal days
//! ([`crate::goal_days`]).

use std::collections::BTreeMap;

use mallard_core::{DayRange, Interval, SiteTimeZone};
use rusqlite::Connection;

use super::{
    CodeScreen, Counted, DIM_EXACT_LIMIT, EventNeed, MainTally, Screen, Tally, run, run_screened,
};
use crate::error::StoreError;
use crate::hll::{Counter, DIM_PRECISION, MERGE_EXACT_LIMIT, SITE_PRECISION};
use crate::stats::id_set::IdSet;
use crate::stats::predicate::Predicate;
use crate::stats::{SiteInfo, Totals};
use crate::visit_record::{Columns, EventRecord, VisitRecord};

/// One goal, its names resolved to the ids events carry.
#[derive(Debug, Clone, Default)]
pub(crate) struct GoalMatcher {
    /// A custom event goal: the name's id (`None` with `pages` `None`: a
    /// name never stored, which nothing matches).
    pub(crate) event: Option<i64>,
    /// A page goal: the ids of the paths its pattern matches.
    pub(crate) pages: Option<IdSet>,
    /// The property key and value ids the event must carry (`Some(None)`:
    /// a pair never stored, which nothing matches).
    pub(crate) prop: Option<Option<(i64, i64)>>,
}

impl GoalMatcher {
    #[inline]
    fn matches(&self, visit: &VisitRecord, event: &EventRecord) -> bool {
        let kind = match (&self.pages, self.event) {
            (Some(pages), _) => event.pageview && pages.contains(event.code),
            (None, Some(name)) => !event.pageview && event.code == name,
            (None, None) => false,
        };
        kind && match self.prop {
            None => true,
            Some(None) => false,
            Some(Some(pair)) => visit.props_of(event).contains(&pair),
        }
    }

    /// The event codes `goals` may count, read as [`Self::matches`] reads
    /// them: a page goal's pages, else an event goal's name.
    fn code_screen(goals: &[Self]) -> CodeScreen {
        CodeScreen::new(
            goals
                .iter()
                .filter(|goal| goal.pages.is_none())
                .filter_map(|goal| goal.event),
            goals
                .iter()
                .filter_map(|goal| goal.pages.as_ref())
                .flat_map(IdSet::iter)
                .collect(),
        )
    }
}

/// What a goal converted in some time: the converting events, their
/// visitors, and per currency id (0: none given) the amounts' sum in
/// millionths and the events that carried one.
#[derive(Debug, Clone)]
pub(crate) struct GoalCounter {
    pub(crate) events: i64,
    pub(crate) visitors: Counter,
    pub(crate) revenue: BTreeMap<i64, (i128, i64)>,
}

impl Default for GoalCounter {
    fn default() -> Self {
        Self {
            events: 0,
            visitors: Counter::new(DIM_PRECISION, DIM_EXACT_LIMIT),
            revenue: BTreeMap::new(),
        }
    }
}

impl GoalCounter {
    #[inline]
    fn add(&mut self, event: &EventRecord, hash: u32) {
        self.events += 1;
        self.visitors.insert(hash);
        if let Some(micros) = event.revenue_micros {
            self.add_revenue(event.currency.unwrap_or(0), i128::from(micros), 1);
        }
    }

    /// Adds `events` amounts summing to `micros` in `currency`.
    pub(crate) fn add_revenue(&mut self, currency: i64, micros: i128, events: i64) {
        let (sum, count) = self.revenue.entry(currency).or_default();
        *sum += micros;
        *count += events;
    }

    /// Adds what `other` converted.
    pub(crate) fn merge(&mut self, other: Self) {
        self.events += other.events;
        self.visitors.merge(other.visitors);
        for (currency, (micros, events)) in other.revenue {
            self.add_revenue(currency, micros, events);
        }
    }

    /// The counts, with the visitors estimated.
    pub(crate) fn finish(mut self) -> GoalCount {
        let totals = Totals {
            events: self.events,
            visitors: self.visitors.estimate(),
            ..Totals::default()
        };
        (totals, self.revenue)
    }
}

/// Counts each goal's conversions, per local day of the site or all in one.
struct GoalsTally<'a> {
    goals: &'a [GoalMatcher],
    /// Per local day with this zone (into `by_day`); else into `all`.
    days_of: Option<&'a SiteTimeZone>,
    /// Per goal, everything.
    all: Vec<GoalCounter>,
    /// Per goal, per day.
    by_day: Vec<BTreeMap<i64, GoalCounter>>,
}

impl<'a> GoalsTally<'a> {
    /// Nothing counted yet of `goals`, per local day of `days_of` or not.
    fn new(goals: &'a [GoalMatcher], days_of: Option<&'a SiteTimeZone>) -> Self {
        Self {
            goals,
            days_of,
            all: goals.iter().map(|_| GoalCounter::default()).collect(),
            by_day: goals.iter().map(|_| BTreeMap::new()).collect(),
        }
    }

    /// The columns counting `goals` reads: revenue, and properties when a
    /// goal asks for one.
    fn columns(goals: &[GoalMatcher]) -> Columns {
        Columns {
            props: goals.iter().any(|goal| goal.prop.is_some()),
            revenue: true,
            ..Columns::default()
        }
    }
}

impl Tally for GoalsTally<'_> {
    fn event(&mut self, visit: &VisitRecord, event: &EventRecord, hash: u32) {
        for (index, goal) in self.goals.iter().enumerate() {
            if goal.matches(visit, event) {
                match self.days_of {
                    None => self.all[index].add(event, hash),
                    Some(zone) => self.by_day[index]
                        .entry(zone.local_day(event.ts))
                        .or_default()
                        .add(event, hash),
                }
            }
        }
    }

    // Every visit is read with its events ([`EventNeed::Always`], or
    // [`EventNeed::AlwaysTimedAcrossBuckets`] per day).
    fn whole_visit(&mut self, _: &VisitRecord, _: u32) {}

    fn visit(&mut self, _: &VisitRecord) {}

    fn merge(&mut self, other: Self) {
        for (mine, theirs) in self.all.iter_mut().zip(other.all) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.by_day.iter_mut().zip(other.by_day) {
            for (day, counter) in theirs {
                mine.entry(day).or_default().merge(counter);
            }
        }
    }
}

/// A goal's counts with its visitors at most its conversions: everyone who
/// converted did so at least once, so a visitor estimate above the events
/// counted is the sketch's error (a goal with 21,920 conversions showed
/// 22,062 unique conversions), never a count.
pub(crate) fn visitors_at_most_conversions(totals: Totals) -> Totals {
    Totals {
        visitors: totals
            .visitors
            .min(u64::try_from(totals.events).unwrap_or(0)),
        ..totals
    }
}

/// What one goal converted: the visitors and events, and the revenue of
/// the events that carried an amount, per currency id (0: none given), as
/// the amounts' sum in millionths and how many they were.
pub(crate) type GoalCount = (Totals, BTreeMap<i64, (i128, i64)>);

/// Counts `goals` in `range` under `predicate`, per local day or not; a
/// tally with nothing counted when there is nothing to read.
fn count<'a>(
    conn: &Connection,
    site: &'a SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    goals: &'a [GoalMatcher],
    per_day: bool,
) -> Result<GoalsTally<'a>, StoreError> {
    let columns = GoalsTally::columns(goals);
    let new = || GoalsTally::new(goals, per_day.then_some(&site.time_zone));
    // Per day, an event's own time says its day (a visit may go on past
    // midnight); a visit read without event times gives each its start.
    let need = if per_day {
        EventNeed::AlwaysTimedAcrossBuckets(Interval::Day, &site.time_zone)
    } else {
        EventNeed::Always
    };
    // A visit with neither a goal's event nor one of its pages counts
    // nothing.
    let screen = GoalMatcher::code_screen(goals);
    let tally = if goals.is_empty() {
        None
    } else {
        run_screened(
            conn,
            site,
            range,
            predicate,
            (columns, need),
            Screen {
                codes: Some(&screen),
                ..Screen::default()
            },
            new,
        )?
    };
    Ok(tally.unwrap_or_else(new))
}

/// What each of `goals` converted in `range` under `predicate`, in the
/// goals' order, with the visitors as counters (to union with others).
pub(crate) fn goal_counters(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    goals: &[GoalMatcher],
) -> Result<Vec<GoalCounter>, StoreError> {
    Ok(count(conn, site, range, predicate, goals, false)?.all)
}

/// What each of `goals` converted on each local day of `range` that it
/// converted on, in the goals' order.
pub(crate) fn goal_counters_by_day(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    goals: &[GoalMatcher],
) -> Result<Vec<BTreeMap<i64, GoalCounter>>, StoreError> {
    Ok(count(conn, site, range, &Predicate::default(), goals, true)?.by_day)
}

/// What each of `goals` converted in `range` under `predicate`, in the
/// goals' order, and the visitors of the visits `predicate` selects (what
/// [`super::main`] counts), in one pass over the visits: for a filtered
/// Goals card whose visitors the rollups cannot answer, which took two
/// passes, one of them as long as the goals' own. The visits without a
/// goal's event are read too (they count as visitors), so a pass for the
/// goals alone is faster when the visitors come from elsewhere.
pub(crate) fn goal_conversions_and_visitors(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    goals: &[GoalMatcher],
) -> Result<(Vec<GoalCount>, u64), StoreError> {
    let columns = GoalsTally::columns(goals);
    // The goals' conversions and the totals of the visits the filters
    // select, counted together.
    let new = || {
        (
            GoalsTally::new(goals, None),
            MainTally(Counted::new(SITE_PRECISION, MERGE_EXACT_LIMIT)),
        )
    };
    let (goals, totals) = run(
        conn,
        site,
        range,
        predicate,
        (columns, EventNeed::Always),
        new,
    )?
    .unwrap_or_else(new);
    let conversions = goals.all.into_iter().map(GoalCounter::finish).collect();
    Ok((conversions, totals.0.finish().visitors))
}

/// The visitors, events and revenue of each of `goals` in `range` under
/// `predicate`, in the goals' order.
pub(crate) fn goal_conversions(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    goals: &[GoalMatcher],
) -> Result<Vec<GoalCount>, StoreError> {
    Ok(goal_counters(conn, site, range, predicate, goals)?
        .into_iter()
        .map(GoalCounter::finish)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hll::visitor_hash;

    #[test]
    fn unique_conversions_never_exceed_the_conversions() {
        // One conversion each for n visitors: past the exact limit the
        // sketch may estimate more visitors than there were conversions.
        let event = EventRecord {
            pageview: false,
            ..EventRecord::default()
        };
        let (n, totals) = (DIM_EXACT_LIMIT as i64..20_000)
            .step_by(97)
            .find_map(|n| {
                let mut counter = GoalCounter::default();
                for visitor in 0..n {
                    counter.add(&event, visitor_hash(visitor));
                }
                let (totals, _) = counter.finish();
                (totals.visitors > n as u64).then_some((n, totals))
            })
            .expect("some count the sketch overestimates");
        assert_eq!(totals.events, n);
        assert_eq!(visitors_at_most_conversions(totals).visitors, n as u64);
        // Below the conversions, the estimate stands.
        let fewer = Totals {
            visitors: 10,
            events: 12,
            ..Totals::default()
        };
        assert_eq!(visitors_at_most_conversions(fewer), fewer);
    }
}
