//! Funnels: how many visits of the period went through the steps in order.
//!
//! A visit reaches step `k` when it has events matching steps 1..k in that
//! order (other events in between are allowed), and, with a window, step k
//! happened at most `window` after the step-1 event of the same chain. The
//! level a visit reaches is computed as ClickHouse's `windowFunnel` does: for
//! each step the latest start of a chain that got that far is kept, which
//! finds the deepest chain in one pass.
//!
//! Visits are read through [`super::source`]: without a window (and without
//! filters, or with filters all on visit attributes) the packed paths of
//! closed days serve, and their code index
//! tells which visits hold the first step (the others reach nothing) and
//! the second (the others reach step 1), so only visits with both have
//! their paths decoded; with a window the events' times are read too, and
//! with a goal step that has a property (`goal:Pro signups`) the events'
//! properties.

use mallard_core::Step;
use rusqlite::Connection;

use super::super::SiteInfo;
use super::super::StatsQuery;
use super::by_visitor::add_counts;
use super::source::{Bounds, VisitFilter, VisitFold, fold_matching, fold_visits};
use super::step::{StepId, StepKinds};
use super::{FunnelStep, resolve_step};
use crate::error::StoreError;
use crate::hll::{Counter, MERGE_EXACT_LIMIT, SITE_PRECISION, visitor_hash};
use crate::segment_fold::CodeGate;
use crate::stats::predicate::matching_paths;
use crate::visit_record::Columns;

/// The events one funnel step matches: the page view of its path or the
/// custom event of its name, or the page views of every path its pattern
/// matches (`page:/blog/*`); none when nothing stored matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StepMatch(Vec<StepId>);

impl StepMatch {
    /// A step of these ids.
    pub(crate) fn of(ids: impl IntoIterator<Item = StepId>) -> Self {
        let mut ids: Vec<StepId> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        Self(ids)
    }

    /// Whether `event` is this step.
    #[inline]
    pub(crate) fn matches(&self, event: StepId) -> bool {
        match self.0.as_slice() {
            [one] => *one == event,
            ids => ids.binary_search(&event).is_ok(),
        }
    }

    /// Whether no stored event can be this step.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The event codes of this step ([`crate::day_segment::step_code`]), in
    /// ascending order.
    fn codes(&self) -> Vec<u64> {
        self.0.iter().map(|id| id.0).collect()
    }
}

/// The deepest step (0 = none) that `events` reach in order, with step `j`
/// at most `window_ms` after the chain's first step (the queries give each
/// event as the steps it is, [`level_of_masks`]).
#[cfg(test)]
pub(crate) fn level(
    steps: &[StepMatch],
    events: &[(i64, StepId)],
    window_ms: Option<i64>,
) -> usize {
    let masks: Vec<(i64, StepMask)> = events
        .iter()
        .map(|&(ts, event)| (ts, StepMask::of(steps, event, |_| true)))
        .collect();
    level_of_masks(steps.len(), &masks, window_ms)
}

/// The steps (at most 8) one event is, bit `j` for step `j`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StepMask(u16);

impl StepMask {
    /// The steps whose ids hold `event` and for which `also(j)` holds.
    #[inline]
    fn of(steps: &[StepMatch], event: StepId, also: impl Fn(usize) -> bool) -> Self {
        let mut mask = 0u16;
        for (j, step) in steps.iter().enumerate() {
            if step.matches(event) && also(j) {
                mask |= 1 << j;
            }
        }
        Self(mask)
    }

    #[inline]
    fn has(self, j: usize) -> bool {
        self.0 & (1 << j) != 0
    }
}

/// [`level`] of events given as the steps each one is.
fn level_of_masks(steps: usize, events: &[(i64, StepMask)], window_ms: Option<i64>) -> usize {
    let mut starts: Vec<Option<i64>> = vec![None; steps];
    for &(ts, mask) in events {
        // Latest steps first, so one event never serves two consecutive steps.
        for j in (0..steps).rev() {
            if !mask.has(j) {
                continue;
            }
            if j == 0 {
                starts[0] = Some(ts);
            } else if let Some(start) = starts[j - 1]
                && window_ms.is_none_or(|w| ts - start <= w)
            {
                starts[j] = Some(start);
            }
        }
    }
    starts
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |j| j + 1)
}

/// The deepest step that `events` reach in order, without a window: taking
/// each step at its first match after the previous one reaches as deep as
/// any other choice, so one pass suffices (the same level as [`level`]).
pub(crate) fn greedy_level(steps: &[StepMatch], events: impl IntoIterator<Item = StepId>) -> usize {
    // Steps that were never stored are never reached. The events are
    // folded to the end, which packed visits decode fastest.
    events.into_iter().fold(0, |reached, event| {
        if steps.get(reached).is_some_and(|step| step.matches(event)) {
            reached + 1
        } else {
            reached
        }
    })
}

/// The property a step's events must carry: `None` for any, else the key
/// and value ids (`Some(None)`: a pair never stored, which nothing carries).
type StepProp = Option<Option<(i64, i64)>>;

/// What `step` matches among the stored paths and names: a page pattern
/// (`*` one segment, `**` any depth, as goals have) every path it matches;
/// a goal what it counts (nothing for a name the site has no goal of), and
/// its property.
fn step_match(
    conn: &Connection,
    site: &SiteInfo,
    step: &Step,
) -> Result<(StepMatch, StepProp), StoreError> {
    if let Step::Goal(name) = step {
        let goals = crate::goals::goals_of(conn, site.id)?;
        let Some(goal) = goals.iter().find(|goal| goal.definition.name == *name) else {
            return Ok((StepMatch::default(), None));
        };
        let matcher = crate::stats::goal_matcher(conn, &goal.definition)?;
        let ids: Vec<StepId> = match (&matcher.pages, matcher.event) {
            (Some(pages), _) => pages.iter().map(StepId::page).collect(),
            (None, Some(name)) => vec![StepId::event(name)],
            (None, None) => Vec::new(),
        };
        return Ok((StepMatch::of(ids), matcher.prop));
    }
    Ok((plain_step_match(conn, step)?, None))
}

/// [`step_match`] of a page or event step.
fn plain_step_match(conn: &Connection, step: &Step) -> Result<StepMatch, StoreError> {
    if let Step::Page(path) = step
        && path.contains('*')
    {
        let paths = match mallard_core::goal::PathPattern::parse(path) {
            Ok(pattern) => matching_paths(conn, &pattern)?,
            Err(_) => Default::default(),
        };
        return Ok(StepMatch::of(paths.into_iter().map(StepId::page)));
    }
    Ok(StepMatch::of(resolve_step(conn, step)?))
}

/// Per step `k` (from 1), how many reached at least level `k`, given how
/// many reached each level exactly (index 0: none).
fn reaching(per_level: &[u64]) -> Vec<u64> {
    let mut at_least: Vec<u64> = per_level
        .iter()
        .rev()
        .scan(0, |sum, &count| {
            *sum += count;
            Some(*sum)
        })
        .collect();
    at_least.reverse();
    at_least.into_iter().skip(1).collect()
}

/// What a funnel counts while folding visits.
struct Reached<'a> {
    /// The steps.
    steps: &'a [StepMatch],
    /// The codes of the first step, and of the second: a visit without the
    /// first reaches nothing, and one with the first but not the second
    /// reaches step 1 whatever its other events are.
    gate: (&'a [u64], &'a [u64]),
    /// Visits per deepest level reached (index 0: none); a visit counts
    /// for every step up to its level, which [`reaching`] adds up once at
    /// the end rather than per visit.
    visits: Vec<u64>,
    /// Per level `k` from 1 (at index `k - 1`), the visitors of the visits
    /// whose deepest level is `k`: the visitors who reached step `k` are the
    /// union of the levels from `k` on ([`visitors_reaching`]). A counter
    /// per level takes a visit in a few nanoseconds, in registers that stay
    /// in the cache; grouping every visit by its visitor first cost a third
    /// of a year-long funnel.
    visitors: Vec<Counter>,
}

/// The visitors of one funnel level, counted as the filtered totals count
/// theirs: exact up to [`MERGE_EXACT_LIMIT`], estimated beyond.
fn level_visitors() -> Counter {
    Counter::new(SITE_PRECISION, MERGE_EXACT_LIMIT)
}

impl<'a> Reached<'a> {
    /// A funnel of `steps`, whose first two steps' codes are `gate`.
    fn new(steps: &'a [StepMatch], gate: (&'a [u64], &'a [u64])) -> Self {
        Self {
            steps,
            gate,
            visits: vec![0; steps.len() + 1],
            visitors: (0..steps.len()).map(|_| level_visitors()).collect(),
        }
    }

    #[inline]
    fn add(&mut self, visitor_id: i64, level: usize) {
        self.visits[level] += 1;
        if let Some(visitors) = level
            .checked_sub(1)
            .and_then(|at| self.visitors.get_mut(at))
        {
            visitors.insert(visitor_hash(visitor_id));
        }
    }
}

/// Per step `k` (from 1), the distinct visitors who reached at least level
/// `k`, given the visitors of each level from 1 (`per_level`) and the
/// visits that reached each step (`visits`, as [`reaching`] gives them).
fn visitors_reaching(per_level: Vec<Counter>, visits: &[u64]) -> Vec<u64> {
    let mut union = level_visitors();
    let mut reached: Vec<u64> = per_level
        .into_iter()
        .rev()
        .map(|level| {
            union.merge(level);
            union.estimate()
        })
        .collect();
    reached.reverse();
    capped(reached, visits)
}

/// Estimated visitors per step as a count of them can be: never more than
/// the step's visits, nor than the visitors of the step before (every
/// visitor of a step reached the one before). An estimate may overshoot
/// either.
fn capped(visitors: Vec<u64>, visits: &[u64]) -> Vec<u64> {
    let mut before = u64::MAX;
    visitors
        .into_iter()
        .zip(visits)
        .map(|(visitors, &visits)| {
            before = visitors.min(visits).min(before);
            before
        })
        .collect()
}

impl VisitFold for Reached<'_> {
    fn add_visit(&mut self, visitor_id: i64, steps: impl Iterator<Item = StepId>) {
        let level = greedy_level(self.steps, steps);
        self.add(visitor_id, level);
    }

    fn code_gate(&self) -> Option<CodeGate<'_>> {
        Some(CodeGate {
            holding: self.gate.0,
            steps_for: self.gate.1,
        })
    }

    /// A visit with the first step but not the second reaches step 1.
    fn add_unread(&mut self, visitor_id: i64) {
        self.add(visitor_id, 1);
    }

    fn merge(&mut self, other: Self) {
        self.visits = add_counts(std::mem::take(&mut self.visits), other.visits);
        for (mine, theirs) in self.visitors.iter_mut().zip(other.visitors) {
            mine.merge(theirs);
        }
    }
}

/// Per step, the visits (and their distinct visitors) that reached it.
pub(crate) fn run(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    steps: &[Step],
    window_ms: Option<i64>,
) -> Result<Vec<FunnelStep>, StoreError> {
    let (ids, props): (Vec<StepMatch>, Vec<StepProp>) = steps
        .iter()
        .map(|step| step_match(conn, site, step))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    let with_props = props.iter().any(Option::is_some);
    let [first_codes, second_codes] =
        [0, 1].map(|step| ids.get(step).map(StepMatch::codes).unwrap_or_default());
    let gate = (first_codes.as_slice(), second_codes.as_slice());
    let mut reached = Reached::new(&ids, gate);
    if ids.first().is_some_and(|first| !first.is_empty()) {
        match window_ms {
            // Without a window (or a goal's property) event times do not
            // matter, so packed days serve.
            None if !with_props => {
                reached = fold_visits(conn, site, query, StepKinds::All, true, || {
                    Reached::new(&ids, gate)
                })?;
            }
            _ => {
                let bounds = Bounds::of(site, query);
                let filter = VisitFilter::compile(conn, query, bounds)?;
                let columns = Columns {
                    visitors: true,
                    events: true,
                    event_times: true,
                    props: with_props,
                    ..Columns::default()
                };
                // Each accumulator keeps a buffer for the visit at hand.
                let folds = fold_matching(
                    conn,
                    site.id,
                    bounds,
                    &filter,
                    columns,
                    || (Reached::new(&ids, gate), Vec::new()),
                    |(reached, events): &mut (Reached<'_>, Vec<(i64, StepMask)>), visit| {
                        events.clear();
                        events.extend(visit.events.iter().map(|event| {
                            let carries = |j: usize| match props[j] {
                                None => true,
                                Some(None) => false,
                                Some(Some(pair)) => visit.props_of(event).contains(&pair),
                            };
                            (event.ts, StepMask::of(&ids, StepId::of(event), carries))
                        }));
                        reached.add(
                            visit.visitor_id,
                            level_of_masks(ids.len(), events, window_ms),
                        );
                    },
                )?;
                for (fold, _) in folds {
                    reached.merge(fold);
                }
            }
        }
    }
    let Reached {
        visits, visitors, ..
    } = reached;
    let visits = reaching(&visits);
    let visitors = visitors_reaching(visitors, &visits);
    Ok(steps
        .iter()
        .zip(visits)
        .zip(visitors)
        .map(|((step, visits), visitors)| FunnelStep {
            step: step.clone(),
            visits,
            visitors,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_greedy_level_is_the_level_without_a_window(
            steps in prop::collection::vec(prop::option::weighted(0.9, 0i64..4), 1..5),
            events in prop::collection::vec((0i64..4, any::<bool>()), 0..12),
        ) {
            let step = |k: usize, id: i64| if k.is_multiple_of(2) { StepId::page(id) } else { StepId::event(id) };
            let steps: Vec<StepMatch> = steps
                .iter()
                .enumerate()
                .map(|(k, s)| StepMatch::of(s.map(|id| step(k, id))))
                .collect();
            let events: Vec<(i64, StepId)> = events
                .iter()
                .enumerate()
                .map(|(at, &(id, page))| (at as i64, step(usize::from(!page), id)))
                .collect();
            prop_assert_eq!(
                greedy_level(&steps, events.iter().map(|&(_, step)| step)),
                level(&steps, &events, None)
            );
        }
    }

    #[test]
    fn a_steps_visitors_are_those_of_every_level_from_it_on() {
        let counter = |ids: &[i64]| {
            let mut counter = level_visitors();
            for &id in ids {
                counter.insert(visitor_hash(id));
            }
            counter
        };
        // Visitor 1 reached step 1 in one visit and step 3 in another,
        // visitor 2 step 2, visitor 3 step 1 (twice).
        let per_level = vec![counter(&[1, 3, 3]), counter(&[2]), counter(&[1])];
        assert_eq!(visitors_reaching(per_level, &[5, 2, 1]), vec![3, 2, 1]);
        // An estimate is never shown above the visits.
        assert_eq!(visitors_reaching(vec![counter(&[1, 2, 3])], &[2]), vec![2]);
    }

    #[test]
    fn estimated_visitors_never_exceed_the_visits_nor_the_step_before() {
        assert_eq!(capped(vec![90, 95, 40], &[100, 96, 30]), vec![90, 90, 30]);
        assert_eq!(capped(vec![5, 3, 3], &[9, 9, 9]), vec![5, 3, 3]);
        assert_eq!(capped(Vec::new(), &[]), Vec::<u64>::new());
    }

    const A: StepId = StepId(1 << 1);
    const B: StepId = StepId(2 << 1);
    const E: StepId = StepId(3 << 1 | 1);

    #[test]
    fn counts_per_level_add_up_to_counts_reaching_each_step() {
        assert_eq!(reaching(&[5, 1, 0, 2]), vec![3, 2, 2]);
        assert_eq!(reaching(&[0]), Vec::<u64>::new());
    }

    #[test]
    fn levels_follow_the_order_and_the_window() {
        let one = |id: StepId| StepMatch::of([id]);
        let steps = [one(A), one(B), one(E)];
        assert_eq!(level(&steps, &[(0, A), (1, B), (2, E)], None), 3);
        assert_eq!(level(&steps, &[(0, B), (1, A), (2, E)], None), 1);
        assert_eq!(level(&steps, &[(0, A), (1, E), (2, B)], None), 2);
        assert_eq!(level(&steps, &[(0, B), (1, E)], None), 0);
        assert_eq!(level(&steps, &[], None), 0);
        // The window counts from the chain's first step; a later restart helps.
        assert_eq!(level(&steps, &[(0, A), (50, B), (120, E)], Some(100)), 2);
        assert_eq!(
            level(
                &steps,
                &[(0, A), (50, B), (60, A), (70, B), (120, E)],
                Some(100)
            ),
            3
        );
        // A step that repeats needs two events.
        let twice = [one(A), one(A)];
        assert_eq!(level(&twice, &[(0, A)], None), 1);
        assert_eq!(level(&twice, &[(0, A), (1, A)], None), 2);
        // A step that was never stored is never reached.
        assert_eq!(
            level(&[one(A), StepMatch::default()], &[(0, A), (1, B)], None),
            1
        );
        // A step of several ids (a page pattern) is reached by any of them.
        let either = [one(E), StepMatch::of([B, A])];
        assert_eq!(level(&either, &[(0, E), (1, B)], None), 2);
        assert_eq!(greedy_level(&either, [E, A]), 2);
        assert_eq!(greedy_level(&either, [A, E]), 1);
    }
}
