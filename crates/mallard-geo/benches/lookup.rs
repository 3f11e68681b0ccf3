//! The cost of one country lookup in the bundled database: the price every
//! live event and every imported log line pays.

// criterion's macros generate public functions without documentation.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

criterion_group!(benches, lookups);
criterion_main!(benches);
