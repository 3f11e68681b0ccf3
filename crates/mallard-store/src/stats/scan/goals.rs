//! The conversions of a site's goals in a range (`GET /api/stats/goals`):
//! for each goal, the visitors who converted and the events that converted,
//! counted in one pass over the visits the filters select, each event
//! checked against every goal; also per local day, for the goal days
//! ([`crate::goal_days`]).

use std::collections::BTreeMap;

use mallard_core::{DayRange, Interval, SiteTimeZone};
use rusqlite::Connection;

use super::{CodeScreen, DIM_EXACT_LIMIT, EventNeed, Screen, Tally, run_screened};
use crate::error::StoreError;
use crate::hll::{Counter, DIM_PRECISION, MERGE_EXACT_LIMIT, SITE_PRECISION, visitor_hash};
use crate::stats::id_set::IdSet;
use crate::stats::predicate::Predicate;
use crate::stats::{SiteInfo, Totals};
use crate::visit_record::{CodeEntry, CodeEvents, Columns, EntryParts, EventRecord, VisitRecord};

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
        self.matches_kind(event.pageview, event.code)
            && match self.prop {
                None => true,
                Some(None) => false,
                Some(Some(pair)) => visit.props_of(event).contains(&pair),
            }
    }

    /// Whether a page view of path id `code` (`pageview`), or a custom
    /// event of name id `code`, is of the goal's kind, whatever it carries.
    #[inline]
    fn matches_kind(&self, pageview: bool, code: i64) -> bool {
        match (&self.pages, self.event) {
            (Some(pages), _) => pageview && pages.contains(code),
            (None, Some(name)) => !pageview && code == name,
            (None, None) => false,
        }
    }

    /// [`Self::matches_kind`] for a step code
    /// ([`crate::day_segment::step_code`]).
    #[inline]
    fn matches_step_code(&self, code: u64) -> bool {
        self.matches_kind(code & 1 == 0, (code >> 1) as i64)
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
        self.add_amount((event.revenue_micros, event.currency));
    }

    /// Adds the revenue `(micros, currency id)` of a converting event, if
    /// it carries an amount.
    #[inline]
    fn add_amount(&mut self, (micros, currency): (Option<i64>, Option<i64>)) {
        if let Some(micros) = micros {
            self.add_revenue(currency.unwrap_or(0), i128::from(micros), 1);
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

    /// The entries of a day counted from its code index that counting
    /// goals with `columns` ([`Self::columns`]) reads beside the index.
    fn entries(columns: Columns) -> EntryParts {
        EntryParts {
            revenue: columns.revenue,
            props: columns.props,
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

    /// The events of the goals without a property, from a day's code index
    /// (only when counting all in one: per day the events are read with
    /// their times). Their revenue comes with [`Self::code_entry`].
    fn code_events(&mut self, events: CodeEvents<'_>) {
        debug_assert!(self.days_of.is_none(), "goal days are counted by event");
        for (goal, counter) in self.goals.iter().zip(&mut self.all) {
            if goal.prop.is_none() && goal.matches_step_code(events.code) {
                for &(visitor_id, times) in events.visits {
                    counter.events += times as i64;
                    counter.visitors.insert(visitor_hash(visitor_id));
                }
            }
        }
    }

    /// The revenue of every goal's converting events, and the events of
    /// the goals with a property (which only events with properties meet),
    /// on a day counted from its code index.
    fn code_entry(&mut self, entry: CodeEntry<'_>) {
        debug_assert!(self.days_of.is_none(), "goal days are counted by event");
        for (goal, counter) in self.goals.iter().zip(&mut self.all) {
            if !goal.matches_step_code(entry.code) {
                continue;
            }
            match goal.prop {
                None => counter.add_amount(entry.revenue),
                Some(None) => {}
                Some(Some(pair)) => {
                    if entry.props.contains(&pair) {
                        counter.events += 1;
                        counter.visitors.insert(visitor_hash(entry.visitor_id));
                        counter.add_amount(entry.revenue);
                    }
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
                // All in one, a day whose visits all fall in the range is
                // counted from its code index, with the revenue and the
                // properties of the events that carry some beside
                // ([`VisitGate::counts_codes_alone`]).
                codes_alone: true,
                entries_beside_codes: GoalsTally::entries(columns),
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

/// The visitors of the visits the filters select, as [`super::main`]
/// counts them (once per visit with an event in the range); on a day
/// counted from its code index, those of every visit the filters select
/// (all its events are in the range).
struct SelectedVisitors(Counter);

impl Tally for SelectedVisitors {
    fn event(&mut self, _: &VisitRecord, _: &EventRecord, _: u32) {}

    fn end_visit(&mut self, _: &VisitRecord, hash: u32, counted: bool) {
        if counted {
            self.0.insert(hash);
        }
    }

    fn whole_visit(&mut self, _: &VisitRecord, hash: u32) {
        self.0.insert(hash);
    }

    fn visit(&mut self, _: &VisitRecord) {}

    fn code_visitors(&mut self, visitor_ids: &[i64]) {
        for &visitor_id in visitor_ids {
            self.0.insert(visitor_hash(visitor_id));
        }
    }

    fn merge(&mut self, other: Self) {
        self.0.merge(other.0);
    }
}

/// What each of `goals` converted in `range` under `predicate`, in the
/// goals' order, and the visitors of the visits `predicate` selects (what
/// [`super::main`] counts), in one pass over the visits: for a filtered
/// Goals card whose visitors the rollups cannot answer, which took two
/// passes, one of them as long as the goals' own. The visits without a
/// goal's event are read too (they count as visitors), so a pass for the
/// goals alone is faster when the visitors come from elsewhere. A day whose
/// visits all fall in the range is counted from its code index, its
/// entries and its visitors' column when the filters are all on visit
/// attributes ([`VisitGate::visitors_beside_codes`]).
///
/// [`VisitGate::visitors_beside_codes`]: crate::visit_record::VisitGate::visitors_beside_codes
pub(crate) fn goal_conversions_and_visitors(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    goals: &[GoalMatcher],
) -> Result<(Vec<GoalCount>, u64), StoreError> {
    let columns = GoalsTally::columns(goals);
    // The goals' conversions and the visitors of the visits the filters
    // select, counted together.
    let new = || {
        (
            GoalsTally::new(goals, None),
            SelectedVisitors(Counter::new(SITE_PRECISION, MERGE_EXACT_LIMIT)),
        )
    };
    let screen = GoalMatcher::code_screen(goals);
    let (goals, mut visitors) = run_screened(
        conn,
        site,
        range,
        predicate,
        (columns, EventNeed::Always),
        Screen {
            codes: Some(&screen),
            codes_alone: true,
            entries_beside_codes: GoalsTally::entries(columns),
            visitors_beside_codes: true,
            ..Screen::default()
        },
        new,
    )?
    .unwrap_or_else(new);
    let conversions = goals.all.into_iter().map(GoalCounter::finish).collect();
    Ok((conversions, visitors.0.estimate()))
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
