//! Funnels: how many visits of the period went through the steps in order.
//!
//! A visit reaches step `k` when it has events matching steps 1..k in that
//! order (other events in between are allowed), and, with a window, step k
//! happened at most `window` after the step-1 event of the same chain. The
//! level a visit reaches is computed as ClickHouse's `windowFunnel` does: for
//! each step the latest start of a chain that got that far is kept, which
//! finds the deepest chain in one pass.

use mallard_core::Step;
use rusqlite::Connection;

use super::super::SiteInfo;
use super::super::StatsQuery;
use super::super::raw::pageview_id;
use super::super::rollup::IdMap;
use super::selection::VisitSet;
use super::walk::{Rows, StepId, walk};
use super::{FunnelStep, resolve_step};
use crate::error::StoreError;

/// The deepest step (0 = none) that `events` reach in order, with step `j`
/// at most `window_ms` after the chain's first step.
pub(crate) fn level(
    steps: &[Option<StepId>],
    events: &[(i64, StepId)],
    window_ms: Option<i64>,
) -> usize {
    let mut starts: Vec<Option<i64>> = vec![None; steps.len()];
    for &(ts, event) in events {
        // Latest steps first, so one event never serves two consecutive steps.
        for j in (0..steps.len()).rev() {
            if steps[j] != Some(event) {
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

/// Per step, the visits (and their distinct visitors) that reached it.
pub(crate) fn run(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    steps: &[Step],
    window_ms: Option<i64>,
) -> Result<Vec<FunnelStep>, StoreError> {
    let pageview = pageview_id(conn)?;
    let ids = steps
        .iter()
        .map(|step| resolve_step(conn, step))
        .collect::<Result<Vec<_>, _>>()?;
    let mut pages = Vec::new();
    let mut events = Vec::new();
    for id in ids.iter().flatten() {
        match *id {
            StepId::Page(p) => pages.push(p),
            StepId::Event(e) => events.push(e),
        }
    }
    let mut visits = vec![0u64; steps.len()];
    // The deepest step each visitor reached in any of their visits.
    let mut deepest: IdMap<u8> = IdMap::default();
    if ids.first().is_some_and(Option::is_some) {
        let set = VisitSet::load(conn, site, query, true)?;
        walk(
            conn,
            site.id,
            &set,
            pageview,
            &Rows::Only { pages, events },
            |member, visit_events| {
                let reached = level(&ids, visit_events, window_ms);
                for count in &mut visits[..reached] {
                    *count += 1;
                }
                if reached > 0 {
                    let level = deepest.entry(member.visitor_id).or_default();
                    *level = (*level).max(reached as u8);
                }
            },
        )?;
    }
    let mut visitors = vec![0u64; steps.len()];
    for &level in deepest.values() {
        for count in &mut visitors[..usize::from(level)] {
            *count += 1;
        }
    }
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

    const A: StepId = StepId::Page(1);
    const B: StepId = StepId::Page(2);
    const E: StepId = StepId::Event(3);

    #[test]
    fn levels_follow_the_order_and_the_window() {
        let steps = [Some(A), Some(B), Some(E)];
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
        let twice = [Some(A), Some(A)];
        assert_eq!(level(&twice, &[(0, A)], None), 1);
        assert_eq!(level(&twice, &[(0, A), (1, A)], None), 2);
        // A step that was never stored is never reached.
        assert_eq!(level(&[Some(A), None], &[(0, A), (1, B)], None), 1);
    }
}
