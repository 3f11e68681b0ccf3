//! A Bloom filter over the dedupe keys stored in `collector_event_ids`.
//!
//! Almost every collector event is new, and proving that with a lookup in the
//! key B-tree was a fifth of the writer's work per event. The filter answers
//! "certainly not stored" for all but about 1% of new keys from memory, so
//! only those and real repeats are looked up. It holds every stored key
//! (built from the table when first needed, added to as keys are moved in);
//! keys pruned from the table stay in it, which only costs a lookup.
//!
//! The keys are the first 16 bytes of a SHA-256 digest, so their two halves
//! serve directly as the two hashes of double hashing.

/// Probes per key; with at least ten bits per key this gives about 1% false
/// positives.
const PROBES: u64 = 7;
/// Bits per key of the capacity a filter is made for.
const BITS_PER_KEY: usize = 10;
/// The smallest capacity, in keys.
const MIN_CAPACITY: usize = 64 * 1024;

/// The filter.
#[derive(Debug, Clone)]
pub(crate) struct KeyFilter {
    words: Vec<u64>,
    /// The number of bits minus one (a power of two minus one).
    mask: u64,
    capacity: usize,
    inserted: usize,
}

impl KeyFilter {
    /// An empty filter for at least `keys` keys (twice as many, so that it
    /// can grow before it must be rebuilt).
    pub(crate) fn for_keys(keys: usize) -> Self {
        let capacity = keys.saturating_mul(2).max(MIN_CAPACITY);
        let bits = capacity
            .saturating_mul(BITS_PER_KEY)
            .next_power_of_two()
            .max(64);
        Self {
            words: vec![0; bits / 64],
            mask: bits as u64 - 1,
            capacity,
            inserted: 0,
        }
    }

    /// Adds `key`.
    pub(crate) fn insert(&mut self, key: &[u8; 16]) {
        for bit in self.bits(key) {
            self.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        self.inserted += 1;
    }

    /// Whether `key` may have been added; false means it certainly was not.
    pub(crate) fn may_contain(&self, key: &[u8; 16]) -> bool {
        self.bits(key)
            .all(|bit| self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    /// Whether more keys were added than the filter was made for (its false
    /// positives then climb; the caller rebuilds it).
    pub(crate) fn is_full(&self) -> bool {
        self.inserted > self.capacity
    }

    fn bits(&self, key: &[u8; 16]) -> impl Iterator<Item = u64> + use<> {
        let (low, high) = key.split_at(8);
        let first = u64::from_le_bytes(low.try_into().unwrap_or_default());
        // Odd, so the probes of one key never repeat a bit early.
        let step = u64::from_le_bytes(high.try_into().unwrap_or_default()) | 1;
        let mask = self.mask;
        (0..PROBES).map(move |i| first.wrapping_add(i.wrapping_mul(step)) & mask)
    }
}

/// A key spread like a digest (a cheap mix of `n`), for tests.
#[cfg(test)]
pub(crate) fn spread_key(n: u64) -> [u8; 16] {
    let a = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0xD6E8_FEB8_6659_FD93;
    let b = a.wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ n;
    let mut out = [0; 16];
    out[..8].copy_from_slice(&a.to_le_bytes());
    out[8..].copy_from_slice(&b.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn false_positives_stay_near_one_percent_at_capacity() {
        let mut filter = KeyFilter::for_keys(50_000);
        for n in 0..100_000 {
            filter.insert(&spread_key(n));
        }
        assert!(!filter.is_full());
        let false_positives = (1_000_000..1_100_000)
            .filter(|n| filter.may_contain(&spread_key(*n)))
            .count();
        assert!(false_positives < 2_000, "{false_positives} of 100000");
        filter.insert(&spread_key(7));
        assert!(filter.is_full());
    }

    proptest! {
        #[test]
        fn every_added_key_is_found(keys in proptest::collection::vec(any::<[u8; 16]>(), 1..500)) {
            let mut filter = KeyFilter::for_keys(keys.len());
            for key in &keys {
                filter.insert(key);
            }
            for key in &keys {
                prop_assert!(filter.may_contain(key));
            }
        }
    }
}
