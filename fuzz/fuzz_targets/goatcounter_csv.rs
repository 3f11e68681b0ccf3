//! Fuzzes the GoatCounter CSV export reader: the header check and the row
//! parser may not panic, and a row read holds what the format allows (a
//! non-empty path, a two-letter country).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mallard_core::goatcounter::{check_header, parse_row, split_line};

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    for line in raw.lines() {
        let _ = check_header(line);
        let _ = split_line(line);
        if let Ok(hit) = parse_row(line) {
            assert!(!hit.path.is_empty());
            assert!(hit.country.as_ref().is_none_or(|c| c.len() == 2));
            assert!(hit.screen_width.is_none_or(|w| w > 0));
        }
    }
});
