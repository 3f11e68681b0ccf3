//! Sequences and flows: the paths visits take through pages and events.
//!
//! Counting uses Fx hash maps: the keys are the store's own ids, so a
//! keyed hash (the standard library's default) buys nothing and cost a fifth
//! of a year-long flow.
//!
//! A visit's path is its events in order, with consecutive repeats of the same
//! step collapsed (a reload of `/pricing` is one step). Sequences count the
//! runs of `length` consecutive steps of those paths; the flow of a page
//! counts, for each time a visit was on it, the page view that came before
//! (or `entrance`) and the one that came after (or `exit`).

use rayon::prelude::*;
use rusqlite::Connection;
use rustc_hash::FxHashMap;

use super::super::{SiteInfo, StatsQuery};
use super::radix::merged;
use super::source::{Folding, fold_visits};
use super::walk::{Rows, StepId};
use super::{Flow, FlowRow, Neighbour, Sequence, label_step};
use crate::error::StoreError;

/// Puts the steps of a visit into `path` with consecutive repeats collapsed.
fn collapse_into(path: &mut Vec<StepId>, events: &[(i64, StepId)]) {
    path.clear();
    path.extend(events.iter().map(|&(_, step)| step));
    path.dedup();
}

/// Counts of one path or neighbour: visits holding it, and occurrences.
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    visits: u32,
    occurrences: u32,
}

/// Counts one item per occurrence, and once per visit (sorting `items`).
fn add_all<K: Clone + Eq + std::hash::Hash + Ord>(
    counts: &mut FxHashMap<K, Count>,
    items: &mut Vec<K>,
) {
    if let [item] = items.as_slice() {
        // The usual case: one lookup.
        let count = counts.entry(item.clone()).or_default();
        count.occurrences = count.occurrences.saturating_add(1);
        count.visits = count.visits.saturating_add(1);
        return;
    }
    for item in items.iter() {
        let count = counts.entry(item.clone()).or_default();
        count.occurrences = count.occurrences.saturating_add(1);
    }
    items.sort_unstable();
    items.dedup();
    for item in items.drain(..) {
        let count = counts.entry(item).or_default();
        count.visits = count.visits.saturating_add(1);
    }
}

/// The top `limit` entries: most visits first, then most occurrences, then
/// the smallest key.
fn top<K: Ord + Clone>(
    counts: impl IntoIterator<Item = (K, Count)>,
    limit: usize,
) -> Vec<(K, Count)> {
    let order = |(ka, a): &(K, Count), (kb, b): &(K, Count)| {
        b.visits
            .cmp(&a.visits)
            .then(b.occurrences.cmp(&a.occurrences))
            .then_with(|| ka.cmp(kb))
    };
    if limit == 0 {
        return Vec::new();
    }
    let mut rows: Vec<(K, Count)> = counts.into_iter().collect();
    if rows.len() > limit {
        rows.select_nth_unstable_by(limit - 1, order);
        rows.truncate(limit);
    }
    rows.sort_unstable_by(order);
    rows
}

/// The longest sequence.
pub(crate) const MAX_LENGTH: usize = 5;
/// Bits per step in a run key: 5 steps of 25 bits fit 128 bits.
const STEP_BITS: u32 = 25;

/// The key of a run of step numbers (each below 2^25), first step highest.
fn run_key(numbers: &[u32]) -> u128 {
    numbers.iter().fold(0u128, |key, &number| {
        (key << STEP_BITS) | u128::from(number)
    })
}

/// Steps numbered in order of first appearance, so that a run of up to five
/// steps packs into one `u128` (16 bytes a key: a year of sequences at 10
/// million events holds millions of distinct runs).
#[derive(Debug, Default)]
struct StepIndex {
    numbers: FxHashMap<StepId, u32>,
    steps: Vec<StepId>,
}

impl StepIndex {
    fn number(&mut self, step: StepId) -> u32 {
        *self.numbers.entry(step).or_insert_with(|| {
            self.steps.push(step);
            self.steps.len() as u32
        })
    }

    fn steps(&self, mut key: u128, length: usize) -> Vec<StepId> {
        let mut run = vec![StepId::Page(0); length];
        for slot in run.iter_mut().rev() {
            let number = (key & ((1 << STEP_BITS) - 1)) as usize;
            *slot = self.steps[number - 1];
            key >>= STEP_BITS;
        }
        run
    }
}

/// The runs a sequences query collects while folding visits: every run
/// taken, as its key shifted left by one, the low bit set on the first
/// occurrence in its visit. Sorting brings equal runs together, so counting
/// needs 16 bytes per occurrence and no hash map (a year of a busy site has
/// millions of distinct runs).
#[derive(Debug, Default)]
struct Runs {
    index: StepIndex,
    runs: Vec<u128>,
    /// Runs of merged folds, translated to this index, kept apart so that no
    /// list of millions is copied into another.
    others: Vec<Vec<u128>>,
    too_many: bool,
    /// Buffers reused from visit to visit.
    path: Vec<StepId>,
    numbers: Vec<u32>,
    keys: Vec<u128>,
}

impl Runs {
    /// Adds the runs of `length` steps of one visit's path (its events with
    /// consecutive repeats collapsed).
    fn add(&mut self, events: &[(i64, StepId)], length: usize) {
        collapse_into(&mut self.path, events);
        if self.path.len() < length {
            return;
        }
        // Each step is numbered once; the runs are built from the numbers.
        self.numbers.clear();
        for &step in &self.path {
            let number = self.index.number(step);
            if number >= 1 << STEP_BITS {
                self.too_many = true;
                return;
            }
            self.numbers.push(number);
        }
        self.keys.clear();
        self.keys.extend(self.numbers.windows(length).map(run_key));
        self.keys.sort_unstable();
        // The first occurrence of a run in the visit is flagged.
        let keys = &self.keys;
        self.runs.extend(
            keys.iter()
                .enumerate()
                .map(|(at, &key)| (key << 1) | u128::from(at == 0 || keys[at - 1] != key)),
        );
    }

    /// Adds the runs of another fold, whose steps are numbered by its own
    /// index: each step number of its keys is translated to this index's.
    fn merge(&mut self, mut other: Self, length: usize) {
        if self.runs.is_empty() && self.others.is_empty() && !self.too_many {
            // Nothing to translate into: take the other fold as it is.
            std::mem::swap(self, &mut other);
            self.too_many |= other.too_many;
            return;
        }
        self.too_many |= other.too_many;
        let numbers: Vec<u32> = other
            .index
            .steps
            .iter()
            .map(|&step| self.index.number(step))
            .collect();
        if numbers.iter().any(|&n| n >= 1 << STEP_BITS) {
            self.too_many = true;
            return;
        }
        let mask = (1u128 << STEP_BITS) - 1;
        let translate = |run: &mut u128| {
            let mut key = *run >> 1;
            let mut translated = 0u128;
            for at in 0..length {
                let number = (key & mask) as usize;
                translated |= u128::from(numbers[number - 1]) << (at as u32 * STEP_BITS);
                key >>= STEP_BITS;
            }
            *run = (translated << 1) | (*run & 1);
        };
        for mut runs in std::iter::once(other.runs).chain(other.others) {
            runs.iter_mut().for_each(translate);
            self.others.push(runs);
        }
    }
}

/// The `limit` most common runs of sorted lists of flagged run keys (see
/// [`Runs`]): the lists are merged as they are read, equal runs counted, and
/// only the best `limit` kept (most visits, then most occurrences, then the
/// smallest key), so no list of all distinct runs is built.
fn top_runs(lists: &[Vec<u128>], limit: usize) -> Vec<(u128, Count)> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // The worst kept entry on top.
    let mut best: BinaryHeap<Reverse<(u32, u32, Reverse<u128>)>> = BinaryHeap::new();
    let mut keep = |key: u128, count: Count| {
        best.push(Reverse((count.visits, count.occurrences, Reverse(key))));
        if best.len() > limit {
            best.pop();
        }
    };
    let mut current: Option<(u128, Count)> = None;
    for run in merged(lists) {
        let key = run >> 1;
        match &mut current {
            Some((k, count)) if *k == key => {
                count.occurrences = count.occurrences.saturating_add(1);
                count.visits = count.visits.saturating_add((run & 1) as u32);
            }
            _ => {
                if let Some((k, count)) = current.take() {
                    keep(k, count);
                }
                current = Some((
                    key,
                    Count {
                        visits: (run & 1) as u32,
                        occurrences: 1,
                    },
                ));
            }
        }
    }
    if let Some((k, count)) = current {
        keep(k, count);
    }
    // In the order of `top`.
    top(
        best.into_iter()
            .map(|Reverse((visits, occurrences, Reverse(key)))| {
                (
                    key,
                    Count {
                        visits,
                        occurrences,
                    },
                )
            }),
        limit,
    )
}

/// The most common runs of `length` consecutive steps within visits.
pub(crate) fn sequences(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    length: usize,
    limit: usize,
) -> Result<Vec<Sequence>, StoreError> {
    let length = length.clamp(1, MAX_LENGTH);
    let Runs {
        index,
        runs,
        others,
        too_many,
        ..
    } = fold_visits(
        conn,
        site,
        query,
        &Rows::All,
        false,
        true,
        Folding {
            new: Runs::default,
            each: |fold: &mut Runs, _, events: &[(i64, StepId)]| fold.add(events, length),
            merge: |fold: &mut Runs, other| fold.merge(other, length),
        },
    )?;
    if too_many {
        return Err(StoreError::InvalidData(
            "too many distinct pages and events in the period for sequences".into(),
        ));
    }
    let mut lists = others;
    lists.push(runs);
    lists.par_iter_mut().for_each(|list| list.sort_unstable());
    let best = top_runs(&lists, limit);
    drop(lists);
    best.into_iter()
        .map(|(key, count)| {
            Ok(Sequence {
                steps: index
                    .steps(key, length)
                    .into_iter()
                    .map(|s| label_step(conn, s))
                    .collect::<Result<_, _>>()?,
                visits: u64::from(count.visits),
                occurrences: u64::from(count.occurrences),
            })
        })
        .collect()
}

/// What a flow counts while folding visits.
#[derive(Debug, Default)]
struct FlowFold {
    visits: u64,
    views: u64,
    next: FxHashMap<Neighbour<StepId>, Count>,
    previous: FxHashMap<Neighbour<StepId>, Count>,
    /// Buffers reused from visit to visit.
    path: Vec<StepId>,
    neighbours: Vec<Neighbour<StepId>>,
}

impl FlowFold {
    fn add(&mut self, target: StepId, events: &[(i64, StepId)]) {
        // Most visits never view the page.
        if !events.iter().any(|&(_, step)| step == target) {
            return;
        }
        collapse_into(&mut self.path, events);
        let path = &self.path;
        let at = || (0..path.len()).filter(|&i| path[i] == target);
        self.visits += 1;
        self.views += at().count() as u64;
        self.neighbours.clear();
        self.neighbours.extend(at().map(|i| {
            path.get(i + 1)
                .map_or(Neighbour::Exit, |s| Neighbour::Step(*s))
        }));
        add_all(&mut self.next, &mut self.neighbours);
        self.neighbours.clear();
        self.neighbours.extend(at().map(|i| {
            i.checked_sub(1)
                .map_or(Neighbour::Entrance, |p| Neighbour::Step(path[p]))
        }));
        add_all(&mut self.previous, &mut self.neighbours);
    }

    fn merge(&mut self, other: Self) {
        self.visits += other.visits;
        self.views += other.views;
        for (mine, theirs) in [
            (&mut self.next, other.next),
            (&mut self.previous, other.previous),
        ] {
            for (neighbour, count) in theirs {
                let sum = mine.entry(neighbour).or_default();
                sum.visits = sum.visits.saturating_add(count.visits);
                sum.occurrences = sum.occurrences.saturating_add(count.occurrences);
            }
        }
    }
}

/// Where visits came from and went to around one page.
pub(crate) fn flow(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    page: &str,
    limit: usize,
) -> Result<Flow, StoreError> {
    let Some(target) = super::super::labels::dim_id(conn, crate::dims::DimKind::Pathname, page)?
    else {
        return Ok(Flow::default());
    };
    let target = StepId::Page(target);
    let FlowFold {
        visits,
        views,
        next,
        previous,
        ..
    } = fold_visits(
        conn,
        site,
        query,
        &Rows::Pageviews,
        false,
        true,
        Folding {
            new: FlowFold::default,
            each: |fold: &mut FlowFold, _, events: &[(i64, StepId)]| fold.add(target, events),
            merge: FlowFold::merge,
        },
    )?;
    let mut result = Flow {
        visits,
        views,
        ..Flow::default()
    };
    let label = |rows: Vec<(Neighbour<StepId>, Count)>| -> Result<Vec<FlowRow>, StoreError> {
        rows.into_iter()
            .map(|(neighbour, count)| {
                Ok(FlowRow {
                    page: match neighbour {
                        Neighbour::Step(step) => Neighbour::Step(label_step(conn, step)?),
                        Neighbour::Entrance => Neighbour::Entrance,
                        Neighbour::Exit => Neighbour::Exit,
                    },
                    visits: u64::from(count.visits),
                    transitions: u64::from(count.occurrences),
                })
            })
            .collect()
    };
    result.next = label(top(next, limit))?;
    result.previous = label(top(previous, limit))?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_keys_round_trip() {
        let steps = [StepId::Page(7), StepId::Event(3), StepId::Page(1 << 40)];
        let mut index = StepIndex::default();
        let numbers: Vec<u32> = steps.iter().map(|&s| index.number(s)).collect();
        let key = run_key(&numbers);
        assert_eq!(index.steps(key, 3), steps.to_vec());
        assert_ne!(run_key(&numbers[1..]), key);
        let single = run_key(&numbers[..1]);
        assert_eq!(index.steps(single, 1), vec![steps[0]]);
    }

    #[test]
    fn repeats_collapse_and_counts_are_per_visit_and_per_occurrence() {
        let a = StepId::Page(1);
        let b = StepId::Page(2);
        let mut path = vec![b];
        collapse_into(&mut path, &[(0, a), (1, a), (2, b), (3, a)]);
        assert_eq!(path, vec![a, b, a]);
        let mut counts = FxHashMap::default();
        add_all(&mut counts, &mut vec![vec![a, b], vec![b, a], vec![a, b]]);
        add_all(&mut counts, &mut vec![vec![b, a]]);
        let rows = top(counts, 10);
        assert_eq!(rows[0].0, vec![b, a]);
        assert_eq!((rows[0].1.visits, rows[0].1.occurrences), (2, 2));
        assert_eq!((rows[1].1.visits, rows[1].1.occurrences), (1, 2));
        assert_eq!(top(FxHashMap::<u8, Count>::default(), 3).len(), 0);
    }
}
