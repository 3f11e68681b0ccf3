//! The conversions of a site's goals in a range (`GET /api/stats/goals`):
//! for each goal, the visitors who converted and the events that converted,
//! counted in one pass over the visits the filters select, each event
//! checked against every goal.

use std::collections::{BTreeMap, HashSet};

use mallard_core::DayRange;
use rusqlite::Connection;

use super::{Counted, DIM_EXACT_LIMIT, EventNeed, Tally, run};
use crate::error::StoreError;
use crate::hll::DIM_PRECISION;
use crate::stats::predicate::Predicate;
use crate::stats::{SiteInfo, Totals};
use crate::visit_record::{Columns, EventRecord, VisitRecord};

/// One goal, its names resolved to the ids events carry.
#[derive(Debug, Clone, Default)]
pub(in crate::stats) struct GoalMatcher {
    /// A custom event goal: the name's id (`None` with `pages` `None`: a
    /// name never stored, which nothing matches).
    pub(in crate::stats) event: Option<i64>,
    /// A page goal: the ids of the paths its pattern matches.
    pub(in crate::stats) pages: Option<HashSet<i64>>,
    /// The property key and value ids the event must carry (`Some(None)`:
    /// a pair never stored, which nothing matches).
    pub(in crate::stats) prop: Option<Option<(i64, i64)>>,
}

impl GoalMatcher {
    #[inline]
    fn matches(&self, visit: &VisitRecord, event: &EventRecord) -> bool {
        let kind = match (&self.pages, self.event) {
            (Some(pages), _) => event.pageview && pages.contains(&event.code),
            (None, Some(name)) => !event.pageview && event.code == name,
            (None, None) => false,
        };
        kind && match self.prop {
            None => true,
            Some(None) => false,
            Some(Some(pair)) => visit.props_of(event).contains(&pair),
        }
    }
}

struct GoalsTally<'a> {
    goals: &'a [GoalMatcher],
    counts: Vec<Counted>,
    /// Per goal, per currency id (0: none given): the amounts' sum in
    /// millionths and the events that carried one.
    revenue: Vec<BTreeMap<i64, (i128, i64)>>,
}

impl Tally for GoalsTally<'_> {
    fn event(&mut self, visit: &VisitRecord, event: &EventRecord, hash: u32) {
        for ((goal, counted), revenue) in self
            .goals
            .iter()
            .zip(&mut self.counts)
            .zip(&mut self.revenue)
        {
            if goal.matches(visit, event) {
                counted.totals.events += 1;
                counted.visitors.insert(hash);
                if let Some(micros) = event.revenue_micros {
                    let (sum, events) = revenue.entry(event.currency.unwrap_or(0)).or_default();
                    *sum += i128::from(micros);
                    *events += 1;
                }
            }
        }
    }

    // Every visit is read with its events ([`EventNeed::Always`]).
    fn whole_visit(&mut self, _: &VisitRecord, _: u32) {}

    fn visit(&mut self, _: &VisitRecord) {}

    fn merge(&mut self, other: Self) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.revenue.iter_mut().zip(other.revenue) {
            for (currency, (sum, events)) in theirs {
                let entry = mine.entry(currency).or_default();
                entry.0 += sum;
                entry.1 += events;
            }
        }
    }
}

/// What one goal converted: the visitors and events, and the revenue of
/// the events that carried an amount, per currency id (0: none given), as
/// the amounts' sum in millionths and how many they were.
pub(in crate::stats) type GoalCount = (Totals, BTreeMap<i64, (i128, i64)>);

/// The visitors, events and revenue of each of `goals` in `range` under
/// `predicate`, in the goals' order.
pub(in crate::stats) fn goal_conversions(
    conn: &Connection,
    site: &SiteInfo,
    range: DayRange,
    predicate: &Predicate,
    goals: &[GoalMatcher],
) -> Result<Vec<GoalCount>, StoreError> {
    let columns = Columns {
        props: goals.iter().any(|goal| goal.prop.is_some()),
        revenue: true,
        ..Columns::default()
    };
    let new = || GoalsTally {
        goals,
        counts: goals
            .iter()
            .map(|_| Counted::new(DIM_PRECISION, DIM_EXACT_LIMIT))
            .collect(),
        revenue: goals.iter().map(|_| BTreeMap::new()).collect(),
    };
    let tally = if goals.is_empty() {
        None
    } else {
        run(
            conn,
            site,
            range,
            predicate,
            (columns, EventNeed::Always),
            new,
        )?
    };
    Ok(match tally {
        Some(tally) => tally
            .counts
            .into_iter()
            .map(Counted::finish)
            .zip(tally.revenue)
            .collect(),
        None => goals
            .iter()
            .map(|_| (Totals::default(), BTreeMap::new()))
            .collect(),
    })
}
