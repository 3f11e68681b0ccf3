//! The cost of the admin password: one Argon2id verification is what a login
//! costs the server (and what a brute-force attempt costs an attacker).

// criterion's macros generate public functions without documentation.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use mallard_server::auth::password;

fn login(c: &mut Criterion) {
    let stored = password::hash("correct horse battery staple").unwrap();
    let mut group = c.benchmark_group("argon2id_default");
    group.sample_size(20);
    group.bench_function("verify_correct", |b| {
        b.iter(|| assert!(password::verify("correct horse battery staple", &stored)));
    });
    group.bench_function("verify_wrong", |b| {
        b.iter(|| assert!(!password::verify("wrong horse battery staple", &stored)));
    });
    group.finish();
}

criterion_group!(benches, login);
criterion_main!(benches);
