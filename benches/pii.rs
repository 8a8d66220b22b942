//! Throughput of `detect` + `redact` on English prose with sparse PII (target: >= 200 MB/s).

use std::fmt::Write as _;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ravelin::pii::{redact, Detector, Operators};

const PROSE: &str = "The committee met on Tuesday to review the quarterly roadmap and agreed that the \
migration of the reporting service should wait until the new storage layer is stable. Several members \
asked for clearer ownership of the incident process, and the chair proposed a rotation so that every team \
shares the on-call load fairly. ";

fn corpus() -> String {
    // About 1 MB: mostly prose, one PII-bearing sentence per ~4 KB.
    let mut text = String::new();
    let mut i = 0u32;
    while text.len() < 1 << 20 {
        text.push_str(PROSE);
        i += 1;
        if i % 14 == 0 {
            let _ = write!(
                text,
                "Contact jane.doe{i}@example.com or +44 20 7946 {:04}. ",
                i % 10_000
            );
        }
    }
    text
}

fn bench(c: &mut Criterion) {
    let text = corpus();
    let detector = Detector::builtin();
    let ops = Operators::replace();
    let mut g = c.benchmark_group("pii");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(20);
    g.bench_function("redact_prose_1mb", |b| {
        b.iter(|| {
            let found = detector.detect(&text, None).unwrap();
            redact(&text, &found, &ops)
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
