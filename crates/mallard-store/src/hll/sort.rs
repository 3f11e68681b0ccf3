//! Sorting visitor hashes: a least-significant-digit radix sort, a byte a
//! pass.
//!
//! A [`super::Counter`] sorts its exact set each time it doubles, and a
//! filtered query keeps one per bucket of a series or value of a breakdown:
//! a comparison sort of those thousands of hashes was a tenth of a filtered
//! time series' profile. Four counting passes over random 32-bit hashes
//! cost a fraction of it.

/// Below this many hashes a comparison sort is as fast.
const RADIX_FROM: usize = 256;

/// Sorts `hashes` in ascending order.
pub(super) fn sort_hashes(hashes: &mut Vec<u32>) {
    if hashes.len() < RADIX_FROM {
        hashes.sort_unstable();
        return;
    }
    // How many hashes have each value of each byte.
    let mut counts = [[0usize; 256]; 4];
    for &hash in hashes.iter() {
        for (byte, counts) in counts.iter_mut().enumerate() {
            counts[((hash >> (8 * byte)) & 0xFF) as usize] += 1;
        }
    }
    let mut moved = vec![0u32; hashes.len()];
    for (byte, counts) in counts.iter().enumerate() {
        // A byte that every hash shares moves nothing.
        if counts.contains(&hashes.len()) {
            continue;
        }
        let mut next = [0usize; 256];
        let mut total = 0;
        for (slot, &count) in next.iter_mut().zip(counts) {
            *slot = total;
            total += count;
        }
        for &hash in hashes.iter() {
            let digit = ((hash >> (8 * byte)) & 0xFF) as usize;
            moved[next[digit]] = hash;
            next[digit] += 1;
        }
        std::mem::swap(hashes, &mut moved);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the hashes, long or short, spread or sharing bytes,
        /// they end sorted as a comparison sort sorts them.
        #[test]
        fn hashes_sort_as_a_comparison_sort_sorts_them(
            mut hashes in prop_oneof![
                proptest::collection::vec(any::<u32>(), 0..2000),
                proptest::collection::vec(0u32..300, 0..2000),
                proptest::collection::vec(any::<u32>().prop_map(|h| h & 0xFF00_FF00), 0..2000),
            ],
        ) {
            let mut expected = hashes.clone();
            expected.sort_unstable();
            sort_hashes(&mut hashes);
            prop_assert_eq!(hashes, expected);
        }
    }
}
