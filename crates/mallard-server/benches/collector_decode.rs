//! The cost of turning a collector body into a typed event: decompression,
//! JSON parsing and the wire-schema check, for valid bodies (the common case)
//! and an invalid one (which also collects the errors).

// criterion's macros generate public functions without documentation.
#![allow(missing_docs)]

use std::io::Write;

use criterion::{Criterion, criterion_group, criterion_main};
use mallard_server::collector::body::{Encoding, MAX_BODY_BYTES, decode};
use mallard_server::collector::schema::parse_event;

/// A browser pageview as the load generator of `cargo xtask bench-http` sends it.
const PAGEVIEW: &str = r#"{"id":"00000000-0000-4000-8000-000000004242","site_id":"bench.example","anon_id":"a42","type":"pageview","url":"https://bench.example/docs/42","ts":0,"referrer":"https://www.google.com/","context":{"screen":{"w":1280,"h":800}}}"#;

/// A custom event with campaign parameters, props and a user agent.
const CUSTOM: &str = r#"{"id":"6f1c5a1e-8d7b-4c1e-9a43-0b6a8e0f7d21","site_id":"bench.example","anon_id":"anon-7","type":"checkout_completed","url":"https://bench.example/checkout?step=3","ts":1700000000000,"session_id":"s-1","context":{"utm":{"source":"newsletter","medium":"email","campaign":"winter"},"referrer":"https://mail.example/","viewport":{"w":1280,"h":720},"screen":{"w":1920,"h":1080},"language":"en-GB","timezone":"Europe/London","ua":"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"},"props":{"plan":"pro","amount":42.5}}"#;

/// A body whose `ts` is a string and whose screen lacks its height.
const INVALID: &str = r#"{"id":"x","site_id":"bench.example","anon_id":"a","type":"pageview","url":"https://bench.example/","ts":"now","context":{"screen":{"w":1280}}}"#;

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("collector_parse_event");
    group.bench_function("pageview", |b| {
        b.iter(|| parse_event(PAGEVIEW.as_bytes()).unwrap());
    });
    group.bench_function("custom_event", |b| {
        b.iter(|| parse_event(CUSTOM.as_bytes()).unwrap());
    });
    group.bench_function("invalid", |b| {
        b.iter(|| parse_event(INVALID.as_bytes()).unwrap_err());
    });
    group.finish();
}

fn gzip_body(c: &mut Criterion) {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(PAGEVIEW.as_bytes()).unwrap();
    let compressed = encoder.finish().unwrap();
    c.bench_function("collector_decode_gzip/pageview", |b| {
        b.iter(|| decode(Encoding::Gzip, &compressed, MAX_BODY_BYTES).unwrap());
    });
}

criterion_group!(benches, parse, gzip_body);
criterion_main!(benches);
