//! Fuzzes the Mallard family's event parser (`POST /api/event`): the JSON body
//! is parsed and validated exactly as the route does. Parsing and validation
//! must never panic, and every refusal must be one of the documented statuses
//! (400 for malformed JSON or an invalid field, 422 for well-formed JSON of the
//! wrong shape).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mallard_server::ingest::payload::parse_json;

fuzz_target!(|data: &[u8]| {
    let refusal = match parse_json(data) {
        Ok(payload) => match payload.validate() {
            Ok(_) => return,
            Err(err) => err,
        },
        Err(err) => err,
    };
    let status = refusal.status().as_u16();
    assert!(status == 400 || status == 422, "{status}: {refusal:?}");
});
