//! `cargo bench --bench injection`: scan throughput (MB/s) on English and mixed-script text.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ravelin::injection::scan;
use ravelin::normalize::normalize;

const ENGLISH: &str = "The committee reviewed the quarterly budget and asked the team to prepare \
a short summary of the main risks, the expected costs and the schedule for next year. ";
const MIXED: &str = "Résumé: 会议在周一举行。Привет, как дела? 😀 The café served crème brûlée; \
東京の天気は晴れです。Ελληνικά κείμενα εδώ. ";

fn text_of(unit: &str, size: usize) -> String {
    let mut s = unit.repeat(size / unit.len() + 1);
    let mut cut = size.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("injection");
    for (name, unit) in [("english", ENGLISH), ("mixed", MIXED)] {
        for size in [1 << 10, 100 << 10, 10 << 20] {
            let text = text_of(unit, size);
            group.throughput(Throughput::Bytes(text.len() as u64));
            if size >= 10 << 20 {
                group.sample_size(10);
            } else {
                group.sample_size(50);
            }
            let id = format!("{name}/{}KB", size >> 10);
            group.bench_with_input(BenchmarkId::new("scan", &id), &text, |b, t| {
                b.iter(|| scan(black_box(t)));
            });
            group.bench_with_input(BenchmarkId::new("normalize", &id), &text, |b, t| {
                b.iter(|| normalize(black_box(t)));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
