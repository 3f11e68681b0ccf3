//! Fuzzes referrer classification and `?ref=` source mapping: neither may panic,
//! and their results must stay within the documented bounds.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mallard_core::referrer::{
    MAX_REFERRER_URL_LEN, MAX_SOURCE_LEN, classify_referrer, source_from_param,
};

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    // The first line is the referrer, the rest the page's host name, so the
    // internal-referrer comparison is fuzzed too.
    let (referrer, page_host) = raw.split_once('\n').unwrap_or((&raw, "example.com"));
    if let Some(r) = classify_referrer(referrer, page_host) {
        assert!(!r.source.is_empty());
        assert!(r.source.chars().count() <= MAX_SOURCE_LEN);
        if let Some(url) = r.url {
            assert!(url.len() <= MAX_REFERRER_URL_LEN);
        }
    }
    if let Some(r) = source_from_param(&raw) {
        assert!(!r.source.is_empty());
        assert!(r.source.chars().count() <= MAX_SOURCE_LEN);
        assert!(r.url.is_none());
    }
});
