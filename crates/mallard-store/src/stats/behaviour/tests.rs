//! The behavioural queries against a naive recomputation from the raw rows.
//!
//! The same random event sets as the rollup property test (visits crossing
//! midnight and daylight-saving changes, late events, custom events, several
//! time zones), plus bot visits, are written through the real writer. Each
//! query is then recomputed from all stored events and visits with plain,
//! brute-force code that shares nothing with the queries: funnels by trying
//! every ordered choice of events, paths and flows by slicing each visit's
//! event list, retention from local days, sessions and export by sorting.

use std::collections::{BTreeMap, HashMap, HashSet};

use mallard_core::{DayRange, EventName, Interval, NewEvent, SiteTimeZone, Step};
use proptest::prelude::*;

use super::{Cohort, Flow, Neighbour};
use crate::stats::StatsQuery;
use crate::stats::tests::{
    BASES_MS, GenEvent, PATHS, RefEvent, Reference, SITE, ZONES, arrival_order, hostname_of,
    queries_over, store_events,
};
use crate::{ReadConn, Store, StoreOptions};

/// The step an event stands for.
fn step_of(e: &RefEvent) -> Step {
    if e.name == EventName::PAGEVIEW {
        Step::Page(e.path.clone())
    } else {
        Step::Event(e.name.clone())
    }
}

/// The selected visits with all their events in order.
/// Whether `e` is `step`: its event, its page, or a page its pattern
/// matches.
fn step_matches(step: &Step, e: &RefEvent) -> bool {
    match step {
        Step::Goal(name) => GOALS.iter().any(|(goal, event, page, prop)| {
            *goal == name
                && match (event, page) {
                    (Some(event), _) => e.name == *event,
                    (None, Some(page)) => step_matches(&Step::Page((*page).to_owned()), e),
                    (None, None) => false,
                }
                && prop
                    .is_none_or(|(key, value)| e.props.iter().any(|(k, v)| k == key && v == value))
        }),
        Step::Page(pattern) if pattern.contains('*') => {
            e.name == EventName::PAGEVIEW
                && mallard_core::goal::PathPattern::parse(pattern)
                    .is_ok_and(|pattern| pattern.matches(&e.path))
        }
        _ => step_of(e) == *step,
    }
}

fn visit_paths<'a>(reference: &'a Reference, query: &StatsQuery) -> Vec<(i64, Vec<&'a RefEvent>)> {
    let (_, visits) = reference.select(query);
    let ids: HashSet<i64> = visits.iter().map(|(id, _)| *id).collect();
    let mut by_visit: BTreeMap<i64, Vec<&RefEvent>> =
        ids.iter().map(|id| (*id, Vec::new())).collect();
    for e in &reference.events {
        if let Some(list) = by_visit.get_mut(&e.visit_id) {
            list.push(e);
        }
    }
    by_visit
        .into_iter()
        .map(|(id, mut list)| {
            list.sort_by_key(|e| (e.ts, e.id));
            (id, list)
        })
        .collect()
}

/// The deepest funnel level of one visit, by trying every ordered choice.
fn naive_level(steps: &[Step], events: &[&RefEvent], window: Option<i64>) -> usize {
    fn deeper(
        steps: &[Step],
        events: &[&RefEvent],
        from: usize,
        first_ts: Option<i64>,
        window: Option<i64>,
    ) -> usize {
        let Some(step) = steps.first() else {
            return 0;
        };
        let mut best = 0;
        for i in from..events.len() {
            let e = events[i];
            let start = first_ts.unwrap_or(e.ts);
            if step_matches(step, e) && window.is_none_or(|w| e.ts - start <= w) {
                best = best.max(1 + deeper(&steps[1..], events, i + 1, Some(start), window));
            }
        }
        best
    }
    deeper(steps, events, 0, None, window)
}

fn collapsed(events: &[&RefEvent], pages_only: bool) -> Vec<Step> {
    let mut path: Vec<Step> = events
        .iter()
        .filter(|e| !pages_only || e.name == EventName::PAGEVIEW)
        .map(|e| step_of(e))
        .collect();
    path.dedup();
    path
}

/// A goal as (name, event, page pattern, property).
type GoalRow = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<(&'static str, &'static str)>,
);

/// The goals of the site: funnels take them as steps (`goal:NAME`).
const GOALS: &[GoalRow] = &[
    ("Pro signups", Some("Signup"), None, Some(("plan", "pro"))),
    ("Team pages", None, Some("/**"), Some(("plan", "team"))),
    ("Blog", None, Some("/blog/*"), None),
    ("Never", Some("Never sent"), None, None),
];

/// Adds [`GOALS`] to the site.
fn add_goals(store: &Store) {
    for &(name, event, page, prop) in GOALS {
        let definition = crate::goals::GoalDefinition {
            name: name.into(),
            event_name: event.map(Into::into),
            page_path: page.map(Into::into),
            prop: prop.map(|(k, v)| (k.into(), v.into())),
        };
        store
            .writer()
            .run_blocking(move |conn| crate::goals::add_goal(conn, SITE, &definition, 0))
            .unwrap();
    }
}

fn check_funnel(db: &ReadConn<'_>, reference: &Reference, query: &StatsQuery, seed: usize) {
    let site = db.stats_site(SITE).unwrap().unwrap();
    let pool = [
        Step::Goal("Pro signups".into()),
        Step::Goal("Team pages".into()),
        Step::Goal("Blog".into()),
        Step::Goal("Not a goal".into()),
        Step::Page("/".into()),
        Step::Page("/pricing".into()),
        Step::Page("/docs".into()),
        Step::Event("Signup".into()),
        Step::Event("Purchase".into()),
        Step::Page("/never".into()),
        Step::Page("/blog/*".into()),
        Step::Page("/**".into()),
    ];
    let steps: Vec<Step> = (0..2 + seed % 3)
        .map(|i| pool[(seed / 3 + i * 5) % pool.len()].clone())
        .collect();
    let paths = visit_paths(reference, query);
    for window in [None, Some(90_000), Some(3_600_000)] {
        let got = db.stats_funnel(&site, query, &steps, window).unwrap();
        for (k, row) in got.iter().enumerate() {
            let reached: Vec<i64> = paths
                .iter()
                .filter(|(_, events)| naive_level(&steps, events, window) > k)
                .map(|(id, _)| *id)
                .collect();
            let visitors: HashSet<i64> = reached
                .iter()
                .map(|id| reference.visits[id].visitor)
                .collect();
            assert_eq!(row.step, steps[k]);
            assert_eq!(
                (row.visits, row.visitors),
                (reached.len() as u64, visitors.len() as u64),
                "step {k} of {steps:?}, window {window:?}, {query:?}"
            );
        }
    }
}

type Counts<K> = HashMap<K, (u64, u64)>;

fn count_all<K: Clone + Eq + std::hash::Hash>(counts: &mut Counts<K>, items: &[K]) {
    let distinct: HashSet<&K> = items.iter().collect();
    for item in items {
        counts.entry(item.clone()).or_default().1 += 1;
    }
    for item in distinct {
        counts.entry(item.clone()).or_default().0 += 1;
    }
}

fn check_paths(db: &ReadConn<'_>, reference: &Reference, query: &StatsQuery) {
    let site = db.stats_site(SITE).unwrap().unwrap();
    let paths = visit_paths(reference, query);
    for length in 2..=4 {
        let mut expected: Counts<Vec<Step>> = HashMap::new();
        for (_, events) in &paths {
            let path = collapsed(events, false);
            let runs: Vec<Vec<Step>> = path.windows(length).map(<[Step]>::to_vec).collect();
            count_all(&mut expected, &runs);
        }
        let got = db.stats_sequences(&site, query, length, 10_000).unwrap();
        let got_map: Counts<Vec<Step>> = got
            .iter()
            .map(|s| (s.steps.clone(), (s.visits, s.occurrences)))
            .collect();
        assert_eq!(got_map, expected, "length {length} {query:?}");
        assert!(
            got.windows(2)
                .all(|w| (w[0].visits, w[0].occurrences) >= (w[1].visits, w[1].occurrences))
        );
    }
    for page in PATHS.iter().chain(&["/never"]) {
        let target = Step::Page((*page).to_owned());
        let mut next: Counts<Neighbour<Step>> = HashMap::new();
        let mut previous: Counts<Neighbour<Step>> = HashMap::new();
        let mut next_visitors: HashMap<Neighbour<Step>, HashSet<i64>> = HashMap::new();
        let mut previous_visitors: HashMap<Neighbour<Step>, HashSet<i64>> = HashMap::new();
        let mut expected = Flow::default();
        for (id, events) in &paths {
            let path = collapsed(events, true);
            let at: Vec<usize> = (0..path.len()).filter(|&i| path[i] == target).collect();
            if at.is_empty() {
                continue;
            }
            expected.visits += 1;
            expected.views += at.len() as u64;
            let after: Vec<_> = at
                .iter()
                .map(|&i| {
                    path.get(i + 1)
                        .cloned()
                        .map_or(Neighbour::Exit, Neighbour::Step)
                })
                .collect();
            let before: Vec<_> = at
                .iter()
                .map(|&i| {
                    if i == 0 {
                        Neighbour::Entrance
                    } else {
                        Neighbour::Step(path[i - 1].clone())
                    }
                })
                .collect();
            count_all(&mut next, &after);
            count_all(&mut previous, &before);
            let visitor = reference.visits[id].visitor;
            for page in &after {
                next_visitors
                    .entry(page.clone())
                    .or_default()
                    .insert(visitor);
            }
            for page in &before {
                previous_visitors
                    .entry(page.clone())
                    .or_default()
                    .insert(visitor);
            }
        }
        let got = db.stats_flow(&site, query, page, 1_000).unwrap();
        assert_eq!(
            (got.visits, got.views),
            (expected.visits, expected.views),
            "{page}"
        );
        let as_map = |rows: &[super::FlowRow]| -> Counts<Neighbour<Step>> {
            rows.iter()
                .map(|r| (r.page.clone(), (r.visits, r.transitions)))
                .collect()
        };
        assert_eq!(as_map(&got.next), next, "next of {page} {query:?}");
        assert_eq!(
            as_map(&got.previous),
            previous,
            "previous of {page} {query:?}"
        );
        let visitors_of = |rows: &[super::FlowRow]| -> HashMap<Neighbour<Step>, u64> {
            rows.iter().map(|r| (r.page.clone(), r.visitors)).collect()
        };
        let distinct =
            |sets: HashMap<Neighbour<Step>, HashSet<i64>>| -> HashMap<Neighbour<Step>, u64> {
                sets.into_iter()
                    .map(|(page, visitors)| (page, visitors.len() as u64))
                    .collect()
            };
        assert_eq!(visitors_of(&got.next), distinct(next_visitors), "{page}");
        assert_eq!(
            visitors_of(&got.previous),
            distinct(previous_visitors),
            "{page}"
        );
    }
}

fn check_retention(db: &ReadConn<'_>, reference: &Reference, query: &StatsQuery) {
    let site = db.stats_site(SITE).unwrap().unwrap();
    let (_, visits) = reference.select(query);
    let week_of = |ts: i64| Interval::Week.bucket_start_day(reference.tz.local_day(ts));
    let buckets = Interval::Week.buckets(query.range).unwrap();
    let mut weeks_of: HashMap<i64, Vec<i64>> = HashMap::new();
    for (_, v) in &visits {
        weeks_of
            .entry(v.visitor)
            .or_default()
            .push(week_of(v.start));
    }
    for n in [1, 2, 52] {
        let mut expected: Vec<Cohort> = buckets
            .iter()
            .enumerate()
            .map(|(i, &day)| Cohort {
                week_start: day,
                visitors: 0,
                returning: (1..=n)
                    .map(|k| (i + k < buckets.len()).then_some(0))
                    .collect(),
            })
            .collect();
        for weeks in weeks_of.values() {
            let first = *weeks.iter().min().unwrap();
            let cohort = expected.iter_mut().find(|c| c.week_start == first).unwrap();
            cohort.visitors += 1;
            for k in 1..=n {
                if weeks.contains(&(first + 7 * k as i64))
                    && let Some(Some(count)) = cohort.returning.get_mut(k - 1)
                {
                    *count += 1;
                }
            }
        }
        assert_eq!(
            db.stats_retention(&site, query, n).unwrap(),
            expected,
            "{query:?}"
        );
    }
}

fn check_lists(db: &ReadConn<'_>, reference: &Reference, query: &StatsQuery) {
    let site = db.stats_site(SITE).unwrap().unwrap();
    let (events, visits) = reference.select(query);
    let mut ordered: Vec<(i64, i64, i64)> = visits
        .iter()
        .map(|(id, v)| (v.start, *id, v.pageviews))
        .collect();
    ordered.sort_unstable();
    ordered.reverse();
    let got = db.stats_sessions(&site, query, 1_000, 0, false).unwrap();
    let got: Vec<(i64, i64, i64)> = got
        .iter()
        .map(|s| (s.start_ts, s.visit_id, s.pageviews))
        .collect();
    assert_eq!(got, ordered, "sessions {query:?}");
    if ordered.len() > 2 {
        let page = db.stats_sessions(&site, query, 2, 1, false).unwrap();
        let ids: Vec<i64> = page.iter().map(|s| s.visit_id).collect();
        assert_eq!(ids, vec![ordered[1].1, ordered[2].1]);
        let oldest = db.stats_sessions(&site, query, 1, 0, true).unwrap();
        assert_eq!(oldest[0].visit_id, ordered.last().unwrap().1);
    }
    // Time order; ties by visit, then in the visit's order (by event id).
    let mut expected: Vec<&RefEvent> = events;
    expected.sort_by_key(|e| (e.ts, e.visit_id, e.id));
    let got = db.stats_export_events(&site, query, 10_000, 0).unwrap();
    assert_eq!(got.len(), expected.len(), "export {query:?}");
    for (g, e) in got.iter().zip(&expected) {
        let mut props = e.props.clone();
        props.sort();
        assert_eq!(
            (
                g.ts,
                g.visit_id,
                &g.name,
                &g.hostname,
                &g.pathname,
                &g.props
            ),
            (
                e.ts,
                e.visit_id,
                &e.name,
                &hostname_of(&e.path),
                &e.path,
                &props
            )
        );
    }
    let tail = db.stats_export_events(&site, query, 3, 1).unwrap();
    assert_eq!(tail.len(), expected.len().saturating_sub(1).min(3));
}

/// Marks the visits of every fifth visitor as bots (kept, as with
/// `filter_bots = false`).
fn with_bots(events: Vec<NewEvent>) -> Vec<NewEvent> {
    events
        .into_iter()
        .map(|mut e| {
            e.session.is_bot = e.visitor.0 % 5 == 1;
            e
        })
        .collect()
}

fn run_case(
    zone_index: usize,
    base_index: usize,
    generated: &[GenEvent],
    picked_filters: &[(usize, bool)],
    range_offset: i64,
    range_days: i64,
    seed: usize,
) {
    let zone = ZONES[zone_index];
    let base_ms = BASES_MS[base_index];
    let dir = tempfile::tempdir().unwrap();
    // Events cluster in 2-hour evenings of 17 days: visits of several events
    // that cross midnight, and visitors who come back in later weeks.
    let generated: Vec<GenEvent> = generated
        .iter()
        .map(|g| (g.0 % 17 * 24 * 60 + g.0 / 17 % 120, g.1, g.2, g.3, g.4, g.5))
        .collect();
    let events = with_bots(arrival_order(base_ms, &generated));
    store_events(dir.path(), zone, &events, &[7, 3, 20]);
    let tz = SiteTimeZone::parse(zone).unwrap();
    let first_day = tz.local_day(base_ms);
    let range = DayRange {
        start: first_day - 1 + range_offset,
        end: first_day - 1 + range_offset + range_days,
    };
    let whole = DayRange {
        start: first_day - 8,
        end: first_day + 20,
    };
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    add_goals(&store);
    store
        .reads()
        .with(|db| {
            let reference = Reference::load(db.connection(), tz.clone());
            for query in queries_over(range, whole, picked_filters) {
                check_funnel(db, &reference, &query, seed);
                check_paths(db, &reference, &query);
                check_retention(db, &reference, &query);
                check_lists(db, &reference, &query);
            }
            Ok(())
        })
        .unwrap();
    store.close();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn behavioural_queries_match_a_naive_recomputation(
        zone_index in 0..ZONES.len(),
        base_index in 0..BASES_MS.len(),
        generated in prop::collection::vec(
            // Up to 17 days, so that visitors come back in later weeks.
            (0i64..17 * 24 * 60, 0u64..10, 0u8..10, 0usize..PATHS.len(), 0usize..8, prop::bool::weighted(0.1)),
            1..120,
        ),
        picked_filters in prop::collection::vec((0usize..64, any::<bool>()), 1..3),
        range_offset in 0i64..10,
        range_days in 1i64..12,
        seed in 0usize..1_000,
    ) {
        run_case(zone_index, base_index, &generated, &picked_filters, range_offset, range_days, seed);
    }

    /// Only event-level filters (pages, event names, properties; stored
    /// values, `(unknown)` and values never stored), alone or with a
    /// visit-level one: funnels with windows, sequences and flows over the
    /// visits holding a matching event of the period.
    #[test]
    fn behavioural_queries_with_event_filters_match_a_naive_recomputation(
        zone_index in 0..ZONES.len(),
        base_index in 0..BASES_MS.len(),
        generated in prop::collection::vec(
            (0i64..17 * 24 * 60, 0u64..10, 0u8..10, 0usize..PATHS.len(), 0usize..8, prop::bool::weighted(0.1)),
            1..120,
        ),
        picked in prop::collection::vec((0usize..64, any::<bool>()), 1..3),
        visit_level in prop::option::of((0usize..64, any::<bool>())),
        range_offset in 0i64..10,
        range_days in 1i64..12,
        seed in 0usize..1_000,
    ) {
        let pool = crate::stats::tests::filter_pool();
        let (event_level, visit_level_pool): (Vec<usize>, Vec<usize>) = (0..pool.len())
            .partition(|&i| matches!(pool[i].0, "page" | "event") || pool[i].0.starts_with("props."));
        let mut picked_filters: Vec<(usize, bool)> = picked
            .iter()
            .map(|&(i, negate)| (event_level[i % event_level.len()], negate))
            .collect();
        picked_filters.extend(
            visit_level.map(|(i, negate)| (visit_level_pool[i % visit_level_pool.len()], negate)),
        );
        run_case(zone_index, base_index, &generated, &picked_filters, range_offset, range_days, seed);
    }
}

/// Behavioural queries under a visit attribute filter, in a zone whose
/// local days start five hours into their UTC days, over packed days some
/// of whose visits cross the local midnight, and one visitor's visits
/// that cross both midnights every night: every evening of 17 days from
/// 17:13 in New York, visits of four events ten minutes apart around its
/// midnight, and a page view every ten minutes from 18:13 to 04:03.
#[test]
fn behavioural_queries_under_a_visit_filter_match_across_a_local_midnight() {
    let mut generated: Vec<GenEvent> = (0..119i64)
        .map(|i| {
            (
                (i % 17) * 24 * 60 + (i / 17) * 10,
                (i % 10) as u64,
                (i % 10) as u8,
                (i % 6) as usize,
                (i % 8) as usize,
                false,
            )
        })
        .collect();
    // One visitor keeps a visit going through every night, a page view
    // every ten minutes from 18:13 to 04:03 in New York.
    generated.extend((0..17 * 60i64).map(|i| {
        (
            (i / 60) * 24 * 60 + 60 + (i % 60) * 10,
            30,
            0,
            (i % 6) as usize,
            2,
            false,
        )
    }));
    generated.extend((0..68i64).map(|i| {
        (
            (i / 4) * 24 * 60 + 380 + (i % 4) * 10,
            20 + (i / 4 % 5) as u64,
            (i % 10) as u8,
            (i % 6) as usize,
            (i / 4 % 8) as usize,
            false,
        )
    }));
    let pool = crate::stats::tests::filter_pool();
    let source = pool
        .iter()
        .position(|filter| *filter == ("source", "Google"))
        .unwrap();
    let new_york = ZONES
        .iter()
        .position(|zone| *zone == "America/New_York")
        .unwrap();
    for (offset, days) in [(3, 6), (1, 12), (5, 2)] {
        run_case(new_york, 2, &generated, &[(source, false)], offset, days, 0);
        run_case(new_york, 2, &generated, &[(source, true)], offset, days, 0);
    }
}
