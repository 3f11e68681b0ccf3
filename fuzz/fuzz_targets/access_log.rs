//! Fuzzes the access-log parsers, format detection, `log:` layouts and
//! `--exclude` patterns: none may panic, and a record read from a line must
//! hold what the line can hold (a status from 100 to 599, a non-empty
//! method and target, borrowed text no longer than the line).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mallard_core::access_log::{
    ExcludePattern, FieldLayout, FormatChoice, LogFilter, LogFormat, W3cColumns, detect,
};

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    // The first line may choose a layout or a pattern; every line is also
    // read by each fixed format.
    let (head, body) = raw.split_once('\n').unwrap_or((&raw, ""));
    let mut formats = vec![
        LogFormat::Common,
        LogFormat::Combined,
        LogFormat::CombinedVhost,
        LogFormat::Caddy,
        LogFormat::Cloudfront(W3cColumns::cloudfront()),
        LogFormat::Bunny,
    ];
    if let Ok(layout) = FieldLayout::parse(head) {
        formats.push(LogFormat::Fields(layout));
    }
    let _ = head.parse::<FormatChoice>();
    let filter = ExcludePattern::parse(head)
        .map(|pattern| LogFilter::new(head.len() % 2 == 0, vec![pattern]))
        .unwrap_or_default();
    for line in body.lines().chain(std::iter::once(head)) {
        for format in &mut formats {
            if let Ok(Some(record)) = format.parse(line) {
                assert!((100..=599).contains(&record.status));
                assert!(!record.method.is_empty());
                let _ = filter.verdict(&record);
            }
        }
    }
    let _ = detect(raw.lines());
});
