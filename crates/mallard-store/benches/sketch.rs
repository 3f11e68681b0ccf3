//! Encoding and decoding a site day's visitor sketch (a HyperLogLog of
//! precision 14, stored plain): what the rollup writer does for every row
//! it touches, and an unfiltered year-long daily series for each of its 365
//! days.

// The criterion macros define undocumented functions.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use mallard_store::hll::{SITE_PRECISION, Sketch, SketchUnion, visitor_hash};

/// The sketch of a day of `visitors` visitors.
fn day_sketch(visitors: i64) -> Sketch {
    let hashes: Vec<u32> = (0..visitors).map(visitor_hash).collect();
    let mut sketch = Sketch::default();
    sketch.insert_all(&hashes, SITE_PRECISION);
    sketch
}

fn sketches(c: &mut Criterion) {
    let mut group = c.benchmark_group("site_day_sketch");
    for visitors in [10_000, 100_000] {
        let sketch = day_sketch(visitors);
        let encoded = sketch.encode();
        group.bench_function(format!("encode_{visitors}"), |b| b.iter(|| sketch.encode()));
        group.bench_function(format!("estimate_encoded_{visitors}"), |b| {
            b.iter(|| {
                let mut union = SketchUnion::new();
                assert!(union.add_encoded(&encoded));
                union.estimate()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, sketches);
criterion_main!(benches);
