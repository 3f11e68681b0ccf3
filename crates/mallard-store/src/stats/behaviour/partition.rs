//! Grouping millions of small records by key without a cache miss per
//! record, for the behavioural queries that group a year of visits by
//! visitor (funnels, retention) or count millions of distinct runs
//! (sequences).
//!
//! A hash map of millions of entries misses the cache on almost every
//! insert, and sorting millions of keys reads them all a dozen times. Here
//! records are scattered, as they are produced, into [`PARTS`] lists by the
//! top bits of a hash of their key: appending to a list is a sequential
//! write. Each part then holds a few thousand records (tens of thousands for
//! a year of a busy site), which a hash map that stays in the cache groups; the parts are grouped in parallel on rayon's
//! pool, with one reused map per thread.

use rayon::prelude::*;

/// Bits of the hash that pick a part.
const PART_BITS: u32 = 8;
/// The number of parts: a million records make parts of about 4,000.
pub(crate) const PARTS: usize = 1 << PART_BITS;

/// A hash of a 64-bit key whose top bits pick its part: Fibonacci hashing,
/// one multiply, whose top bits depend on every bit of the key, so dense ids
/// spread as well as random ones. Hash maps within a part hash keys with
/// another multiplier, so the keys of one part do not crowd their buckets.
#[inline]
pub(crate) fn part_hash(key: u64) -> u64 {
    key.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Records per chunk of a part (fewer in tests, so that chunks fill up).
const CHUNK: usize = if cfg!(test) { 4 } else { 1024 };

/// Records scattered into parts by the hash of their key. Each part is a
/// list of chunks of [`CHUNK`] records: a growing part never copies its
/// records, nor leaves behind the smaller buffers it outgrew (which stayed
/// resident and cost a third of a year-long query's memory).
#[derive(Debug)]
pub(crate) struct Scattered<T> {
    /// Per part, the chunk being filled.
    tails: Vec<Vec<T>>,
    /// Per part, the chunks filled before.
    full: Vec<Vec<Vec<T>>>,
}

impl<T> Default for Scattered<T> {
    fn default() -> Self {
        Self {
            tails: std::iter::repeat_with(Vec::new).take(PARTS).collect(),
            full: std::iter::repeat_with(Vec::new).take(PARTS).collect(),
        }
    }
}

impl<T> Scattered<T> {
    /// Adds `record`, whose key hashes to `hash` ([`part_hash`]).
    #[inline]
    pub(crate) fn push(&mut self, hash: u64, record: T) {
        let part = (hash >> (64 - PART_BITS)) as usize;
        let tail = &mut self.tails[part];
        if tail.len() == tail.capacity() {
            self.next_chunk(part);
        }
        self.tails[part].push(record);
    }

    /// Files the full chunk of `part` (if any) and starts a new one.
    #[cold]
    fn next_chunk(&mut self, part: usize) {
        let full = std::mem::replace(&mut self.tails[part], Vec::with_capacity(CHUNK));
        if !full.is_empty() {
            self.full[part].push(full);
        }
    }

    /// The records of part `part`, chunk by chunk.
    fn part(&self, part: usize) -> impl Iterator<Item = &[T]> {
        self.full[part]
            .iter()
            .map(Vec::as_slice)
            .chain([self.tails[part].as_slice()])
    }

    /// Every record, part by part.
    pub(crate) fn into_records(self) -> impl Iterator<Item = T> {
        self.full
            .into_iter()
            .zip(self.tails)
            .flat_map(|(full, tail)| full.into_iter().flatten().chain(tail))
    }
}

/// Groups the records of several scattered sets (one per thread that folded)
/// part by part, in parallel: `group` gets a map to reuse, the records of
/// one part from every set (as chunks), and an accumulator of its thread
/// (made by `new`); the accumulators are then added up by `merge`. Records
/// with equal keys are always in the same part.
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
    (0..PARTS)
        .into_par_iter()
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
            let counted = group_parts(
                &scattered,
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
            );
            let mut counted_keys: Vec<u64> = counted.iter().map(|&(k, _)| k).collect();
            counted_keys.sort_unstable();
            counted_keys.dedup();
            // A key counted in two parts would appear twice.
            prop_assert_eq!(counted_keys.len(), counted.len());
            prop_assert_eq!(counted.into_iter().collect::<HashMap<_, _>>(), expected);
        }
    }
}
