"""ravelin.redact against Microsoft Presidio (analyzer + anonymizer), side by side in one run.

Presidio runs its pattern recognizers only: the NLP engine is a blank spaCy pipeline (no model
download), restricted to the entity types both tools support, which is the fastest Presidio
can be. ravelin runs every built-in recognizer (20 types). Both see the same texts, one at a
time on one thread; accuracy is typed-overlap F1 per entity type, as in eval_pii.py.

    .venv/bin/pip install -r benches/requirements.txt
    .venv/bin/python benches/bench_pii.py [--data FILE] [--limit N] [--repeat R]
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import statistics
import time
from typing import Callable

import ravelin

# The shared corpus sits beside the checkout (../shared or ../../shared for a worktree).
CORPUS = pathlib.Path("shared", "corpus", "pii", "dev.jsonl")
DEFAULT = next(
    (p / CORPUS for p in pathlib.Path(__file__).resolve().parents if (p / CORPUS).is_file()),
    CORPUS,
)
SHARED = [
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "US_SSN",
    "IBAN_CODE",
    "IP_ADDRESS",
    "CRYPTO",
]

Span = tuple[str, int, int]


def presidio() -> Callable[[str], tuple[str, list[Span]]]:
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_anonymizer import AnonymizerEngine

    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.nlp = {"en": spacy.blank("en")}  # no statistical model: pattern recognizers only
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    anonymizer = AnonymizerEngine()

    def run(text: str) -> tuple[str, list[Span]]:
        found = analyzer.analyze(text=text, language="en", entities=SHARED)
        out = anonymizer.anonymize(text=text, analyzer_results=found).text
        return out, [(r.entity_type, r.start, r.end) for r in found]

    return run


def ours(text: str) -> tuple[str, list[Span]]:
    r = ravelin.redact(text)
    return r.text, [(e.entity_type, e.start, e.end) for e in r.entities]


def timed(fn: Callable[[str], tuple[str, list[Span]]], texts: list[str], repeat: int):
    runs, last = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        last = [fn(t)[1] for t in texts]
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), last


def f1_by_type(rows: list[dict], preds: list[list[Span]]) -> dict[str, float]:
    counts = collections.defaultdict(lambda: [0, 0, 0])
    for row, pred in zip(rows, preds):
        gold = [(g["type"], g["start"], g["end"]) for g in row["entities"] if g["type"] in SHARED]
        pred = [p for p in pred if p[0] in SHARED]
        for t, s, e in set(pred):
            hit = any(gt == t and s < ge and gs < e for gt, gs, ge in gold)
            counts[t][0 if hit else 1] += 1
        for t, s, e in set(gold):
            if not any(pt == t and s < pe and ps < e for pt, ps, pe in pred):
                counts[t][2] += 1
    out = {}
    for t in SHARED:
        tp, fp, fn = counts[t]
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        out[t] = 2 * p * r / (p + r) if p + r else 0.0
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=pathlib.Path, default=DEFAULT)
    ap.add_argument("--limit", type=int, default=0, help="use the first N texts (0: all)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.data.open(encoding="utf-8") if line.strip()]
    rows = rows[: args.limit] if args.limit else rows
    texts = [r["text"] for r in rows]
    mb = sum(len(t.encode()) for t in texts) / 1e6

    peer = presidio()
    ours(texts[0]), peer(texts[0])  # load both before timing
    t_ours, p_ours = timed(ours, texts, args.repeat)
    t_peer, p_peer = timed(peer, texts, args.repeat)
    f_ours, f_peer = f1_by_type(rows, p_ours), f1_by_type(rows, p_peer)

    print(f"{len(texts)} texts, {mb:.2f} MB, median of {args.repeat} runs, one thread")
    print(f"{'':<22}{'seconds':>10}{'texts/s':>12}{'MB/s':>9}")
    for name, t in (("ravelin.redact", t_ours), ("presidio analyze+anon", t_peer)):
        print(f"{name:<22}{t:>10.3f}{len(texts) / t:>12.0f}{mb / t:>9.2f}")
    print(f"speed-up: {t_peer / t_ours:.0f}x")
    print(f"{'F1 (typed overlap)':<22}{'ravelin':>10}{'presidio':>10}")
    for t in SHARED:
        print(f"{t:<22}{f_ours[t]:>10.3f}{f_peer[t]:>10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
