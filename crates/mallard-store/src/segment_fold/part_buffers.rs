//! Buffers for the parts of packed days, handed back once a day is folded
//! and taken again for the next days' parts.
//!
//! A query reads a day's parts into buffers of their own (a year of a
//! filtered view reads 90 MB at 10M events) and drops them a chunk at a
//! time on the thread that reads the next chunk. Fresh buffers cost a
//! fault per page and a clear of every byte before SQLite reads into them;
//! the same thread's buffers of the chunk before are already in memory.
//! Each thread keeps at most [`SPARE_BYTES`] of them: a chunk's worth for
//! a site of 10M events a year (a filtered view reads about 6 MB per 16
//! days), part of one for larger sites, whose chunks are bounded by their
//! bytes (`CHUNK_BYTES`).

use std::cell::RefCell;

/// The bytes of spare buffers a thread keeps, at most.
const SPARE_BYTES: usize = 8 << 20;

/// The spare buffers of one thread, with their capacities' sum.
#[derive(Default)]
struct Spare {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

thread_local! {
    static SPARE: RefCell<Spare> = RefCell::new(Spare::default());
}

/// A buffer of `len` bytes (their values unspecified): a spare one of this
/// thread that holds them, else a new one.
pub(crate) fn take(len: usize) -> Vec<u8> {
    let spare = SPARE.with_borrow_mut(|spare| {
        let at = spare
            .buffers
            .iter()
            .position(|buffer| buffer.capacity() >= len)?;
        let buffer = spare.buffers.swap_remove(at);
        spare.bytes -= buffer.capacity();
        Some(buffer)
    });
    let mut buffer = spare.unwrap_or_default();
    // Within the capacity: only the bytes past the buffer's length are
    // cleared.
    buffer.resize(len, 0);
    buffer
}

/// Keeps `buffer` for a later [`take`] on this thread, unless the thread
/// keeps enough.
pub(crate) fn give_back(buffer: Vec<u8>) {
    SPARE.with_borrow_mut(|spare| {
        if buffer.capacity() > 0 && spare.bytes + buffer.capacity() <= SPARE_BYTES {
            spare.bytes += buffer.capacity();
            spare.buffers.push(buffer);
        }
    });
}

/// How many spare buffers this thread keeps.
#[cfg(test)]
pub(crate) fn spare_buffers() -> usize {
    SPARE.with_borrow(|spare| spare.buffers.len())
}

/// Drops this thread's spare buffers.
#[cfg(test)]
pub(crate) fn forget_spare() {
    SPARE.set(Spare::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer given back is taken again, at the length asked for, by a
    /// part that fits it; one too small is not; a thread keeps no more
    /// than its share.
    #[test]
    fn buffers_given_back_are_taken_again_when_they_fit() {
        let first = take(1000);
        assert_eq!(first.len(), 1000);
        let address = first.as_ptr();
        give_back(first);
        let again = take(600);
        assert_eq!((again.len(), again.as_ptr()), (600, address));
        give_back(again);
        let larger = take(5000);
        assert_ne!(larger.as_ptr(), address);
        assert_eq!(larger.len(), 5000);
        // The spare one was still there.
        let spare = take(10);
        assert_eq!(spare.as_ptr(), address);
        give_back(vec![0; SPARE_BYTES]);
        give_back(vec![0; SPARE_BYTES]);
        assert_eq!(SPARE.with_borrow(|spare| spare.bytes), SPARE_BYTES);
    }
}
