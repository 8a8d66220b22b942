"""``ravelin scan``: flag prompt injection in a file of prompts (exit 1 if anything is flagged)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ravelin.cli._io import Record, add_input_arguments, run_file_command


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="scan prompts for injection and jailbreaks",
        description=__doc__,
    )
    add_input_arguments(parser)
    parser.add_argument(
        "--threshold", type=float, default=None, help="flag scores at or above this (0, 1]"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import ravelin

    try:
        scanner = ravelin.Scanner(threshold=args.threshold)
    except ValueError as exc:
        print(f"ravelin: {exc}", file=sys.stderr)
        return 2
    flagged = 0

    def process(record: Record) -> dict[str, Any]:
        nonlocal flagged
        result = scanner.scan(record.text)
        flagged += result.flagged
        return {
            "line": record.line,
            "flagged": result.flagged,
            "score": round(result.score, 4),
            "matches": [
                {"rule_id": m.rule_id, "category": m.category, "start": m.start, "end": m.end}
                for m in result.matches
            ],
        }

    columns = (
        ("line", lambda row: str(row["line"])),
        ("flagged", lambda row: "yes" if row["flagged"] else "no"),
        ("score", lambda row: f"{row['score']:.2f}"),
        ("rules", lambda row: ",".join(sorted({m["rule_id"] for m in row["matches"]}))),
    )
    status = run_file_command(args, process, columns)
    if status:
        return status
    return 1 if flagged else 0
