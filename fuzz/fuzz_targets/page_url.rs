//! Fuzzes page URL parsing: it must never panic, and accepted URLs must keep the
//! documented invariants of `PageUrl`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mallard_core::page::{MAX_PARAM_LEN, MAX_PATHNAME_LEN, parse_page_url};

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Ok(page) = parse_page_url(&raw) {
        assert!(!page.hostname.is_empty());
        assert!(!page.hostname.starts_with("www."));
        assert!(!page.hostname.chars().any(|c| c.is_ascii_uppercase()));
        assert!(page.pathname.starts_with('/'));
        assert!(page.pathname.len() <= MAX_PATHNAME_LEN);
        for value in [
            &page.utm.source,
            &page.utm.medium,
            &page.utm.campaign,
            &page.utm.term,
            &page.utm.content,
            &page.ref_param,
        ]
        .into_iter()
        .flatten()
        {
            assert!(!value.is_empty());
            assert!(value.chars().count() <= MAX_PARAM_LEN);
        }
    }
});
