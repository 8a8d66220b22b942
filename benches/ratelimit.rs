//! The in-process limiter's hot path: one key, many keys, one and three limits, both algorithms.
//! `cargo bench --bench ratelimit`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ravelin::ratelimit::{Algorithm, Limiter};

fn hits(c: &mut Criterion) {
    for (name, algorithm) in [
        ("gcra", Algorithm::Gcra),
        ("sliding_window", Algorithm::SlidingWindow),
    ] {
        for spec in [
            "1000000000/minute",
            "1000000/second; 100000000/hour; 1000000000/day",
        ] {
            let limits = spec.matches('/').count();
            let limiter = Limiter::new(spec, algorithm).unwrap();
            c.bench_function(&format!("{name}/{limits} limits/one key"), |b| {
                b.iter(|| limiter.hit(black_box("user-42"), 1).unwrap());
            });
            let keys: Vec<String> = (0..1_000_000).map(|i| format!("user-{i}")).collect();
            let mut i = 0;
            c.bench_function(&format!("{name}/{limits} limits/1M keys"), |b| {
                b.iter(|| {
                    i = (i + 1) % keys.len();
                    limiter.hit(black_box(keys[i].as_str()), 1).unwrap()
                });
            });
        }
    }
}

criterion_group!(benches, hits);
criterion_main!(benches);
