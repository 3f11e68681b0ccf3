//! Visitors bound for many counters, added a buffer at a time.
//!
//! A query that counts the visitors of thousands of values (the pages
//! before and after a flow's page) adds each visitor to the counter of its
//! value. Added one by one as the visits come, each insert took a cache
//! miss or two: the counter, then its last hash. Here each visitor waits in
//! one of [`PARTS`] small buffers, picked by its counter's position, and a
//! full buffer is added to its counters in one go: the counters of one part
//! are few enough to stay in the cache while it is.
//!
//! It pays where nothing else of the value is touched per visit. A page
//! breakdown adds each page's events to its totals as well, which takes
//! the same miss: buffering its visitors moved the time from one to the
//! other (tried, 2026-12-07).

/// Buffers, by the low bits of a counter's position.
const PARTS: usize = if cfg!(test) { 2 } else { 64 };
/// Visitors a buffer holds before they are added to their counters (fewer
/// in tests, so that the buffers fill up).
const PER_PART: usize = if cfg!(test) { 4 } else { 1024 };

/// Visitors not yet added to their counters, each `position << 32 | hash`.
#[derive(Debug, Default)]
pub(crate) struct BufferedVisitors {
    /// Per part, the visitors waiting; empty until the part's first.
    parts: Vec<Vec<u64>>,
}

impl BufferedVisitors {
    /// Adds the visitor of hash `hash` to the counter at `position`,
    /// through its part's buffer: when that is full, `add` adds each of its
    /// visitors (`add(position, hash)`).
    #[inline]
    pub(crate) fn push(&mut self, position: u32, hash: u32, add: impl FnMut(usize, u32)) {
        if self.parts.is_empty() {
            self.parts = vec![Vec::new(); PARTS];
        }
        let part = position as usize % PARTS;
        let buffer = &mut self.parts[part];
        buffer.push(u64::from(position) << 32 | u64::from(hash));
        if buffer.len() >= PER_PART {
            Self::drain(buffer, add);
        }
    }

    /// Hands every visitor still waiting to `add` (`add(position, hash)`);
    /// the buffers are then empty.
    pub(crate) fn flush(&mut self, mut add: impl FnMut(usize, u32)) {
        for buffer in &mut self.parts {
            Self::drain(buffer, &mut add);
        }
    }

    /// Hands the visitors of one buffer to `add` and empties it.
    fn drain(buffer: &mut Vec<u64>, mut add: impl FnMut(usize, u32)) {
        for &visitor in buffer.iter() {
            add((visitor >> 32) as usize, visitor as u32);
        }
        buffer.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_visitor_reaches_its_counter_once(
            visitors in prop::collection::vec((0u32..12, any::<u32>()), 0..60),
        ) {
            let mut counters: Vec<Vec<u32>> = vec![Vec::new(); 12];
            let mut buffered = BufferedVisitors::default();
            for &(position, hash) in &visitors {
                buffered.push(position, hash, |at, hash| counters[at].push(hash));
            }
            buffered.flush(|at, hash| counters[at].push(hash));
            let mut expected: Vec<Vec<u32>> = vec![Vec::new(); 12];
            for &(position, hash) in &visitors {
                expected[position as usize].push(hash);
            }
            for (got, expected) in counters.iter_mut().zip(&mut expected) {
                got.sort_unstable();
                expected.sort_unstable();
            }
            prop_assert_eq!(counters, expected);
            // Nothing is handed over twice.
            let mut again = 0;
            buffered.flush(|_, _| again += 1);
            prop_assert_eq!(again, 0);
        }
    }
}
