//! The counters of a breakdown, one per dimension value, found by a direct
//! index instead of a hash lookup.
//!
//! A filtered page breakdown looks up its value once per event read: over a
//! year of 10M events, a hash map's probe was a quarter of the query's time.
//! Dimension values are `dims` ids, small and dense, so most are found at
//! their own position in a table of slots; the rare value outside it (a
//! property value's combined key, an id past [`DENSE_LIMIT`]) goes to a map.
//!
//! The tables of a query's fold threads are merged at its end, on one
//! thread. Their totals are added at once, but their visitor counters wait
//! beside the table ([`ValueTable::merge`]): rows are ordered by a total,
//! never by visitors, so only the rows a breakdown keeps need them
//! ([`ValueTable::into_rows`]). A page breakdown has thousands of values
//! and keeps ten; merging and estimating every value's visitors took a
//! fifth of a filtered 30-day page breakdown, all of it after the fold.

use super::Counted;
use crate::hll::Counter;
use crate::stats::Totals;
use crate::stats::rollup::IdMap;

/// Values from 0 up to this one are found by a direct index: the slots then
/// take at most 4 MiB.
const DENSE_LIMIT: i64 = 1 << 20;

/// Counters per value, in the order values were first seen.
#[derive(Debug, Default)]
pub(super) struct ValueTable {
    /// For each value below the slots' length, 1 + the position of its
    /// entry, or 0 while it has none.
    slots: Vec<u32>,
    /// The positions of the entries of values outside the slots.
    others: IdMap<usize>,
    /// Each value with its counters.
    entries: Vec<(i64, Counted)>,
    /// Visitor counters of merged tables not yet added to the entry at
    /// their position.
    pending: Vec<(usize, Counter)>,
}

impl ValueTable {
    /// The counters of `value`, made by `new` when it has none yet.
    #[inline]
    pub(super) fn value(&mut self, value: i64, new: impl FnOnce() -> Counted) -> &mut Counted {
        let position = self.position(value, new);
        &mut self.entries[position].1
    }

    /// The position of the entry of `value` (made by `new` when it has
    /// none yet), stable while the table lives: for a caller that counts
    /// many visits of one value in turn ([`Self::at`]).
    #[inline]
    pub(super) fn position(&mut self, value: i64, new: impl FnOnce() -> Counted) -> usize {
        match self.find(value) {
            Some(position) => position,
            None => self.insert(value, new()),
        }
    }

    /// The counters of the entry at `position` ([`Self::position`]).
    #[inline]
    pub(super) fn at(&mut self, position: usize) -> &mut Counted {
        &mut self.entries[position].1
    }

    /// The position of the entry of `value`, if it has one.
    #[inline]
    fn find(&self, value: i64) -> Option<usize> {
        if (0..DENSE_LIMIT).contains(&value) {
            match self.slots.get(value as usize) {
                Some(&slot) if slot != 0 => Some(slot as usize - 1),
                _ => None,
            }
        } else {
            self.others.get(&value).copied()
        }
    }

    /// Adds the entry of `value`, which has none, and returns its position.
    fn insert(&mut self, value: i64, counted: Counted) -> usize {
        let position = self.entries.len();
        self.entries.push((value, counted));
        if (0..DENSE_LIMIT).contains(&value) {
            let index = value as usize;
            if index >= self.slots.len() {
                // Grown to the next power of two, so that the values of a
                // scan grow it a few times at most.
                self.slots.resize((index + 1).next_power_of_two(), 0);
            }
            self.slots[index] = position as u32 + 1;
        } else {
            self.others.insert(value, position);
        }
        position
    }

    /// Adds the counters of `other`, value by value: the totals at once,
    /// the visitors when a row needs them ([`Self::into_rows`]).
    pub(super) fn merge(&mut self, other: Self) {
        // Where each of `other`'s entries went.
        let mut moved = Vec::with_capacity(other.entries.len());
        for (value, counted) in other.entries {
            let position = match self.find(value) {
                Some(position) => {
                    let Counted { totals, visitors } = counted;
                    self.entries[position].1.totals.add_counters(&totals);
                    if !visitors.is_empty() {
                        self.pending.push((position, visitors));
                    }
                    position
                }
                None => self.insert(value, counted),
            };
            moved.push(position);
        }
        for (position, visitors) in other.pending {
            self.pending.push((moved[position], visitors));
        }
    }

    /// Adds the waiting visitor counters of the entries `wanted` marks (by
    /// position) to theirs.
    fn add_pending(&mut self, wanted: impl Fn(usize) -> bool) {
        for (position, visitors) in std::mem::take(&mut self.pending) {
            if wanted(position) {
                self.entries[position].1.visitors.merge(visitors);
            }
        }
    }

    /// The rows that `select` keeps of every value with its totals (it
    /// filters, orders and truncates them, by anything but visitors), with
    /// their visitors when `with_visitors` (else 0).
    pub(super) fn into_rows(
        mut self,
        select: impl FnOnce(&mut Vec<(i64, Totals)>),
        with_visitors: bool,
    ) -> Vec<(i64, Totals)> {
        let mut rows: Vec<(i64, Totals)> = self
            .entries
            .iter()
            .map(|(value, counted)| (*value, counted.totals))
            .collect();
        select(&mut rows);
        if !with_visitors {
            return rows;
        }
        let mut kept = vec![false; self.entries.len()];
        let positions: Vec<Option<usize>> =
            rows.iter().map(|(value, _)| self.find(*value)).collect();
        for &position in positions.iter().flatten() {
            kept[position] = true;
        }
        self.add_pending(|position| kept[position]);
        for ((_, totals), position) in rows.iter_mut().zip(positions) {
            totals.visitors = position.map_or(0, |p| self.entries[p].1.visitors.estimate());
        }
        rows
    }

    /// Every value with its counters, those of merged tables added.
    #[cfg(test)]
    pub(super) fn into_entries(mut self) -> Vec<(i64, Counted)> {
        self.add_pending(|_| true);
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hll::{DIM_PRECISION, visitor_hash};

    fn counted() -> Counted {
        Counted::new(DIM_PRECISION, 512)
    }

    fn totals_of(table: ValueTable) -> Vec<(i64, i64, u64)> {
        let mut rows: Vec<(i64, i64, u64)> = table
            .into_entries()
            .into_iter()
            .map(|(value, mut counted)| {
                (value, counted.totals.pageviews, counted.visitors.estimate())
            })
            .collect();
        rows.sort_unstable();
        rows
    }

    #[test]
    fn values_inside_and_outside_the_slots_keep_their_own_counters() {
        let mut table = ValueTable::default();
        for (value, visitor) in [
            (5, 1),
            (-3, 1),
            (DENSE_LIMIT + 7, 2),
            (5, 2),
            (0, 3),
            (-3, 1),
            (i64::MAX, 4),
        ] {
            let counted = table.value(value, counted);
            counted.totals.pageviews += 1;
            counted.visitors.insert(visitor_hash(visitor));
        }
        assert_eq!(
            totals_of(table),
            vec![
                (-3, 2, 1),
                (0, 1, 1),
                (5, 2, 2),
                (DENSE_LIMIT + 7, 1, 1),
                (i64::MAX, 1, 1)
            ]
        );
    }

    /// Tables merged in a chain (one already holding another's waiting
    /// counters) give the rows they keep the totals and visitors of one
    /// table that counted everything, and pass over the others.
    #[test]
    fn rows_kept_count_the_visitors_of_every_merged_table() {
        // (table, value, visitor): values 3 and 5 in every table, with
        // visitors shared across them; 5 ties with 9 (only in the last) on
        // page views and is kept by its smaller id.
        let counts = [
            (0, 3, 1),
            (0, 3, 2),
            (0, 5, 1),
            (1, 3, 2),
            (1, 3, 3),
            (1, 5, 4),
            (1, 7, 5),
            (2, 3, 3),
            (2, 3, 6),
            (2, 5, 7),
            (2, 9, 8),
            (2, 9, 9),
            (2, 9, 9),
        ];
        let mut tables: Vec<ValueTable> = (0..3).map(|_| ValueTable::default()).collect();
        let mut whole = ValueTable::default();
        for (table, value, visitor) in counts {
            for counting in [&mut tables[table], &mut whole] {
                let counted = counting.value(value, counted);
                counted.totals.pageviews += 1;
                counted.visitors.insert(visitor_hash(visitor));
            }
        }
        let mut tables = tables.into_iter();
        let (mut first, mut second, third) = (
            tables.next().unwrap(),
            tables.next().unwrap(),
            tables.next().unwrap(),
        );
        second.merge(third);
        first.merge(second);
        // The two values with the most page views.
        let top_two = |rows: &mut Vec<(i64, Totals)>| {
            rows.sort_unstable_by_key(|(value, totals)| (-totals.pageviews, *value));
            rows.truncate(2);
        };
        let rows = first.into_rows(top_two, true);
        assert_eq!(rows, whole.into_rows(top_two, true));
        let counted: Vec<(i64, i64, u64)> = rows
            .iter()
            .map(|(value, totals)| (*value, totals.pageviews, totals.visitors))
            .collect();
        assert_eq!(counted, vec![(3, 6, 4), (5, 3, 3)]);
    }

    #[test]
    fn merging_adds_shared_values_and_keeps_the_others() {
        let mut a = ValueTable::default();
        let mut b = ValueTable::default();
        for (in_a, value, visitor) in [
            (true, 1, 1),
            (true, 2_000, 2),
            (false, 1, 3),
            (false, -9, 4),
            (false, 70, 5),
        ] {
            let table = if in_a { &mut a } else { &mut b };
            let counted = table.value(value, counted);
            counted.totals.pageviews += 10;
            counted.visitors.insert(visitor_hash(visitor));
        }
        a.merge(b);
        assert_eq!(
            totals_of(a),
            vec![(-9, 10, 1), (1, 20, 2), (70, 10, 1), (2_000, 10, 1)]
        );
    }
}
