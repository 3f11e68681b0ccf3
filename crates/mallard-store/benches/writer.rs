//! Writer throughput by batch size: how many events per second one commit of
//! N events achieves through the group-commit writer (one submission per batch).

// criterion's macros generate public functions without documentation.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mallard_core::{DeviceClass, EventName, NewEvent, SessionAttributes, SiteId, VisitorId};
use mallard_store::{Store, StoreOptions};

fn events(count: usize, offset: usize) -> Vec<NewEvent> {
    let site = SiteId::parse("bench.example").unwrap();
    let pageview = EventName::parse("pageview").unwrap();
    (offset..offset + count)
        .map(|i| NewEvent {
            site: site.clone(),
            timestamp_ms: 1_700_000_000_000 + i as i64 * 10,
            visitor: VisitorId((i % 5000) as u64 * 0x9E37_79B9),
            name: pageview.clone(),
            hostname: "bench.example".into(),
            pathname: format!("/page/{}", i % 2000),
            props: Vec::new(),
            revenue: None,
            session: SessionAttributes {
                browser: Some("Chrome".into()),
                os: Some("Windows".into()),
                device: DeviceClass::Desktop,
                screen_width: Some(1920),
                ..SessionAttributes::default()
            },
            collector: None,
        })
        .collect()
}

fn writer_batches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let writer = store.writer();
    let mut group = c.benchmark_group("writer_commit");
    let mut offset = 0;
    for batch in [1usize, 16, 256, 4096] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch_{batch}"), |b| {
            b.iter_batched(
                || {
                    offset += batch;
                    events(batch, offset)
                },
                |events| writer.insert_blocking(black_box(events)).unwrap(),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
    drop(writer);
    store.close();
}

criterion_group!(benches, writer_batches);
criterion_main!(benches);
