//! Fuzzes user agent parsing, directly and through the caching classifier: it
//! must never panic and must keep every field within its bound.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mallard_core::user_agent::{
    MAX_FIELD_CHARS, UserAgentClassifier, UserAgentInfo, parse_user_agent,
};

static CLASSIFIER: LazyLock<UserAgentClassifier> = LazyLock::new(|| UserAgentClassifier::new(64));

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let info = parse_user_agent(&raw);
    check(&info);
    assert_eq!(*CLASSIFIER.classify(&raw), info);
});

fn check(info: &UserAgentInfo) {
    assert!(!(info.is_mobile && info.is_tablet));
    for value in [
        &info.browser,
        &info.browser_version,
        &info.os,
        &info.os_version,
    ]
    .into_iter()
    .flatten()
    {
        assert!(!value.is_empty());
        assert!(value.chars().count() <= MAX_FIELD_CHARS);
    }
}
