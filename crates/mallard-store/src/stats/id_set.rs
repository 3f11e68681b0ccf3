//! A set of dimension ids tested once per event: the paths a page pattern
//! matches (filters, goals). A bit per id up to the largest, so a test is a
//! shift and a mask; hashing each event's id cost a fifth of a filtered
//! Goals card.

use std::collections::HashSet;

/// A set of ids (non-negative; others are never members).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IdSet {
    words: Vec<u64>,
}

impl IdSet {
    /// Whether `id` is a member.
    #[inline]
    pub(crate) fn contains(&self, id: i64) -> bool {
        usize::try_from(id).is_ok_and(|id| {
            self.words
                .get(id / 64)
                .is_some_and(|word| word & (1 << (id % 64)) != 0)
        })
    }

    /// Its ids, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        self.words.iter().enumerate().flat_map(|(at, &word)| {
            (0..64)
                .filter(move |bit| word & (1 << bit) != 0)
                .map(move |bit| (at * 64 + bit) as i64)
        })
    }
}

impl FromIterator<i64> for IdSet {
    fn from_iter<I: IntoIterator<Item = i64>>(ids: I) -> Self {
        let mut set = Self::default();
        for id in ids {
            let Ok(id) = usize::try_from(id) else {
                continue;
            };
            if set.words.len() <= id / 64 {
                set.words.resize(id / 64 + 1, 0);
            }
            set.words[id / 64] |= 1 << (id % 64);
        }
        set
    }
}

impl From<HashSet<i64>> for IdSet {
    fn from(ids: HashSet<i64>) -> Self {
        ids.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn holds_exactly_the_ids_it_was_made_of(
            ids in prop::collection::hash_set(-5i64..5_000, 0..200),
            probes in prop::collection::vec(-10i64..6_000, 0..100),
        ) {
            let set: IdSet = ids.clone().into();
            for id in probes.iter().chain(&ids) {
                prop_assert_eq!(set.contains(*id), *id >= 0 && ids.contains(id));
            }
            let mut members: Vec<i64> = ids.iter().copied().filter(|id| *id >= 0).collect();
            members.sort_unstable();
            prop_assert_eq!(set.iter().collect::<Vec<_>>(), members);
        }
    }
}
