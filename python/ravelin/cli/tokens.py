"""``ravelin tokens``: token counts (and cost, when the model has a price) of each input."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import ravelin
from ravelin.cli._io import Record, add_input_arguments, run_file_command


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tokens",
        help="count or estimate tokens (and cost) of each input",
        description=(
            "Token count of each input line (or JSONL field, or the whole file). By default "
            "short texts are counted exactly and long ones estimated; --exact always runs the "
            "real BPE, --fast always the estimator."
        ),
    )
    add_input_arguments(parser)
    parser.add_argument("--model", default="gpt-4o", help="model name (default: gpt-4o)")
    parser.add_argument("--encoding", help="o200k_base or cl100k_base (overrides the model's)")
    exactness = parser.add_mutually_exclusive_group()
    exactness.add_argument("--exact", action="store_true", help="always run the real BPE")
    exactness.add_argument("--fast", action="store_true", help="always use the estimator")
    parser.add_argument(
        "--margin", type=float, default=1.0, help="safety multiplier for budgets (e.g. 1.05)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    mode = "exact" if args.exact else "fast" if args.fast else "auto"
    options = {"encoding": args.encoding, "mode": mode, "margin": args.margin}
    try:  # reject a bad model, encoding or margin before reading any input
        ravelin.estimate_tokens("", args.model, **options)
    except ravelin.RavelinError as exc:
        print(f"ravelin: {exc}", file=sys.stderr)
        return 2
    try:
        ravelin.estimate_cost(args.model, 0)
        priced = True
    except ravelin.UnknownNameError:  # no listed price: report tokens only
        priced = False

    def process(record: Record) -> dict[str, Any]:
        tokens = ravelin.estimate_tokens(record.text, args.model, **options)
        row: dict[str, Any] = {"line": record.line, "chars": len(record.text), "tokens": tokens}
        if priced:
            row["input_usd"] = ravelin.estimate_cost(args.model, tokens)
        return row

    columns = [
        ("line", lambda r: str(r["line"])),
        ("chars", lambda r: str(r["chars"])),
        ("tokens", lambda r: str(r["tokens"])),
    ]
    if priced:
        columns.append(("input_usd", lambda r: f"{r['input_usd']:.6f}"))
    return run_file_command(args, process, columns)
