//! Fuzzes the stats API's query parsers: `filters`, `period` with
//! `start_date`/`end_date`, `interval`, and funnel steps. The input's lines are
//! the raw parameter values. Every parser must answer a value or an error,
//! never panic, and a parsed period must resolve to a range that ends at or
//! after its start.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mallard_core::filter::parse_filters;
use mallard_core::period::{Interval, Period};
use mallard_core::step::Step;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let filters = lines.next().unwrap_or_default();
    let period = lines.next();
    let start = lines.next();
    let end = lines.next();
    let interval = lines.next().unwrap_or_default();
    let step = lines.next().unwrap_or_default();

    let _ = parse_filters(filters);
    if let Ok(period) = Period::parse(period, start, end) {
        let range = period.resolve(20_000, Some(19_000));
        assert!(range.days() >= 0, "{period:?} resolved to {range:?}");
        if let Ok(interval) = Interval::parse(interval) {
            let _ = interval.buckets(range);
        }
    }
    let _ = Step::parse(step);
});
