//! A small value per visit, folded per visitor: the weeks a visitor came in,
//! for retention.
//!
//! A year of a busy site has millions of visits and visitors. A hash map from
//! visitor to value costs a cache miss per visit; instead each visit becomes
//! one `u64` key, `visitor << VALUE_BITS | value`, scattered by visitor into
//! parts small enough to be folded in the cache ([`super::partition`]), in 8
//! bytes per visit. Visitor ids of databases created since migration 006 have
//! 47 bits, so they fit; wider ids (older databases) switch the whole set to
//! a hash map.

use std::sync::Arc;

use super::super::rollup::IdMap;
use super::partition::{PassWindow, Scattered, group_parts, part_hash};

/// Bits of the value in a key.
const VALUE_BITS: u32 = 12;
/// Visitor ids below this fit in a key.
const PACKED_IDS: i64 = 1 << (64 - VALUE_BITS);

/// How values of one visitor combine.
pub(crate) trait Fold: Copy {
    /// The fold of one value.
    fn first(value: u16) -> Self;
    /// Adds one more value, in any order.
    fn add(&mut self, value: u16);
    /// Adds the values of another fold of the same visitor.
    fn merge(&mut self, other: Self);
}

/// Values of visits, to be folded per visitor: of every visitor, or of
/// those in a pass's window of parts ([`ByVisitor::within`]).
#[derive(Debug)]
pub(crate) struct ByVisitor<F> {
    /// The pass's window, if any.
    window: Option<Arc<PassWindow>>,
    folds: Folds<F>,
}

/// How [`ByVisitor`] keeps its values.
#[derive(Debug)]
enum Folds<F> {
    /// Keys `visitor << VALUE_BITS | value`, scattered by visitor: the
    /// keys added here, and the sets of other threads merged in (merging
    /// moves sets, copies no key).
    Packed(Scattered<u64>, Vec<Scattered<u64>>),
    /// The fold per visitor, once an id did not fit in a key.
    Map(IdMap<F>),
}

impl<F: Fold> Default for ByVisitor<F> {
    fn default() -> Self {
        Self {
            window: None,
            folds: Folds::Packed(Scattered::default(), Vec::new()),
        }
    }
}

impl<F: Fold> ByVisitor<F> {
    /// Values of the visitors in `window`'s parts, for one pass of
    /// several over the days ([`super::partition::in_passes`]).
    pub(crate) fn within(window: &Arc<PassWindow>) -> Self {
        Self {
            window: Some(Arc::clone(window)),
            folds: Folds::Packed(Scattered::within(window), Vec::new()),
        }
    }

    /// Adds a visit of `visitor_id` with `value` (below 2^12).
    pub(crate) fn add(&mut self, visitor_id: i64, value: u16) {
        debug_assert!(u32::from(value) < 1 << VALUE_BITS);
        if let Folds::Packed(keys, _) = &mut self.folds {
            if (0..PACKED_IDS).contains(&visitor_id) {
                let visitor = visitor_id as u64;
                keys.push(
                    part_hash(visitor),
                    (visitor << VALUE_BITS) | u64::from(value),
                );
                return;
            }
            self.folds = Folds::Map(self.folds.take().into_map());
        }
        if !in_window(self.window.as_deref(), visitor_id) {
            return;
        }
        if let Folds::Map(map) = &mut self.folds {
            fold_into(map, visitor_id, value);
        }
    }

    /// Adds the visits of `other` (folded by another thread, in the same
    /// window).
    pub(crate) fn merge(&mut self, other: Self) {
        match (&mut self.folds, other.folds) {
            (Folds::Packed(_, merged), Folds::Packed(keys, more)) => {
                merged.push(keys);
                merged.extend(more);
            }
            (_, other) => {
                let mut map = self.folds.take().into_map();
                for (visitor_id, fold) in other.into_map() {
                    map.entry(visitor_id)
                        .and_modify(|mine| mine.merge(fold))
                        .or_insert(fold);
                }
                self.folds = Folds::Map(map);
            }
        }
    }

    /// Folds the values of every visitor, then those folds into one result:
    /// `each` adds one visitor's fold to an accumulator made by `new`, and
    /// `merge` adds accumulators up (visitors are folded on several threads).
    pub(crate) fn fold_visitors<R: Send>(
        self,
        new: impl Fn() -> R + Sync + Send,
        each: impl Fn(&mut R, F) + Sync + Send,
        merge: impl Fn(R, R) -> R + Sync + Send,
    ) -> R
    where
        F: Send,
    {
        match self.folds {
            Folds::Packed(keys, mut sets) => group_parts(
                &{
                    sets.push(keys);
                    sets
                },
                new,
                |folds: &mut FoldTable<F>, acc: &mut R, records: &[&[u64]]| {
                    folds.reset(records.iter().map(|r| r.len()).sum());
                    for &key in records.iter().copied().flatten() {
                        folds.add(key >> VALUE_BITS, key_value(key));
                    }
                    folds.for_each(|fold| each(acc, fold));
                },
                merge,
            ),
            Folds::Map(map) => {
                let mut acc = new();
                // The window's parts as the pass ended: a visitor of a part
                // it let go meanwhile counts in a later pass.
                let window = self.window.as_deref();
                for (_, fold) in map.into_iter().filter(|&(id, _)| in_window(window, id)) {
                    each(&mut acc, fold);
                }
                acc
            }
        }
    }
}

/// Whether the visitor of `visitor_id` is in `window` (so far; every
/// visitor is without one).
fn in_window(window: Option<&PassWindow>, visitor_id: i64) -> bool {
    window.is_none_or(|window| window.holds(part_hash(visitor_id as u64)))
}

impl<F: Fold> Folds<F> {
    /// The folds, leaving an empty map in their place.
    fn take(&mut self) -> Self {
        std::mem::replace(self, Self::Map(IdMap::default()))
    }

    /// The fold per visitor, in a hash map (of the parts that count, for
    /// scattered keys).
    fn into_map(self) -> IdMap<F> {
        match self {
            Self::Packed(keys, merged) => {
                let mut map = IdMap::default();
                let sets = std::iter::once(keys).chain(merged);
                for key in sets.flat_map(Scattered::into_records) {
                    fold_into(&mut map, (key >> VALUE_BITS) as i64, key_value(key));
                }
                map
            }
            Self::Map(map) => map,
        }
    }
}

/// The folds of one part's visitors: an open-addressing table with linear
/// probing, sized for the largest part so far and reused from part to
/// part. A part's table stays in the cache, and an insert is a multiply
/// and a compare or two: a third of what a general hash map spent, which
/// was half of a year-long retention query. The slots taken are listed, so
/// that handing the folds over and emptying the table touch those alone:
/// a pass over every slot of each part's table (twice as many as the
/// part's records, to keep probes short) was a sixth of the query.
#[derive(Debug)]
struct FoldTable<F> {
    /// `(visitor id + 1, fold)`; 0 marks an empty slot (packed visitor ids
    /// have at most 52 bits, so `+ 1` never wraps).
    slots: Vec<(u64, F)>,
    mask: usize,
    /// The positions of the slots taken, in the order they were.
    taken: Vec<u32>,
}

impl<F> Default for FoldTable<F> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            mask: 0,
            taken: Vec::new(),
        }
    }
}

impl<F: Fold> FoldTable<F> {
    /// Empties the table, with room for `records` visitors at three
    /// quarters full at most.
    fn reset(&mut self, records: usize) {
        let capacity = (records + records / 3 + 1).next_power_of_two().max(16);
        if capacity > self.slots.len() {
            self.slots = vec![(0, F::first(0)); capacity];
            self.mask = capacity - 1;
        } else {
            for &at in &self.taken {
                self.slots[at as usize].0 = 0;
            }
        }
        self.taken.clear();
    }

    /// Adds a value of `visitor`.
    #[inline]
    fn add(&mut self, visitor: u64, value: u16) {
        let stored = visitor + 1;
        // Another multiplier than the parts' own, whose top bits the keys
        // of one part share.
        let mut at = (stored.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> 32) as usize & self.mask;
        loop {
            let slot = &mut self.slots[at];
            if slot.0 == stored {
                slot.1.add(value);
                return;
            }
            if slot.0 == 0 {
                *slot = (stored, F::first(value));
                // Tables have fewer than 2^32 slots (a part's records).
                self.taken.push(at as u32);
                return;
            }
            at = (at + 1) & self.mask;
        }
    }

    /// Calls `each` with every visitor's fold.
    fn for_each(&self, mut each: impl FnMut(F)) {
        for &at in &self.taken {
            each(self.slots[at as usize].1);
        }
    }
}

/// Adds two lists of counts of the same length (accumulators of
/// [`ByVisitor::fold_visitors`] that count visitors per level or week).
pub(crate) fn add_counts(mut counts: Vec<u64>, other: Vec<u64>) -> Vec<u64> {
    for (mine, theirs) in counts.iter_mut().zip(other) {
        *mine += theirs;
    }
    counts
}

fn key_value(key: u64) -> u16 {
    (key & ((1 << VALUE_BITS) - 1)) as u16
}

fn fold_into<F: Fold>(map: &mut IdMap<F>, visitor_id: i64, value: u16) {
    map.entry(visitor_id)
        .and_modify(|fold| fold.add(value))
        .or_insert_with(|| F::first(value));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// All values of a visitor, sorted, as a fold that keeps everything.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct Bits(u64);

    impl Fold for Bits {
        fn first(value: u16) -> Self {
            Bits(1 << (value % 64))
        }
        fn add(&mut self, value: u16) {
            self.0 |= 1 << (value % 64);
        }
        fn merge(&mut self, other: Self) {
            self.0 |= other.0;
        }
    }

    /// Every visitor's fold, sorted.
    fn folds_of(set: ByVisitor<Bits>) -> Vec<u64> {
        let mut folds = set.fold_visitors(
            Vec::new,
            |all: &mut Vec<u64>, fold: Bits| all.push(fold.0),
            |mut a, b| {
                a.extend(b);
                a
            },
        );
        folds.sort_unstable();
        folds
    }

    #[test]
    fn an_emptied_table_keeps_nothing_of_the_part_before() {
        let mut table: FoldTable<Bits> = FoldTable::default();
        table.reset(12);
        for visitor in 0..12 {
            table.add(visitor, 1);
        }
        // A smaller part reuses the table.
        table.reset(4);
        assert!(table.slots.iter().all(|&(stored, _)| stored == 0));
        for visitor in 100..104 {
            table.add(visitor, 2);
            table.add(visitor, 3);
        }
        let mut folds = Vec::new();
        table.for_each(|fold| folds.push(fold.0));
        assert_eq!(folds, vec![0b1100; 4]);
    }

    proptest! {
        #[test]
        fn folds_match_a_map_whatever_the_ids(
            visits in prop::collection::vec(
                (prop_oneof![4 => 0i64..50, 1 => any::<i64>()], 0u16..4096),
                0..300,
            ),
        ) {
            // Two parts folded apart and merged, as two threads do.
            let mut grouped: ByVisitor<Bits> = ByVisitor::default();
            let mut other: ByVisitor<Bits> = ByVisitor::default();
            let mut expected: std::collections::HashMap<i64, u64> = Default::default();
            for (at, &(visitor, value)) in visits.iter().enumerate() {
                if at % 3 == 0 { other.add(visitor, value) } else { grouped.add(visitor, value) }
                *expected.entry(visitor).or_default() |= 1 << (value % 64);
            }
            grouped.merge(other);
            let wide = visits.iter().any(|&(v, _)| !(0..PACKED_IDS).contains(&v));
            prop_assert_eq!(matches!(grouped.folds, Folds::Map(_)), wide);
            let mut expected: Vec<u64> = expected.into_values().collect();
            expected.sort_unstable();
            prop_assert_eq!(folds_of(grouped), expected);
        }

        #[test]
        fn folds_in_passes_match_a_map_whatever_the_ids(
            drawn in prop::collection::vec((0i64..40, any::<i64>(), 0u16..4096), 0..600),
            wide_every in prop_oneof![Just(usize::MAX), 2usize..200],
        ) {
            // Dense ids, and every so often one that does not fit a key (a
            // switch to a map, after some passes narrowed).
            let visits: Vec<(i64, u16)> = drawn
                .iter()
                .enumerate()
                .map(|(at, &(dense, any, value))| {
                    (if (at + 1) % wide_every == 0 { any } else { dense }, value)
                })
                .collect();
            let mut expected: std::collections::HashMap<i64, u64> = Default::default();
            for &(visitor, value) in &visits {
                *expected.entry(visitor).or_default() |= 1 << (value % 64);
            }
            let mut expected: Vec<u64> = expected.into_values().collect();
            expected.sort_unstable();
            // As many passes as the test budget takes, each of two folds
            // merged, as two threads do.
            let folds = super::super::partition::in_passes(
                8,
                |window| {
                    let mut grouped: ByVisitor<Bits> = ByVisitor::within(window);
                    let mut other: ByVisitor<Bits> = ByVisitor::within(window);
                    for (at, &(visitor, value)) in visits.iter().enumerate() {
                        if at % 3 == 0 { other.add(visitor, value) } else { grouped.add(visitor, value) }
                    }
                    grouped.merge(other);
                    Ok::<_, ()>(folds_of(grouped))
                },
                |mut a, b| {
                    a.extend(b);
                    a
                },
            );
            let mut folds = folds.unwrap_or_default();
            folds.sort_unstable();
            prop_assert_eq!(folds, expected);
        }
    }
}
