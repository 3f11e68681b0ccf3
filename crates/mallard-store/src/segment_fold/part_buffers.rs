//! Buffers for the parts of packed days, handed back once a day is folded
//! and taken again for the next days' parts.
//!
//! A query reads a day's parts into buffers of their own (a year of a
//! filtered view reads 90 MB at 10M events) and drops them a chunk at a
//! time on the thread that reads the next chunk. Fresh buffers cost a
//! fault per page and a clear of every byte before SQLite reads into them;
//! the buffers of the chunk before are already in memory. The process
//! keeps at most [`SPARE_BYTES`] of them, shared by the queries of every
//! thread: a chunk's worth for a site of 10M events a year (a filtered
//! view reads about 6 MB per 16 days), part of one for larger sites, whose
//! chunks are bounded by their bytes (`CHUNK_BYTES`). Kept per thread,
//! they added a chunk's worth to the server's memory for every thread that
//! had run a query.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// The bytes of spare buffers kept, at most.
const SPARE_BYTES: usize = 8 << 20;

/// Spare buffers, with their capacities' sum.
struct Spare {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
    /// The most bytes kept.
    most: usize,
}

impl Spare {
    const fn new(most: usize) -> Self {
        Self {
            buffers: Vec::new(),
            bytes: 0,
            most,
        }
    }

    /// A spare buffer whose capacity holds `len` bytes, if one is kept.
    fn take(&mut self, len: usize) -> Option<Vec<u8>> {
        let at = self
            .buffers
            .iter()
            .position(|buffer| buffer.capacity() >= len)?;
        let buffer = self.buffers.swap_remove(at);
        self.bytes -= buffer.capacity();
        Some(buffer)
    }

    /// Keeps `buffer`, unless that would keep more than the most.
    fn keep(&mut self, buffer: Vec<u8>) {
        if buffer.capacity() > 0 && self.bytes + buffer.capacity() <= self.most {
            self.bytes += buffer.capacity();
            self.buffers.push(buffer);
        }
    }
}

static SPARE: Mutex<Spare> = Mutex::new(Spare::new(SPARE_BYTES));

/// The process's spare buffers (a panic while they were held leaves them
/// whole).
fn spare() -> MutexGuard<'static, Spare> {
    SPARE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A buffer of `len` bytes (their values unspecified): a spare one that
/// holds them, else a new one.
pub(crate) fn take(len: usize) -> Vec<u8> {
    let taken = spare().take(len);
    let mut buffer = taken.unwrap_or_default();
    // Within the capacity: only the bytes past the buffer's length are
    // cleared.
    buffer.resize(len, 0);
    buffer
}

/// Keeps `buffer` for a later [`take`], unless enough are kept.
pub(crate) fn give_back(buffer: Vec<u8>) {
    #[cfg(test)]
    HANDED_BACK.with(|handed| handed.set(handed.get() + 1));
    spare().keep(buffer);
}

#[cfg(test)]
thread_local! {
    /// The buffers this thread handed back.
    static HANDED_BACK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many buffers this thread has handed back.
#[cfg(test)]
pub(crate) fn handed_back_here() -> usize {
    HANDED_BACK.with(std::cell::Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer kept is taken again by a part it holds, not by one too
    /// large; no more than the most bytes are kept.
    #[test]
    fn buffers_kept_are_taken_again_when_they_fit() {
        let mut spare = Spare::new(4096);
        let first = vec![0u8; 1000];
        let address = first.as_ptr();
        spare.keep(first);
        assert!(spare.take(5000).is_none());
        let again = spare.take(600).unwrap();
        assert_eq!(again.as_ptr(), address);
        assert!(spare.take(10).is_none());
        spare.keep(again);
        spare.keep(vec![0; 3000]);
        // Past the most: not kept.
        spare.keep(vec![0; 200]);
        assert_eq!((spare.buffers.len(), spare.bytes), (2, 4000));
        assert_eq!(spare.take(2000).map(|b| b.capacity()), Some(3000));
        assert_eq!(spare.bytes, 1000);
        // A part read into a buffer has its length whatever the buffer's.
        give_back(vec![7; 100]);
        let part = take(40);
        assert_eq!(part.len(), 40);
        assert_eq!(take(100_000).len(), 100_000);
    }
}
