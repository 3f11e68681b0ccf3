//! Grouping millions of small records by key without a cache miss per
//! record, for the behavioural queries that group a year of visits by
//! visitor (retention) or count millions of distinct runs (sequences).
//!
//! A hash map of millions of entries misses the cache on almost every
//! insert, and sorting millions of keys reads them all a dozen times. Here
//! records are scattered, as they are produced, into [`PARTS`] lists by the
//! top bits of a hash of their key: appending to a list is a sequential
//! write. Each part then holds a few thousand records (tens of thousands for
//! a year of a busy site), which a hash map that stays in the cache groups;
//! the parts are grouped in parallel on rayon's pool, with one reused map
//! per thread.
//!
//! A year of a very busy site has more records than a query may hold (43.7
//! million visits, 350 MB of keys, for retention over 100 million events):
//! the days are then read in several passes ([`in_passes`]), each keeping
//! the records of a window of the parts ([`PassWindow`]) within a budget of
//! [`PASS_BUDGET_BYTES`]. Records with equal keys are in the same part, so
//! each pass groups its parts completely, and the passes' results add up.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

/// Bits of the hash that pick a part.
const PART_BITS: u32 = 8;
/// The number of parts: a million records make parts of about 4,000.
pub(crate) const PARTS: usize = 1 << PART_BITS;

/// The bytes of records one pass over the days keeps, about: a pass whose
/// records outgrow it narrows its window, and the next pass is sized by
/// what this one found (a few records in tests, so that passes narrow and
/// follow each other).
const PASS_BUDGET_BYTES: usize = if cfg!(test) { 48 * 8 } else { 128 << 20 };

/// A hash of a 64-bit key whose top bits pick its part: Fibonacci hashing,
/// one multiply, whose top bits depend on every bit of the key, so dense ids
/// spread as well as random ones. Hash maps within a part hash keys with
/// another multiplier, so the keys of one part do not crowd their buckets.
#[inline]
pub(crate) fn part_hash(key: u64) -> u64 {
    key.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The part of a key of hash `hash` ([`part_hash`]).
#[inline]
fn part_of(hash: u64) -> usize {
    (hash >> (64 - PART_BITS)) as usize
}

/// Records per chunk of a part (fewer in tests, so that chunks fill up).
const CHUNK: usize = if cfg!(test) { 4 } else { 1024 };

/// The parts whose records one pass over the days keeps: from a first part
/// to an end that moves down, while the pass runs, whenever the records
/// filed within it outgrow the pass's budget (by an eighth of the window at
/// a time; the records of the parts let go are dropped by each set when it
/// next files a chunk). A window holds at least one part, whatever its
/// records.
#[derive(Debug)]
pub(crate) struct PassWindow {
    first: usize,
    end: AtomicUsize,
    /// The records filed in full chunks within the window (an estimate
    /// once it narrowed: the dropped parts' share is taken off).
    records: AtomicUsize,
    /// Records the pass may keep.
    budget: usize,
}

impl PassWindow {
    fn new(parts: Range<usize>, budget: usize) -> Self {
        Self {
            first: parts.start,
            end: AtomicUsize::new(parts.end.max(parts.start + 1)),
            records: AtomicUsize::new(0),
            budget,
        }
    }

    /// The parts kept so far (all of them once the pass is over).
    pub(crate) fn parts(&self) -> Range<usize> {
        self.first..self.end.load(Ordering::Relaxed)
    }

    /// Whether the window keeps the key of hash `hash` ([`part_hash`]).
    pub(crate) fn holds(&self, hash: u64) -> bool {
        self.parts().contains(&part_of(hash))
    }

    /// Counts a chunk of `records` filed within the window, narrows the
    /// window while it holds more than its budget, and answers its end.
    fn file(&self, records: usize) -> usize {
        let mut filed = self.records.fetch_add(records, Ordering::Relaxed) + records;
        loop {
            let end = self.end.load(Ordering::Relaxed);
            let width = end - self.first;
            if filed <= self.budget || width == 1 {
                return end;
            }
            let kept = (width - width / 8).clamp(1, width - 1);
            if self
                .end
                .compare_exchange(end, self.first + kept, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                // The dropped parts held their share of the records, as
                // the hash spreads them.
                let dropped =
                    filed / width * (width - kept) + filed % width * (width - kept) / width;
                filed = self
                    .records
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                        Some(now.saturating_sub(dropped))
                    })
                    .map_or(0, |before| before.saturating_sub(dropped));
            }
        }
    }
}

/// Reads the days in passes until every part was in one: `pass` gets each
/// pass's window, to hand to the sets it scatters records of
/// `record_bytes` bytes into ([`Scattered::within`]) and to group them by
/// ([`group_parts`]); the passes' results are added up by `merge`. The
/// first pass starts with every part and narrows to its budget as it goes;
/// each next pass is sized by the records per part the one before kept.
pub(crate) fn in_passes<R, E>(
    record_bytes: usize,
    mut pass: impl FnMut(&Arc<PassWindow>) -> Result<R, E>,
    merge: impl Fn(R, R) -> R,
) -> Result<R, E> {
    let budget = (PASS_BUDGET_BYTES / record_bytes.max(1)).max(CHUNK);
    let mut window = Arc::new(PassWindow::new(0..PARTS, budget));
    let mut result = pass(&window)?;
    let mut passes = 1;
    loop {
        let done = window.parts();
        if done.end >= PARTS {
            break;
        }
        // The next window fills fifteen sixteenths of the budget at this
        // pass's rate (a pass that outgrows it narrows as the first did).
        let per_part = (window.records.load(Ordering::Relaxed) / done.len()).max(1);
        let width = (budget / 16 * 15 / per_part).clamp(1, PARTS);
        window = Arc::new(PassWindow::new(
            done.end..(done.end + width).min(PARTS),
            budget,
        ));
        result = merge(result, pass(&window)?);
        passes += 1;
    }
    if passes > 1 {
        tracing::debug!(passes, "grouped records in several passes over the days");
    }
    Ok(result)
}

/// Records scattered into parts by the hash of their key. Each part is a
/// list of chunks of [`CHUNK`] records: a growing part never copies its
/// records, nor leaves behind the smaller buffers it outgrew (which stayed
/// resident and cost a third of a year-long query's memory). A set made
/// [`Scattered::within`] a pass's window keeps only the records of its
/// parts.
#[derive(Debug)]
pub(crate) struct Scattered<T> {
    /// Per part, the chunk being filled.
    tails: Vec<Vec<T>>,
    /// Per part, the chunks filled before.
    full: Vec<Vec<Vec<T>>>,
    /// The pass's window, if any.
    window: Option<Arc<PassWindow>>,
    /// The parts kept, as this set last saw the window.
    kept: Range<usize>,
}

impl<T> Default for Scattered<T> {
    fn default() -> Self {
        Self {
            tails: std::iter::repeat_with(Vec::new).take(PARTS).collect(),
            full: std::iter::repeat_with(Vec::new).take(PARTS).collect(),
            window: None,
            kept: 0..PARTS,
        }
    }
}

impl<T> Scattered<T> {
    /// A set that keeps the records of `window`'s parts.
    pub(crate) fn within(window: &Arc<PassWindow>) -> Self {
        Self {
            kept: window.parts(),
            window: Some(Arc::clone(window)),
            ..Self::default()
        }
    }

    /// Adds `record`, whose key hashes to `hash` ([`part_hash`]), if its
    /// part is kept.
    #[inline]
    pub(crate) fn push(&mut self, hash: u64, record: T) {
        let part = part_of(hash);
        if !self.kept.contains(&part) {
            return;
        }
        let tail = &mut self.tails[part];
        if tail.len() == tail.capacity() {
            self.next_chunk(part);
            if !self.kept.contains(&part) {
                return;
            }
        }
        self.tails[part].push(record);
    }

    /// Files the full chunk of `part` (if any) and starts a new one; drops
    /// the parts the window let go since.
    #[cold]
    fn next_chunk(&mut self, part: usize) {
        let full = std::mem::replace(&mut self.tails[part], Vec::with_capacity(CHUNK));
        if full.is_empty() {
            return;
        }
        let filed = full.len();
        self.full[part].push(full);
        if let Some(window) = &self.window {
            let end = window.file(filed);
            if end < self.kept.end {
                for dropped in end..self.kept.end {
                    self.tails[dropped] = Vec::new();
                    self.full[dropped] = Vec::new();
                }
                self.kept.end = end;
            }
        }
    }

    /// The records of part `part`, chunk by chunk.
    fn part(&self, part: usize) -> impl Iterator<Item = &[T]> {
        self.full[part]
            .iter()
            .map(Vec::as_slice)
            .chain([self.tails[part].as_slice()])
    }

    /// The parts whose records count: the window's, once its pass is over.
    fn counted_parts(&self) -> Range<usize> {
        self.window
            .as_ref()
            .map_or(0..PARTS, |window| window.parts())
    }

    /// Every record of the parts that count, part by part.
    pub(crate) fn into_records(self) -> impl Iterator<Item = T> {
        let counted = self.counted_parts();
        self.full
            .into_iter()
            .zip(self.tails)
            .enumerate()
            .filter(move |(part, _)| counted.contains(part))
            .flat_map(|(_, (full, tail))| full.into_iter().flatten().chain(tail))
    }
}

/// Groups the records of several scattered sets (one per thread that folded)
/// part by part, in parallel: `group` gets a map to reuse, the records of
/// one part from every set (as chunks), and an accumulator of its thread
/// (made by `new`); the accumulators are then added up by `merge`. Records
/// with equal keys are always in the same part. Only the parts that count
/// are grouped (those of the sets' pass window, once the pass is over).
pub(crate) fn group_parts<T, M, R>(
    sets: &[Scattered<T>],
    new: impl Fn() -> R + Sync + Send,
    group: impl Fn(&mut M, &mut R, &[&[T]]) + Sync + Send,
    merge: impl Fn(R, R) -> R + Sync + Send,
) -> R
where
    T: Sync,
    M: Default + Send,
    R: Send,
{
    let counted = sets.first().map_or(0..0, Scattered::counted_parts);
    // A few runs of parts per thread: each run makes a map and an
    // accumulator of its own, and a map grows to the largest part it
    // groups (megabytes for a year of a very busy site).
    let run = counted
        .len()
        .div_ceil(4 * rayon::current_num_threads())
        .max(1);
    counted
        .into_par_iter()
        .with_min_len(run)
        .fold(
            || (M::default(), new()),
            |(mut map, mut acc), part| {
                let records: Vec<&[T]> = sets.iter().flat_map(|set| set.part(part)).collect();
                if records.iter().any(|r| !r.is_empty()) {
                    group(&mut map, &mut acc, &records);
                }
                (map, acc)
            },
        )
        .map(|(_, acc)| acc)
        .reduce(&new, &merge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// The count of each key of `sets`, grouped part by part.
    fn counts_of(sets: &[Scattered<u64>]) -> Vec<(u64, u64)> {
        group_parts(
            sets,
            Vec::new,
            |map: &mut HashMap<u64, u64>, out: &mut Vec<(u64, u64)>, records| {
                map.clear();
                for &key in records.iter().copied().flatten() {
                    *map.entry(key).or_default() += 1;
                }
                out.extend(map.drain());
            },
            |mut a, b| {
                a.extend(b);
                a
            },
        )
    }

    #[test]
    fn a_window_narrows_by_an_eighth_while_over_its_budget() {
        let window = PassWindow::new(0..8, 10);
        assert_eq!(window.file(4), 8);
        assert_eq!(window.file(4), 8);
        // 12 records in 8 parts: 7 parts keep 11 of them, 6 parts 10.
        assert_eq!(window.file(4), 6);
        assert_eq!(window.records.load(Ordering::Relaxed), 10);
        // 49 records in 6 parts: narrowed part by part down to one, which
        // keeps whatever it holds.
        assert_eq!(window.file(40), 1);
        assert_eq!(window.parts(), 0..1);
        assert_eq!(window.file(100), 1);
        assert!(window.holds(0) && !window.holds(u64::MAX));
    }

    #[test]
    fn records_beyond_the_budget_take_several_passes() {
        let keys: Vec<u64> = (0..4000).map(|at| at % 400).collect();
        let mut passes = 0;
        let counted = in_passes(
            8,
            |window| {
                passes += 1;
                let mut set = Scattered::within(window);
                for &key in &keys {
                    set.push(part_hash(key), key);
                }
                Ok::<_, ()>(counts_of(&[set]))
            },
            |mut a, b| {
                a.extend(b);
                a
            },
        )
        .unwrap_or_default();
        assert!(passes > 4, "{passes} passes");
        assert_eq!(counted.len(), 400);
        assert!(counted.iter().all(|&(_, count)| count == 10));
    }

    #[test]
    fn a_set_drops_the_parts_its_window_let_go() {
        let window = Arc::new(PassWindow::new(0..PARTS, 8));
        let mut set = Scattered::within(&window);
        // Keys in the last part, then keys in the first, which file chunks
        // until the window let the last part go.
        let last = (0u64..)
            .find(|&k| part_of(part_hash(k)) == PARTS - 1)
            .unwrap_or(0);
        for _ in 0..2 * CHUNK {
            set.push(part_hash(last), last);
        }
        assert_eq!(set.full[PARTS - 1].len(), 1, "one chunk filed");
        let first = (0u64..).find(|&k| part_of(part_hash(k)) == 0).unwrap_or(0);
        for _ in 0..4 * CHUNK {
            set.push(part_hash(first), first);
        }
        assert!(window.parts().end < PARTS);
        assert!(set.full[PARTS - 1].is_empty() && set.tails[PARTS - 1].is_empty());
        // Later records of the parts let go are not kept.
        set.push(part_hash(last), last);
        assert!(set.tails[PARTS - 1].is_empty());
        assert_eq!(counts_of(&[set]), vec![(first, 4 * CHUNK as u64)]);
    }

    proptest! {
        #[test]
        fn grouping_by_part_counts_every_key_once(
            keys in prop::collection::vec(prop_oneof![0u64..40, any::<u64>()], 0..2000),
            sets in 1usize..4,
        ) {
            let mut scattered: Vec<Scattered<u64>> = (0..sets).map(|_| Scattered::default()).collect();
            let mut expected: HashMap<u64, u64> = HashMap::new();
            for (at, &key) in keys.iter().enumerate() {
                scattered[at % sets].push(part_hash(key), key);
                *expected.entry(key).or_default() += 1;
            }
            let counted = counts_of(&scattered);
            let mut counted_keys: Vec<u64> = counted.iter().map(|&(k, _)| k).collect();
            counted_keys.sort_unstable();
            counted_keys.dedup();
            // A key counted in two parts would appear twice.
            prop_assert_eq!(counted_keys.len(), counted.len());
            prop_assert_eq!(counted.into_iter().collect::<HashMap<_, _>>(), expected);
        }

        #[test]
        fn grouping_in_passes_counts_every_key_once(
            keys in prop::collection::vec(prop_oneof![0u64..40, any::<u64>()], 0..2000),
            sets in 1usize..4,
        ) {
            let mut expected: HashMap<u64, u64> = HashMap::new();
            for &key in &keys {
                *expected.entry(key).or_default() += 1;
            }
            let mut passes = 0;
            let counted = in_passes(
                8,
                |window| {
                    passes += 1;
                    let mut scattered: Vec<Scattered<u64>> =
                        (0..sets).map(|_| Scattered::within(window)).collect();
                    for (at, &key) in keys.iter().enumerate() {
                        scattered[at % sets].push(part_hash(key), key);
                    }
                    Ok::<_, ()>(counts_of(&scattered))
                },
                |mut a, b| {
                    a.extend(b);
                    a
                },
            );
            let counted = counted.unwrap_or_default();
            let mut counted_keys: Vec<u64> = counted.iter().map(|&(k, _)| k).collect();
            counted_keys.sort_unstable();
            counted_keys.dedup();
            // A key counted in two passes would appear twice.
            prop_assert_eq!(counted_keys.len(), counted.len());
            prop_assert_eq!(counted.into_iter().collect::<HashMap<_, _>>(), expected);
            // The test budget is 48 records.
            if keys.len() <= 48 {
                prop_assert_eq!(passes, 1);
            }
        }
    }
}
