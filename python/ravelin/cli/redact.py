"""``ravelin redact``: remove PII and secrets from text or JSONL files.

Each input's redacted text is printed with the types and positions of what was removed; the
removed values themselves are never printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import ravelin
from ravelin.cli._io import Record, add_input_arguments, run_file_command

# `pseudonymize` needs a Vault that outlives the process, so the CLI does not offer it.
OPERATORS = ("replace", "mask", "hash", "remove")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "redact", help="redact PII and secrets", description=__doc__.splitlines()[0]
    )
    add_input_arguments(parser)
    parser.add_argument("--operator", choices=OPERATORS, default="replace")
    parser.add_argument("--entities", help="comma-separated entity types (default: all)")
    parser.add_argument("--keep", type=int, default=4, help="characters kept by --operator mask")
    parser.add_argument("--salt", help="salt for --operator hash (default: random per run)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    entities = [e.strip() for e in args.entities.split(",") if e.strip()] if args.entities else None
    if args.keep < 0:
        print("ravelin: --keep must be >= 0", file=sys.stderr)
        return 2
    try:
        redactor = ravelin.Redactor(args.operator, entities, keep=args.keep, salt=args.salt)
    except ravelin.RavelinError as exc:
        print(f"ravelin: {exc}", file=sys.stderr)
        return 2

    def process(record: Record) -> dict[str, Any]:
        result = redactor.redact(record.text)
        return {
            "line": record.line,
            "text": result.text,
            "entities": [
                {"type": e.entity_type, "start": e.start, "end": e.end, "score": e.score}
                for e in result.entities
            ],
        }

    columns = (
        ("line", lambda row: str(row["line"])),
        ("found", lambda row: ",".join(sorted({e["type"] for e in row["entities"]})) or "-"),
        ("text", lambda row: row["text"].replace("\n", " ")[:80]),
    )
    return run_file_command(args, process, columns)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs this command alone (``python -m ravelin.cli.redact``)."""
    parser = argparse.ArgumentParser(prog="ravelin")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["redact", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
