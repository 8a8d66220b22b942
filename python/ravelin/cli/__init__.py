"""The ``ravelin`` command line: one sub-command module per concern."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ravelin import __version__

# Each module exposes ``register(subparsers)``; the parser it adds sets ``func(args) -> int``.
_COMMANDS = (
    # --- injection ---
    "ravelin.cli.scan",
    # --- pii ---
    "ravelin.cli.redact",
    # --- tokens ---
    "ravelin.cli.tokens",

    # --- keys ---
    "ravelin.cli.keys",

    # --- guard ---
    "ravelin.cli.demo",

)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="ravelin", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ravelin {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `ravelin scan big.jsonl | head` must not print a traceback.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
