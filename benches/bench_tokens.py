#!/usr/bin/env python3
"""ravelin token counting vs Python tiktoken, side by side in one run.

    .venv/bin/python benches/bench_tokens.py [--corpus ../shared/corpus/tokens/train.jsonl]

1. A 1,000-character prompt (and a 999-character one, which auto mode counts exactly):
   median latency of ravelin.estimate_tokens(prompt, "gpt-4o") (auto mode) vs
   len(tiktoken encode_ordinary(prompt)).
2. Throughput of exact counting on a mixed file (the corpus texts joined, ~2 MB):
   ravelin.count_tokens vs tiktoken encode_ordinary, both encodings, and ravelin's estimator.

tiktoken is built offline from the rank files bundled with the bpe-openai crate
(tests/python/tiktoken_ref.py); its counts are checked equal to ravelin's before timing.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import ravelin  # noqa: E402
import tiktoken_ref  # noqa: E402


def median_seconds(fn, *, repeat: int, number: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number)
    return statistics.median(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = ROOT.parent / "shared" / "corpus" / "tokens" / "train.jsonl"
    ap.add_argument("--corpus", type=pathlib.Path, default=default)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.corpus.open(encoding="utf-8")]

    prose = "\n".join(r["text"] for r in rows if r["category"] in ("chat", "prose_en"))
    print(f"ravelin {ravelin.__version__}, Python {sys.version.split()[0]}")
    print("\n## 1,000-character prompt, auto mode (median per call)")
    print(f"{'prompt':<12} {'ravelin':>10} {'tiktoken':>10} {'speed-up':>9}")
    for size in (1000, 999):
        prompt = prose[:size]
        enc = tiktoken_ref.encoding("o200k_base")
        assert ravelin.estimate_tokens(prompt, "gpt-4o", mode="exact") == len(
            enc.encode_ordinary(prompt)
        )
        ours = median_seconds(
            lambda p=prompt: ravelin.estimate_tokens(p, "gpt-4o"), repeat=15, number=2000
        )
        theirs = median_seconds(
            lambda p=prompt, e=enc: e.encode_ordinary(p), repeat=15, number=2000
        )
        mode = "exact" if size < ravelin.AUTO_EXACT_BELOW_CHARS else "estimator"
        print(
            f"{size} ch ({mode:<9}) {ours * 1e6:7.2f} us "
            f"{theirs * 1e6:7.2f} us {theirs / ours:8.1f}x"
        )

    mixed = "\n".join(r["text"] for r in rows)
    mixed = mixed * max(1, (2 << 20) // len(mixed.encode()))
    size_mb = len(mixed.encode()) / 1e6
    print(f"\n## Throughput on the mixed corpus file ({size_mb:.1f} MB, median of 5)")
    print(f"{'encoding':<12} {'ravelin exact':>14} {'tiktoken':>10} {'ratio':>6} {'estimator':>11}")
    for name in ("o200k_base", "cl100k_base"):
        enc = tiktoken_ref.encoding(name)
        assert ravelin.count_tokens(mixed, name) == len(enc.encode_ordinary(mixed))
        exact = median_seconds(lambda n=name: ravelin.count_tokens(mixed, n), repeat=5, number=1)
        ref = median_seconds(lambda e=enc: e.encode_ordinary(mixed), repeat=5, number=1)
        model = "gpt-4o" if name == "o200k_base" else "gpt-4"
        fast = median_seconds(
            lambda m=model: ravelin.estimate_tokens(mixed, m, mode="fast"), repeat=5, number=5
        )
        print(
            f"{name:<12} {size_mb / exact:9.1f} MB/s {size_mb / ref:6.1f} MB/s {ref / exact:5.1f}x "
            f"{size_mb / fast / 1000:6.2f} GB/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
