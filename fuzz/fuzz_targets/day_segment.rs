//! Fuzzes the day segment decoder: the first byte picks a part of a valid
//! segment, which the rest replaces (sealed with a valid checksum, so that
//! the decoding itself is reached, or as stored bytes), and the columns
//! read. Decoding must never panic; damaged bytes are an error.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mallard_store::fuzz_decode_day_segment(data);
});
