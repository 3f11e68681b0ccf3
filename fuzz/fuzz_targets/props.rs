//! Fuzzes custom property parsing and revenue parsing, which both take JSON from
//! the network: neither may panic, and accepted input must respect the limits.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mallard_core::props::{MAX_PROP_KEY_LEN, MAX_PROP_VALUE_LEN, MAX_PROPS, parse_props_json};
use mallard_core::revenue::{Currency, MAX_AMOUNT, parse_amount};

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Ok(props) = parse_props_json(&raw) {
        assert!(props.len() <= MAX_PROPS);
        for (key, value) in &props {
            assert!(!key.trim().is_empty());
            assert!(key.chars().count() <= MAX_PROP_KEY_LEN);
            assert!(value.chars().count() <= MAX_PROP_VALUE_LEN);
        }
    }
    // The same bytes as a revenue amount: as JSON when they parse as JSON, and
    // always as a decimal string.
    let limit = MAX_AMOUNT.unsigned_abs() * 1_000_000;
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&raw)
        && let Ok(micros) = parse_amount(&value)
    {
        assert!(micros.unsigned_abs() <= limit);
    }
    if let Ok(micros) = parse_amount(&serde_json::Value::String(raw.to_string())) {
        assert!(micros.unsigned_abs() <= limit);
    }
    if let Ok(currency) = Currency::parse(&raw) {
        assert!(currency.as_str().len() == 3);
        assert!(currency.as_str().bytes().all(|b| b.is_ascii_uppercase()));
    }
});
