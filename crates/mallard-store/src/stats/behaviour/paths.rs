//! Sequences and flows: the paths visits take through pages and events.
//!
//! A visit's path is its events in order, with consecutive repeats of the same
//! step collapsed (a reload of `/pricing` is one step). Sequences count the
//! runs of `length` consecutive steps of those paths; the flow of a page
//! counts, for each time a visit was on it, the page view that came before
//! (or `entrance`) and the one that came after (or `exit`).
//!
//! Sequences count their runs part by part ([`super::partition`]) in Fx hash
//! maps; flows count neighbours in arrays indexed by path id, or an Fx hash
//! map for databases with very many dimension values, and the visitors of
//! each neighbour in a visitor counter of its own (exact while small, as a
//! breakdown's are). The keys are the store's own ids, so a keyed hash (the
//! standard library's default) buys nothing: it cost a fifth of a year-long
//! flow.

use std::sync::Arc;

use rusqlite::Connection;
use rustc_hash::FxHashMap;

use super::super::{SiteInfo, StatsQuery};
use super::partition::{PassWindow, Scattered, group_parts, in_passes, part_hash};
use super::source::{VisitFold, fold_visits};
use super::step::{StepId, StepKinds};
use super::{Flow, FlowRow, Neighbour, Sequence, label_step};
use crate::error::StoreError;
use crate::hll::buffered::Buffered;
use crate::hll::{Counter, DIM_PRECISION, visitor_hash};
use crate::segment_fold::CodeGate;

/// The visitors of a neighbour stay exact up to this many, as those of a
/// breakdown's value do.
const NEIGHBOUR_EXACT_LIMIT: usize = 512;

/// Counts of one path or neighbour: visits holding it, and occurrences.
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    visits: u32,
    occurrences: u32,
}

impl Count {
    /// Counts one occurrence, and its visit when it is the first there.
    #[inline]
    fn add(&mut self, first_in_visit: bool) {
        self.occurrences = self.occurrences.saturating_add(1);
        self.visits = self.visits.saturating_add(u32::from(first_in_visit));
    }

    /// Adds the counts of another fold.
    fn merge(&mut self, other: Self) {
        self.visits = self.visits.saturating_add(other.visits);
        self.occurrences = self.occurrences.saturating_add(other.occurrences);
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

/// The key of a run of steps: their codes, `bits` bits each, the first step
/// highest, shifted left by one; the low bit flags the run's first occurrence
/// in its visit. Codes number the steps for every thread alike, so keys of
/// different threads need no translation. A `u64` holds a run whenever its
/// codes fit (three steps while the database holds fewer than a million
/// dimension values); longer runs and larger databases take a `u128`.
trait RunKey: Copy + Ord + std::hash::Hash + Send + Sync + std::fmt::Debug {
    /// No step.
    const ZERO: Self;
    /// The key of these bits (which fit).
    fn from_bits(bits: u128) -> Self;
    /// The key's bits.
    fn bits(self) -> u128;
    /// The run so far followed by `code`, cut to `mask`: `(self << bits |
    /// code) & mask`, on unflagged runs.
    fn then(self, code: u64, bits: u32, mask: Self) -> Self;
    /// The run, shifted left by one, with the flag.
    fn flagged(self, first: bool) -> Self;
    /// The hash of the run, flag aside, that picks its part.
    fn part_hash(self) -> u64;
}

impl RunKey for u64 {
    const ZERO: Self = 0;
    fn from_bits(bits: u128) -> Self {
        bits as u64
    }
    fn bits(self) -> u128 {
        u128::from(self)
    }
    #[inline]
    fn then(self, code: u64, bits: u32, mask: Self) -> Self {
        ((self << bits) | code) & mask
    }
    #[inline]
    fn flagged(self, first: bool) -> Self {
        (self << 1) | u64::from(first)
    }
    #[inline]
    fn part_hash(self) -> u64 {
        part_hash(self >> 1)
    }
}

impl RunKey for u128 {
    const ZERO: Self = 0;
    fn from_bits(bits: u128) -> Self {
        bits
    }
    fn bits(self) -> u128 {
        self
    }
    #[inline]
    fn then(self, code: u64, bits: u32, mask: Self) -> Self {
        ((self << bits) | u128::from(code)) & mask
    }
    #[inline]
    fn flagged(self, first: bool) -> Self {
        (self << 1) | u128::from(first)
    }
    #[inline]
    fn part_hash(self) -> u64 {
        let run = self >> 1;
        part_hash(run as u64 ^ part_hash((run >> 64) as u64))
    }
}

/// How runs of one query are keyed.
#[derive(Debug, Clone, Copy)]
struct RunShape {
    length: usize,
    /// Bits per step code.
    bits: u32,
}

impl RunShape {
    /// The steps of a key.
    fn steps<K: RunKey>(self, key: K) -> Vec<StepId> {
        let mut bits = key.bits() >> 1;
        let mut run = vec![StepId(0); self.length];
        for slot in run.iter_mut().rev() {
            *slot = StepId((bits & ((1 << self.bits) - 1)) as u64);
            bits >>= self.bits;
        }
        run
    }
}

/// The runs a sequences query collects while folding visits: every run
/// taken, flagged on its first occurrence in its visit, scattered by run
/// ([`super::partition`]), so that counting them needs a small hash map per
/// part: a year of a busy site has millions of distinct runs.
#[derive(Debug)]
struct Runs<K> {
    shape: RunShape,
    /// One set per thread that folded (merging moves sets).
    sets: Vec<Scattered<K>>,
    /// A code did not fit the shape (the dimensions grew meanwhile).
    overflow: bool,
    /// The runs of the visit at hand (reused).
    keys: Vec<K>,
}

impl<K: RunKey> Runs<K> {
    /// The runs of the parts of `window` ([`super::partition::in_passes`]).
    fn within(shape: RunShape, window: &Arc<PassWindow>) -> Self {
        Self {
            shape,
            sets: vec![Scattered::within(window)],
            overflow: false,
            keys: Vec::new(),
        }
    }
}

impl<K: RunKey> VisitFold for Runs<K> {
    /// Adds the runs of one visit's path (its steps with consecutive repeats
    /// collapsed), each key built from the previous one as the path goes.
    fn add_visit(&mut self, _: i64, steps: impl Iterator<Item = StepId>) {
        let RunShape { length, bits } = self.shape;
        let mask = K::from_bits((1u128 << (bits * length as u32)) - 1);
        let (mut run, mut taken, mut every_code) = (K::ZERO, 0, 0u64);
        let mut last = None;
        self.keys.clear();
        steps.for_each(|step| {
            if last == Some(step) {
                return;
            }
            last = Some(step);
            every_code |= step.0;
            run = run.then(step.0, bits, mask);
            taken += 1;
            if taken >= length {
                self.keys.push(run);
            }
        });
        if every_code >> bits != 0 {
            self.overflow = true;
            return;
        }
        let keys = &mut self.keys;
        // A run's first occurrence in the visit is flagged. Most visits have
        // a few runs, which a scan of the earlier ones checks faster than a
        // sort (whose branches the processor cannot predict).
        if keys.len() > 16 {
            keys.sort_unstable();
        }
        let sorted = keys.len() > 16;
        let set = &mut self.sets[0];
        for at in 0..keys.len() {
            let key = keys[at];
            let first = if sorted {
                at == 0 || keys[at - 1] != key
            } else {
                !keys[..at].contains(&key)
            };
            let flagged = key.flagged(first);
            set.push(flagged.part_hash(), flagged);
        }
    }

    fn min_steps(&self) -> usize {
        self.shape.length
    }

    fn merge(&mut self, other: Self) {
        self.overflow |= other.overflow;
        self.sets.extend(other.sets);
    }
}

/// The best `limit` runs of one thread's parts, kept as they are counted.
struct Best<K> {
    limit: usize,
    /// The worst kept entry on top.
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(u32, u32, std::cmp::Reverse<K>)>>,
}

impl<K: RunKey> Best<K> {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            heap: std::collections::BinaryHeap::new(),
        }
    }

    /// Keeps `run` if it is among the best so far: most visits, then most
    /// occurrences, then the smallest key.
    fn offer(&mut self, run: K, count: Count) {
        use std::cmp::Reverse;
        let entry = Reverse((count.visits, count.occurrences, Reverse(run)));
        if self.heap.len() < self.limit {
            self.heap.push(entry);
        } else if self.heap.peek().is_some_and(|worst| entry < *worst) {
            self.heap.pop();
            self.heap.push(entry);
        }
    }

    fn merge(mut self, other: Self) -> Self {
        for std::cmp::Reverse((visits, occurrences, std::cmp::Reverse(run))) in other.heap {
            self.offer(
                run,
                Count {
                    visits,
                    occurrences,
                },
            );
        }
        self
    }

    /// The kept runs in the order of [`top`].
    fn into_top(self) -> Vec<(K, Count)> {
        let limit = self.limit;
        top(
            self.heap.into_iter().map(
                |std::cmp::Reverse((visits, occurrences, std::cmp::Reverse(run)))| {
                    (
                        run,
                        Count {
                            visits,
                            occurrences,
                        },
                    )
                },
            ),
            limit,
        )
    }
}

/// The `limit` most common runs of the scattered flagged run keys (see
/// [`Runs`]), counted part by part in parallel.
fn top_runs<K: RunKey>(sets: &[Scattered<K>], limit: usize) -> Best<K> {
    group_parts(
        sets,
        || Best::new(limit),
        |counts: &mut FxHashMap<K, Count>, best: &mut Best<K>, records: &[&[K]]| {
            counts.clear();
            for &flagged in records.iter().copied().flatten() {
                let count = counts.entry(K::from_bits(flagged.bits() & !1)).or_default();
                count.add(flagged.bits() & 1 == 1);
            }
            for (&run, &count) in counts.iter() {
                best.offer(run, count);
            }
        },
        Best::merge,
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
    // One snapshot, so that no code is newer than the widest read here.
    let snapshot = super::snapshot(conn)?;
    let widest = StepId::event(super::max_dim_id(conn)?).0;
    let shape = RunShape {
        length,
        bits: (u64::BITS - widest.leading_zeros()).max(1),
    };
    let needed = shape.bits * length as u32 + 1;
    let best: Vec<(Vec<StepId>, Count)> = if needed <= u64::BITS {
        count_runs::<u64>(conn, site, query, shape, limit)?
    } else if needed <= u128::BITS {
        count_runs::<u128>(conn, site, query, shape, limit)?
    } else {
        return Err(StoreError::InvalidData(
            "too many distinct pages and events for sequences of this length".into(),
        ));
    };
    drop(snapshot);
    best.into_iter()
        .map(|(steps, count)| {
            Ok(Sequence {
                steps: steps
                    .into_iter()
                    .map(|s| label_step(conn, s))
                    .collect::<Result<_, _>>()?,
                visits: u64::from(count.visits),
                occurrences: u64::from(count.occurrences),
            })
        })
        .collect()
}

/// The best `limit` runs of the query's visits, keyed by `K`.
fn count_runs<K: RunKey>(
    conn: &Connection,
    site: &SiteInfo,
    query: &StatsQuery,
    shape: RunShape,
    limit: usize,
) -> Result<Vec<(Vec<StepId>, Count)>, StoreError> {
    // A year of a very busy site is read in several passes, each counting
    // the runs of a window of the parts ([`in_passes`]): a run is counted
    // whole in its pass, so the passes' best runs hold the best of all.
    let best = in_passes(
        std::mem::size_of::<K>(),
        |window| {
            let runs = fold_visits(conn, site, query, StepKinds::All, false, || {
                Runs::<K>::within(shape, window)
            })?;
            if runs.overflow {
                return Err(StoreError::InvalidData(
                    "a step of the period was stored after the sequences query began".into(),
                ));
            }
            Ok(top_runs(&runs.sets, limit))
        },
        Best::merge,
    )?;
    Ok(best
        .into_top()
        .into_iter()
        .map(|(key, count)| (shape.steps(key), count))
        .collect())
}

/// Flows whose site has at most this many dimension values count
/// neighbours in arrays (12 bytes a path, per direction and thread).
const DENSE_FLOW_DIMS: i64 = 1 << 18;

/// Counts per neighbour of a flow's page, with the visitors of each.
/// Neighbours are page views (the flow reads no other step), the entrance or
/// the exit; in the usual case they are counted in an array indexed by path
/// id, each slot with the number of the last visit it counted (an array slot
/// costs a fraction of a hash map entry), else in a hash map.
///
/// A neighbour's visitors are counted once per visit, as breakdowns count the
/// visitors of a value: exact up to [`NEIGHBOUR_EXACT_LIMIT`], a HyperLogLog
/// beyond ([`Counter`]), kept apart from the slots and made on a neighbour's
/// first visit. A year's flow around the home page of a busy site has
/// millions of (neighbour, visitor) pairs: a set of them took hundreds of
/// megabytes and two thirds of the query's time.
///
/// With an array, the visitors of page neighbours are added to their
/// counters a buffer at a time ([`Buffered`]): added one by one,
/// each took a cache miss or two, a third of a year-long flow around the
/// home page. The entrance and the exit, whose counters are always in the
/// cache, take theirs at once.
#[derive(Debug)]
struct NeighbourCounts {
    slots: Slots,
    /// The visitors of the neighbours, by [`Slot::visitors`].
    visitors: Vec<Counter>,
    /// With an array: the page neighbours' visitors not yet in their
    /// counters, by array slot.
    buffered: Buffered<u32>,
}

/// What is counted of one neighbour.
#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    count: Count,
    /// The number of the last visit counted (dense slots only).
    last: u32,
    /// 1 + the position of the neighbour's visitors in
    /// [`NeighbourCounts::visitors`], 0 before its first visit.
    visitors: u32,
}

/// Array slots before the pages': the entrance's and the exit's.
const EDGE_SLOTS: usize = 2;

#[derive(Debug)]
enum Slots {
    /// Slot 0 the entrance, 1 the exit, `EDGE_SLOTS + path id` a page.
    Dense(Vec<Slot>),
    /// Counts per neighbour, and the neighbours the visit at hand counted.
    Sparse(FxHashMap<Neighbour<StepId>, Slot>, Seen),
}

/// The neighbours one visit counted so far.
#[derive(Debug, Default)]
struct Seen {
    visit: u32,
    neighbours: Vec<Neighbour<StepId>>,
}

/// One neighbour's counts and visitors, as a fold hands them over.
type NeighbourRow = (Neighbour<StepId>, Count, Option<Counter>);

impl NeighbourCounts {
    /// Counters for paths up to `max_dim`.
    fn new(max_dim: i64) -> Self {
        let slots = match usize::try_from(max_dim) {
            Ok(max) if max_dim < DENSE_FLOW_DIMS => {
                Slots::Dense(vec![Slot::default(); max + 1 + EDGE_SLOTS])
            }
            _ => Slots::Sparse(FxHashMap::default(), Seen::default()),
        };
        Self {
            slots,
            visitors: Vec::new(),
            buffered: Buffered::default(),
        }
    }

    fn slot(neighbour: Neighbour<StepId>) -> usize {
        match neighbour {
            Neighbour::Entrance => 0,
            Neighbour::Exit => 1,
            Neighbour::Step(step) => EDGE_SLOTS + step.dim_id() as usize,
        }
    }

    /// The neighbour of an array slot.
    fn neighbour(slot: usize) -> Neighbour<StepId> {
        match slot {
            0 => Neighbour::Entrance,
            1 => Neighbour::Exit,
            page => Neighbour::Step(StepId::page((page - EDGE_SLOTS) as i64)),
        }
    }

    /// Adds the visitor of hash `hash` to the visitors of `slot`.
    #[inline]
    fn add_visitor(visitors: &mut Vec<Counter>, slot: &mut Slot, hash: u32) {
        if slot.visitors == 0 {
            visitors.push(Counter::new(DIM_PRECISION, NEIGHBOUR_EXACT_LIMIT));
            slot.visitors = visitors.len() as u32;
        }
        visitors[slot.visitors as usize - 1].insert(hash);
    }

    /// Counts one neighbour of visit number `visit` (numbers start at 1 and
    /// only grow) of the visitor of hash `hash`: each occurrence, and the
    /// visit and its visitor once. A path newer than the array (stored while
    /// the query ran) grows it, or switches to a hash map.
    #[inline]
    fn count(&mut self, visit: u32, neighbour: Neighbour<StepId>, hash: u32) {
        if let Slots::Dense(slots) = &mut self.slots {
            let at = Self::slot(neighbour);
            if (at as i64) < DENSE_FLOW_DIMS + 1 + EDGE_SLOTS as i64 {
                if at >= slots.len() {
                    slots.resize(at + 1, Slot::default());
                }
                let slot = &mut slots[at];
                let first = slot.last != visit;
                slot.count.add(first);
                slot.last = visit;
                if first {
                    if at < EDGE_SLOTS {
                        Self::add_visitor(&mut self.visitors, slot, hash);
                    } else {
                        let visitors = &mut self.visitors;
                        // Slots are fewer than 2^32 (`DENSE_FLOW_DIMS`).
                        self.buffered.push(at as u32, hash, |at, hash| {
                            Self::add_visitor(visitors, &mut slots[at], hash);
                        });
                    }
                }
                return;
            }
            self.make_sparse(visit);
        }
        if let Slots::Sparse(counts, seen) = &mut self.slots {
            if seen.visit != visit {
                seen.visit = visit;
                seen.neighbours.clear();
            }
            let first = !seen.neighbours.contains(&neighbour);
            if first {
                seen.neighbours.push(neighbour);
            }
            let slot = counts.entry(neighbour).or_default();
            slot.count.add(first);
            if first {
                Self::add_visitor(&mut self.visitors, slot, hash);
            }
        }
    }

    /// Adds every visitor still buffered to its counter.
    fn add_buffered(&mut self) {
        let Self {
            slots,
            visitors,
            buffered,
        } = self;
        if let Slots::Dense(slots) = slots {
            buffered.flush(|at, hash| Self::add_visitor(visitors, &mut slots[at], hash));
        }
    }

    /// Switches to a hash map, amid visit number `visit` (0: none).
    fn make_sparse(&mut self, visit: u32) {
        self.add_buffered();
        let neighbours = match &self.slots {
            Slots::Dense(slots) if visit != 0 => slots
                .iter()
                .enumerate()
                .filter(|(_, slot)| slot.last == visit)
                .map(|(at, _)| Self::neighbour(at))
                .collect(),
            Slots::Dense(_) => Vec::new(),
            Slots::Sparse(..) => return,
        };
        let Slots::Dense(slots) = std::mem::replace(
            &mut self.slots,
            Slots::Sparse(FxHashMap::default(), Seen::default()),
        ) else {
            return;
        };
        let counts = slots
            .into_iter()
            .enumerate()
            .filter(|(_, slot)| slot.count.occurrences > 0)
            .map(|(at, slot)| (Self::neighbour(at), Slot { last: 0, ..slot }))
            .collect();
        self.slots = Slots::Sparse(counts, Seen { visit, neighbours });
    }

    /// Every neighbour counted, with its count and visitors.
    fn into_rows(mut self) -> Vec<NeighbourRow> {
        self.add_buffered();
        let mut visitors: Vec<Option<Counter>> = self.visitors.into_iter().map(Some).collect();
        let mut row = |neighbour, slot: Slot| {
            let counter = (slot.visitors as usize)
                .checked_sub(1)
                .and_then(|at| visitors.get_mut(at))
                .and_then(Option::take);
            (neighbour, slot.count, counter)
        };
        match self.slots {
            Slots::Dense(slots) => slots
                .into_iter()
                .enumerate()
                .filter(|(_, slot)| slot.count.occurrences > 0)
                .map(|(at, slot)| row(Self::neighbour(at), slot))
                .collect(),
            Slots::Sparse(counts, _) => counts
                .into_iter()
                .map(|(neighbour, slot)| row(neighbour, slot))
                .collect(),
        }
    }

    /// Adds a neighbour's counts and visitors from another fold to `slot`.
    fn merge_into(
        visitors: &mut Vec<Counter>,
        slot: &mut Slot,
        count: Count,
        theirs: Option<Counter>,
    ) {
        slot.count.merge(count);
        let Some(theirs) = theirs else {
            return;
        };
        if slot.visitors == 0 {
            visitors.push(theirs);
            slot.visitors = visitors.len() as u32;
        } else {
            visitors[slot.visitors as usize - 1].merge(theirs);
        }
    }

    fn merge(&mut self, other: Self) {
        let dense_both = matches!(
            (&self.slots, &other.slots),
            (Slots::Dense(_), Slots::Dense(_))
        );
        if !dense_both {
            self.make_sparse(0);
        }
        let Self {
            slots, visitors, ..
        } = self;
        match slots {
            Slots::Dense(mine) => {
                for (neighbour, count, theirs) in other.into_rows() {
                    let at = Self::slot(neighbour);
                    if at >= mine.len() {
                        mine.resize(at + 1, Slot::default());
                    }
                    Self::merge_into(visitors, &mut mine[at], count, theirs);
                }
            }
            Slots::Sparse(mine, _) => {
                for (neighbour, count, theirs) in other.into_rows() {
                    Self::merge_into(visitors, mine.entry(neighbour).or_default(), count, theirs);
                }
            }
        }
    }
}

/// The top `limit` rows of `counts`, labelled, with their visitors (never
/// above their visits: every visitor made at least one).
fn flow_rows(
    conn: &Connection,
    counts: NeighbourCounts,
    limit: usize,
) -> Result<Vec<FlowRow>, StoreError> {
    // Keyed by the neighbour and its row's position, to find its visitors.
    let (counted, mut visitors_of): (Vec<_>, Vec<_>) = counts
        .into_rows()
        .into_iter()
        .enumerate()
        .map(|(at, (neighbour, count, visitors))| (((neighbour, at), count), visitors))
        .unzip();
    top(counted, limit)
        .into_iter()
        .map(|((neighbour, at), count)| {
            let visitors = visitors_of[at].as_mut().map_or(0, Counter::estimate);
            Ok(FlowRow {
                visitors: visitors.min(u64::from(count.visits)),
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
}

/// What a flow counts while folding visits.
#[derive(Debug)]
struct FlowFold {
    /// The page whose flow is counted.
    target: StepId,
    visits: u64,
    views: u64,
    next: NeighbourCounts,
    previous: NeighbourCounts,
}

impl FlowFold {
    fn new(target: StepId, max_dim: i64) -> Self {
        Self {
            target,
            visits: 0,
            views: 0,
            next: NeighbourCounts::new(max_dim),
            previous: NeighbourCounts::new(max_dim),
        }
    }
}

impl VisitFold for FlowFold {
    /// Counts the neighbours of each view of the page as the visit's path
    /// (its steps with consecutive repeats collapsed) goes by.
    fn add_visit(&mut self, visitor_id: i64, steps: impl Iterator<Item = StepId>) {
        let target = self.target;
        let visitor = visitor_hash(visitor_id);
        // The visit's number, should it view the page (0 marks slots no
        // visit counted).
        let visit = self.visits as u32 + 1;
        let mut views = 0;
        let mut previous: Option<StepId> = None;
        steps.for_each(|step| {
            if previous == Some(step) {
                return;
            }
            if previous == Some(target) {
                self.next.count(visit, Neighbour::Step(step), visitor);
            }
            if step == target {
                views += 1;
                let before = previous.map_or(Neighbour::Entrance, Neighbour::Step);
                self.previous.count(visit, before, visitor);
            }
            previous = Some(step);
        });
        if views == 0 {
            return;
        }
        if previous == Some(target) {
            self.next.count(visit, Neighbour::Exit, visitor);
        }
        self.visits += 1;
        self.views += views;
    }

    /// Only the visits that view the page count.
    fn code_gate(&self) -> Option<CodeGate<'_>> {
        let target = std::slice::from_ref(&self.target.0);
        Some(CodeGate {
            holding: target,
            steps_for: target,
        })
    }

    fn merge(&mut self, other: Self) {
        self.visits += other.visits;
        self.views += other.views;
        self.next.merge(other.next);
        self.previous.merge(other.previous);
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
    let target = StepId::page(target);
    let max_dim = super::max_dim_id(conn)?;
    let FlowFold {
        visits,
        views,
        next,
        previous,
        ..
    } = fold_visits(conn, site, query, StepKinds::Pageviews, true, || {
        FlowFold::new(target, max_dim)
    })?;
    Ok(Flow {
        visits,
        views,
        next: flow_rows(conn, next, limit)?,
        previous: flow_rows(conn, previous, limit)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Puts the steps of a visit into `path` with consecutive repeats
    /// collapsed: the reference the folds are checked against.
    fn collapse_into(path: &mut Vec<StepId>, steps: impl Iterator<Item = StepId>) {
        path.clear();
        for step in steps {
            if path.last() != Some(&step) {
                path.push(step);
            }
        }
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

    use proptest::prelude::*;

    /// The flagged keys a fold took from one visit of `steps`.
    fn keys_of<K: RunKey>(shape: RunShape, steps: &[StepId]) -> (Vec<K>, bool) {
        let mut runs = Runs::<K> {
            shape,
            sets: vec![Scattered::default()],
            overflow: false,
            keys: Vec::new(),
        };
        runs.add_visit(0, steps.iter().copied());
        let keys = runs
            .sets
            .into_iter()
            .flat_map(Scattered::into_records)
            .collect();
        (keys, runs.overflow)
    }

    #[test]
    fn run_keys_round_trip_and_refuse_codes_that_do_not_fit() {
        let steps = [StepId::page(7), StepId::event(3), StepId::page(1 << 20)];
        let shape = RunShape {
            length: 3,
            bits: 22,
        };
        let (keys, overflow) = keys_of::<u64>(shape, &steps);
        assert!(!overflow);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0] & 1, 1, "the first occurrence is flagged");
        assert_eq!(shape.steps(keys[0]), steps.to_vec());
        let wide = RunShape {
            length: 3,
            bits: 42,
        };
        let far = [StepId::page(1 << 40), StepId::event(0), StepId::page(1)];
        let (keys, _) = keys_of::<u128>(wide, &far);
        assert_eq!(wide.steps(keys[0]), far.to_vec());
        assert!(keys_of::<u64>(shape, &far).1, "a code wider than 22 bits");
    }

    proptest! {
        #[test]
        fn top_runs_count_like_a_map(
            visits in prop::collection::vec(prop::collection::vec(0u64..6, 0..24), 0..60),
            length in 1usize..4,
            limit in 1usize..6,
        ) {
            let shape = RunShape { length, bits: 3 };
            let mut expected: FxHashMap<Vec<StepId>, Count> = FxHashMap::default();
            for codes in &visits {
                let mut path = Vec::new();
                collapse_into(&mut path, codes.iter().map(|&c| StepId(c)));
                let mut items: Vec<Vec<StepId>> = path.windows(length).map(<[_]>::to_vec).collect();
                add_all(&mut expected, &mut items);
            }
            // Two folds merged, as two threads do, in as many passes as the
            // test budget takes.
            let best = in_passes(
                8,
                |window| {
                    let mut runs = Runs::<u64>::within(shape, window);
                    let mut other = Runs::<u64>::within(shape, window);
                    for (at, codes) in visits.iter().enumerate() {
                        let fold = if at % 2 == 0 { &mut runs } else { &mut other };
                        fold.add_visit(0, codes.iter().map(|&c| StepId(c)));
                    }
                    runs.merge(other);
                    if runs.overflow {
                        return Err(());
                    }
                    Ok(top_runs(&runs.sets, limit))
                },
                Best::merge,
            );
            prop_assert!(best.is_ok());
            let got: Vec<(Vec<StepId>, u32, u32)> = best
                .map(Best::into_top)
                .unwrap_or_default()
                .into_iter()
                .map(|(key, c)| (shape.steps(key), c.visits, c.occurrences))
                .collect();
            // Keys order runs as their steps do, so the order is the same.
            let want: Vec<(Vec<StepId>, u32, u32)> = top(expected, limit)
                .into_iter()
                .map(|(steps, c)| (steps, c.visits, c.occurrences))
                .collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn repeats_collapse_and_counts_are_per_visit_and_per_occurrence() {
        let a = StepId::page(1);
        let b = StepId::page(2);
        let mut path = vec![b];
        collapse_into(&mut path, [a, a, b, a].into_iter());
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

    /// Neighbours of test visits: 0 the entrance, 1 the exit, else a page.
    fn neighbour(n: u8) -> Neighbour<StepId> {
        match n {
            0 => Neighbour::Entrance,
            1 => Neighbour::Exit,
            page => Neighbour::Step(StepId::page(i64::from(page))),
        }
    }

    /// Each neighbour's visits, occurrences and visitors (the tests count
    /// visit number `n` as the visitor of hash `n`, so a neighbour has as
    /// many visitors as visits).
    fn sorted(counts: NeighbourCounts) -> Vec<(Neighbour<StepId>, u32, u32, u64)> {
        let mut rows: Vec<_> = counts
            .into_rows()
            .into_iter()
            .map(|(n, c, mut visitors)| {
                let visitors = visitors.as_mut().map_or(0, Counter::estimate);
                (n, c.visits, c.occurrences, visitors)
            })
            .collect();
        rows.sort_unstable();
        rows
    }

    #[test]
    fn a_page_far_beyond_the_array_switches_to_a_map() {
        let far = Neighbour::Step(StepId::page(DENSE_FLOW_DIMS + 5));
        let mut counts = NeighbourCounts::new(10);
        for n in [neighbour(3), far, neighbour(3), far] {
            counts.count(1, n, 1);
        }
        counts.count(2, neighbour(3), 2);
        assert!(matches!(counts.slots, Slots::Sparse(..)));
        assert_eq!(
            sorted(counts),
            vec![(neighbour(3), 2, 3, 2), (far, 1, 2, 1)]
        );
    }

    proptest! {
        #[test]
        fn neighbour_counts_match_a_map_dense_sparse_or_mixed(
            visits in prop::collection::vec(prop::collection::vec(0u8..40, 1..5), 0..40),
            max_dim in 0i64..30,
        ) {
            let mut expected: FxHashMap<Neighbour<StepId>, Count> = FxHashMap::default();
            // Arrays shorter than some pages (which grow them), a hash map,
            // and the two merged.
            let mut dense = NeighbourCounts::new(max_dim);
            let mut half = NeighbourCounts::new(max_dim);
            let mut sparse = NeighbourCounts::new(DENSE_FLOW_DIMS);
            prop_assert!(matches!(sparse.slots, Slots::Sparse(..)));
            for (at, visit) in visits.iter().enumerate() {
                let number = at as u32 + 1;
                let items = || visit.iter().map(|&n| neighbour(n));
                items().for_each(|n| dense.count(number, n, number));
                items().for_each(|n| sparse.count(number, n, number));
                if at % 2 == 0 { items().for_each(|n| half.count(number, n, number)) }
                add_all(&mut expected, &mut items().collect());
            }
            let mut rest = NeighbourCounts::new(DENSE_FLOW_DIMS);
            for (at, visit) in visits.iter().enumerate().filter(|(at, _)| at % 2 == 1) {
                let number = at as u32 + 1;
                visit.iter().for_each(|&n| rest.count(number, neighbour(n), number));
            }
            half.merge(rest);
            let mut expected: Vec<_> = expected
                .into_iter()
                .map(|(n, c)| (n, c.visits, c.occurrences, u64::from(c.visits)))
                .collect();
            expected.sort_unstable();
            prop_assert_eq!(sorted(dense), expected.clone());
            prop_assert_eq!(sorted(sparse), expected.clone());
            prop_assert_eq!(sorted(half), expected);
        }
    }
}
