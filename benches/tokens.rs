//! Token estimator and exact-counter throughput on the token corpus.
//!
//! `cargo bench --bench tokens` (release profile: fat LTO). Targets: the estimator >= 1 GB/s on a
//! 10 MB mixed file and >= 0.8 GB/s on every category, single thread. Exact counts on one
//! thread (`count_serial`) and in parallel chunks (`count_tokens`, rayon's pool). The corpus
//! is read from `../shared/corpus/tokens/train.jsonl`, or from `$RAVELIN_TOKEN_CORPUS`.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ravelin::tokens::{count_serial, count_tokens, estimate_fast, Encoding};

fn corpus() -> BTreeMap<String, Vec<String>> {
    let path = std::env::var("RAVELIN_TOKEN_CORPUS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/corpus/tokens/train.jsonl"
        )
        .into()
    });
    let data = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("token corpus {path}: {e} (set RAVELIN_TOKEN_CORPUS)"));
    let mut by_category: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line).expect("corpus line is JSON");
        let category = row["category"].as_str().expect("category").to_owned();
        let text = row["text"].as_str().expect("text").to_owned();
        by_category.entry(category).or_default().push(text);
    }
    by_category
}

/// The texts joined by newlines and repeated up to `size` bytes (cut at a char boundary).
fn file_of(texts: &[&String], size: usize) -> String {
    let mut out = String::with_capacity(size + 32 * 1024);
    while out.len() < size {
        for t in texts {
            out.push_str(t);
            out.push('\n');
        }
    }
    let mut end = size;
    while !out.is_char_boundary(end) {
        end -= 1;
    }
    out.truncate(end);
    out
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    let all: Vec<&String> = corpus.values().flatten().collect();
    let mixed = file_of(&all, 10 << 20);

    let mut group = c.benchmark_group("estimate");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(mixed.len() as u64));
    group.bench_function("mixed_10MB", |b| {
        b.iter(|| estimate_fast(black_box(&mixed), Encoding::O200k));
    });
    for (category, texts) in &corpus {
        let file = file_of(&texts.iter().collect::<Vec<_>>(), 4 << 20);
        group.throughput(Throughput::Bytes(file.len() as u64));
        group.bench_function(format!("{category}_4MB"), |b| {
            b.iter(|| estimate_fast(black_box(&file), Encoding::O200k));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("count_exact");
    group.sample_size(10);
    let one_mb = file_of(&all, 1 << 20);
    group.throughput(Throughput::Bytes(one_mb.len() as u64));
    for encoding in Encoding::ALL {
        group.bench_function(format!("{}_mixed_1MB_serial", encoding.name()), |b| {
            b.iter(|| count_serial(black_box(&one_mb), encoding));
        });
        group.bench_function(format!("{}_mixed_1MB_parallel", encoding.name()), |b| {
            b.iter(|| count_tokens(black_box(&one_mb), encoding));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
