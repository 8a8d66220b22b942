#!/usr/bin/env python3
"""Writes tests/data/tokens_exact.json: tricky texts with their exact counts from tiktoken.

The Rust unit tests and pytest both check ravelin's exact counter against this table. Run from
the project root with the dev venv (tiktoken is built offline by tests/python/tiktoken_ref.py):

    .venv/bin/python tools/token_cases.py [--corpus ../shared/corpus/tokens/train.jsonl]
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import tiktoken_ref  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "tokens" / "train.jsonl"

HANDPICKED = [
    "",
    "Hello, world!",
    "I'm sure they'LL say it's WE'VE done 'd",
    "a  \n\n  b   \n\t\tc   ",
    "trailing spaces   ",
    "\r\n\r\nwindows\r\nlines\r\n",
    "nul\x00bytes\x00\x00inside",
    "1234567890 3.14159 -42 1,000,000 2024-11-22T12:34:56Z",
    "https://example.com/path/to/page?query=1&x=%20y#frag",
    "def f(x):\n\treturn {'a': [1, 2, 3]}  # comment\n",
    "<|endoftext|> special tokens count as text <|endofprompt|>",
    "family 👨‍👩‍👧‍👦 flag 🇫🇷 thumbs 👍🏽 keycap 1️⃣",
    "東京都は日本の首都です。한국어 텍스트. カタカナ",
    "مرحبا بالعالم. שלום עולם. नमस्ते दुनिया. สวัสดีชาวโลก",
    "Ünïcödé cafe\u0301 naïve Straße ΑΒΓ Привет мир",
    "\ufffd\ufffd replacement \ufffd",
    "SHOUTING CamelCaseIdentifier snake_case_name kebab-case-name",
    "aGVsbG8gd29ybGQ=+/ZXhhbXBsZQ==AbCdEfGh0123456789",
    "     leading and     inner     spaces",
    "x" * 3000,
    "The quick brown fox jumps over the lazy dog. " * 30,
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=pathlib.Path, default=CORPUS)
    args = ap.parse_args()
    texts = list(HANDPICKED)
    if args.corpus.exists():
        # The shortest text of each category: real data, small enough for a unit test.
        shortest: dict[str, str] = {}
        for line in args.corpus.open(encoding="utf-8"):
            row = json.loads(line)
            best = shortest.get(row["category"])
            if len(row["text"]) >= 40 and (best is None or len(row["text"]) < len(best)):
                shortest[row["category"]] = row["text"]
        texts += [shortest[c] for c in sorted(shortest)]
    encodings = {n: tiktoken_ref.encoding(n) for n in ("o200k_base", "cl100k_base")}
    rows = [
        collections.OrderedDict(
            [("text", t)] + [(n, len(e.encode_ordinary(t))) for n, e in encodings.items()]
        )
        for t in texts
    ]
    out = ROOT / "tests" / "data" / "tokens_exact.json"
    out.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} cases to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
