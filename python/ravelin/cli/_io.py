"""Input and output shared by the file commands (scan, redact, tokens).

Inputs are plain text (one input per non-empty line, or the whole file with ``--whole``) or
JSONL (``--field NAME`` picks the text; a dotted path reaches nested objects). Output is one
JSON object per input, or a table with ``--format table``. Files larger than a few MB show a
progress bar on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Callable

PROGRESS_MIN_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Record:
    """One input: its 1-based line number and its text."""

    line: int
    text: str


class InputError(Exception):
    """A line of the input cannot be read as asked (bad JSON, missing field)."""


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", default="-", help="input file, or - for stdin")
    parser.add_argument("--field", help="read JSONL and take the text from this (dotted) field")
    parser.add_argument("--whole", action="store_true", help="treat the whole file as one text")
    parser.add_argument("--format", choices=("json", "table"), default="json")
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")


def _field(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            raise KeyError(path)
        obj = obj[part]
    return obj


def _open(path: str) -> tuple[IO[str], int]:
    if path == "-":
        # Invalid UTF-8 is replaced, not fatal: a guard must still see the rest of the text.
        return open(sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False), 0
    return open(path, encoding="utf-8", errors="replace", newline=""), os.path.getsize(path)


def iter_records(args: argparse.Namespace) -> Iterator[Record]:
    """Yields the inputs named by ``args``; raises ``InputError`` naming the bad line."""
    stream, size = _open(args.file)
    bar = None
    if size >= PROGRESS_MIN_BYTES and not args.no_progress:
        from tqdm import tqdm  # type: ignore[import-untyped]

        bar = tqdm(total=size, unit="B", unit_scale=True, file=sys.stderr, desc="ravelin")
    try:
        if args.whole:
            text = stream.read()
            if bar is not None:
                bar.update(size)
            yield Record(1, text)
            return
        for number, line in enumerate(stream, 1):
            if bar is not None:
                bar.update(len(line.encode("utf-8", "surrogatepass")))
            if args.field is None:
                line = line.rstrip("\r\n")
                if line.strip():
                    yield Record(number, line)
                continue
            if not line.strip():
                continue
            try:
                value = _field(json.loads(line), args.field)
            except json.JSONDecodeError as exc:
                raise InputError(f"line {number}: not valid JSON ({exc.msg})") from None
            except KeyError:
                raise InputError(f"line {number}: no field {args.field!r}") from None
            if not isinstance(value, str):
                raise InputError(f"line {number}: field {args.field!r} is not a string")
            yield Record(number, value)
    finally:
        if bar is not None:
            bar.close()
        if stream is not sys.stdin:
            stream.close()


def write_results(
    args: argparse.Namespace,
    rows: Iterator[dict[str, Any]],
    columns: Sequence[tuple[str, Callable[[dict[str, Any]], str]]],
    out: IO[str] | None = None,
) -> None:
    """Writes each result as a JSON line, or as a fixed-width table of ``columns``."""
    out = out or sys.stdout
    if args.format == "json":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    widths = [max(len(title), 8) for title, _ in columns]
    out.write("  ".join(t.ljust(w) for (t, _), w in zip(columns, widths)).rstrip() + "\n")
    for row in rows:
        cells = [cell(row) for _, cell in columns]
        out.write("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip() + "\n")


def run_file_command(
    args: argparse.Namespace, process: Callable[[Record], dict[str, Any]], columns: Sequence
) -> int:
    """Runs ``process`` over every input and writes its rows; exit 2 on unreadable input."""
    try:
        write_results(args, (process(r) for r in iter_records(args)), columns)
    except InputError as exc:
        sys.stdout.flush()
        print(f"ravelin: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        print(f"ravelin: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0
