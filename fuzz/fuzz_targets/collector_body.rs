//! Fuzzes the collector's body decoder and wire-schema parser: the first byte
//! picks the content coding, the rest is the body. Decoding must never panic,
//! never yield more than the limit, and only fail with the documented codes;
//! parsing must only fail with 400 codes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mallard_server::collector::body::{Encoding, decode};
use mallard_server::collector::schema::parse_event;

/// A small limit so that the fuzzer reaches the limit path often.
const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let encoding = match selector % 3 {
        0 => Encoding::Identity,
        1 => Encoding::Gzip,
        _ => Encoding::Brotli,
    };
    match decode(encoding, body, LIMIT) {
        Ok(decoded) => {
            assert!(decoded.len() <= LIMIT);
            if let Err(err) = parse_event(&decoded) {
                assert_eq!(err.status().as_u16(), 400, "{err:?}");
            }
        }
        Err(err) => assert!(
            matches!(err.code(), "invalid_encoding" | "payload_too_large"),
            "{err:?}"
        ),
    }
});
