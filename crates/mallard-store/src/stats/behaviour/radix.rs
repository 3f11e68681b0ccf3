//! A radix sort of `(u64 key, value)` pairs, for the behavioural queries
//! that group millions of visits by visitor id (funnels, retention): it reads
//! memory in order where a hash map would miss the cache on every visit; and
//! the merged reading of a few sorted lists (one per thread that folded).

/// Bits of the key sorted per pass: 2,048 buckets keep the scattered writes
/// within what the caches and the TLB hold (65,536 were slower).
const DIGIT_BITS: u32 = 11;

/// Sorts pairs by their `u64` key (stable LSD radix sort).
pub(crate) fn radix_sort_by_key<V: Copy>(pairs: &mut [(u64, V)]) {
    if pairs.len() < 2 {
        return;
    }
    let mut buffer = pairs.to_vec();
    let mut counts = vec![0usize; 1 << DIGIT_BITS];
    // Whether the sorted data of the last pass is in `buffer`.
    let mut in_buffer = false;
    for shift in (0..64).step_by(DIGIT_BITS as usize) {
        let digit = |key: u64| ((key >> shift) & ((1 << DIGIT_BITS) - 1)) as usize;
        let (from, to) = if in_buffer {
            (&buffer[..], &mut *pairs)
        } else {
            (&*pairs, &mut buffer[..])
        };
        counts.fill(0);
        for pair in from {
            counts[digit(pair.0)] += 1;
        }
        if counts[digit(from[0].0)] == from.len() {
            continue;
        }
        let mut offset = 0;
        for count in counts.iter_mut() {
            let here = *count;
            *count = offset;
            offset += here;
        }
        for pair in from {
            let slot = &mut counts[digit(pair.0)];
            to[*slot] = *pair;
            *slot += 1;
        }
        in_buffer = !in_buffer;
    }
    if in_buffer {
        pairs.copy_from_slice(&buffer);
    }
}

/// Sorts like [`radix_sort_by_key`], on two threads for large inputs: the
/// pairs are first split in place at a key, the upper half of the key range
/// on one side, and the two sides are sorted at once. Keys with the same
/// `key >> group_bits` stay on one side.
pub(crate) fn parallel_radix_sort_by_key<V: Copy + Send>(pairs: &mut [(u64, V)], group_bits: u32) {
    let Some(max) = pairs.iter().map(|p| p.0).max() else {
        return;
    };
    if pairs.len() < 1 << 16 {
        radix_sort_by_key(pairs);
        return;
    }
    let pivot = ((max >> group_bits) / 2 + 1) << group_bits;
    // Partition in place: keys below the pivot first.
    let mut split = 0;
    for at in 0..pairs.len() {
        if pairs[at].0 < pivot {
            pairs.swap(split, at);
            split += 1;
        }
    }
    let (low, high) = pairs.split_at_mut(split);
    rayon::join(|| radix_sort_by_key(low), || radix_sort_by_key(high));
}

/// The items of a few sorted lists in order, merged as they are read, so
/// that no list is copied into another.
pub(crate) fn merged<T: Ord + Copy>(lists: &[Vec<T>]) -> impl Iterator<Item = T> + '_ {
    let mut heads = vec![0usize; lists.len()];
    std::iter::from_fn(move || {
        // The smallest head among the lists (there are only a few).
        let (item, list) = (0..lists.len())
            .filter_map(|l| lists[l].get(heads[l]).map(|&item| (item, l)))
            .min()?;
        heads[list] += 1;
        Some(item)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        #[test]
        fn the_parallel_sort_sorts(keys in prop::collection::vec(prop_oneof![any::<u64>(), 0u64..1000], 0..3000)) {
            let mut pairs: Vec<(u64, ())> = keys.iter().map(|&k| (k, ())).collect();
            // Enough pairs to take the parallel path.
            pairs.extend((0..70_000u64).map(|k| (k.wrapping_mul(0x9E37_79B9_7F4A_7C15), ())));
            let mut expected = pairs.clone();
            expected.sort_by_key(|p| p.0);
            parallel_radix_sort_by_key(&mut pairs, 12);
            prop_assert_eq!(pairs, expected);
        }

        #[test]
        fn merged_lists_read_in_order(mut lists in prop::collection::vec(prop::collection::vec(0u8..20, 0..30), 0..4)) {
            for list in &mut lists {
                list.sort_unstable();
            }
            let mut expected: Vec<u8> = lists.concat();
            expected.sort_unstable();
            prop_assert_eq!(merged(&lists).collect::<Vec<_>>(), expected);
        }

        #[test]
        fn the_radix_sort_sorts_stably(keys in prop::collection::vec(any::<u64>(), 0..500)) {
            let mut pairs: Vec<(u64, usize)> = keys.iter().map(|&k| (k, 0)).enumerate().map(|(i, (k, _))| (k, i)).collect();
            let mut expected = pairs.clone();
            expected.sort_by_key(|p| p.0);
            radix_sort_by_key(&mut pairs);
            prop_assert_eq!(pairs, expected);
        }
    }
}
