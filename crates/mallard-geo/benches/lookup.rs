//! The cost of one country lookup in the bundled database: the price every
//! live event and every imported log line pays; and of one full location
//! (country, region, city) in a City database, the price with a user's
//! GeoLite2-City or DB-IP City Lite file.

// criterion's macros generate public functions without documentation.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use mallard_geo::Geolocator;

/// A fixed spread of addresses across the whole IPv4 space (a simple
/// multiplicative sequence), so the bench walks many branches of the tree.
fn ipv4_addresses() -> Vec<IpAddr> {
    (0u32..4096)
        .map(|i| IpAddr::V4(Ipv4Addr::from(i.wrapping_mul(2_654_435_761))))
        .collect()
}

/// Addresses spread across 2000::/4, where most allocations are.
fn ipv6_addresses() -> Vec<IpAddr> {
    (0u64..4096)
        .map(|i| {
            let high = 0x2000_0000_0000_0000 | (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 4);
            IpAddr::V6(Ipv6Addr::from(u128::from(high) << 64))
        })
        .collect()
}

fn lookups(c: &mut Criterion) {
    let geo = Geolocator::bundled().expect("the bundled database opens");
    for (name, addresses) in [("ipv4", ipv4_addresses()), ("ipv6", ipv6_addresses())] {
        let mut next = addresses.iter().cycle();
        c.bench_function(&format!("country/{name}"), |b| {
            b.iter(|| geo.country(black_box(*next.next().unwrap_or(&addresses[0]))))
        });
    }
    c.bench_function("open/bundled", |b| b.iter(Geolocator::bundled));
}

/// Addresses in the synthetic City database's networks (most with a region
/// and a city, some country-only or odd ones), and one it does not know.
fn city_addresses() -> Vec<IpAddr> {
    [
        "81.2.69.142",
        "8.8.8.8",
        "193.99.144.80",
        "2a02:2e0:3fe:1001:302::",
        "200.160.2.3",
        "1.1.1.1",
        "80.58.0.1",
        "45.0.0.1",
        "145.100.0.1",
        "4.4.4.4",
    ]
    .iter()
    .map(|ip| ip.parse().expect("a valid address"))
    .collect()
}

fn city_lookups(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/city-test.mmdb");
    let geo = Geolocator::open(Path::new(path)).expect("the City test database opens");
    let addresses = city_addresses();
    let mut next = addresses.iter().cycle();
    c.bench_function("locate/city", |b| {
        b.iter(|| geo.locate(black_box(*next.next().unwrap_or(&addresses[0]))))
    });
    let mut next = addresses.iter().cycle();
    c.bench_function("country/city", |b| {
        b.iter(|| geo.country(black_box(*next.next().unwrap_or(&addresses[0]))))
    });
    let bundled = Geolocator::bundled().expect("the bundled database opens");
    let addresses = ipv4_addresses();
    let mut next = addresses.iter().cycle();
    c.bench_function("locate/bundled-ipv4", |b| {
        b.iter(|| bundled.locate(black_box(*next.next().unwrap_or(&addresses[0]))))
    });
}

criterion_group!(benches, lookups, city_lookups);
criterion_main!(benches);
