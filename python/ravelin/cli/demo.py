"""``ravelin demo``: the guarded demo service (FastAPI + uvicorn, SQLite keys, in-memory limits)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a guarded OpenAI-compatible demo service",
        description="Start an echo model behind the ravelin guard and print a demo key "
        "(first line: RAVELIN_DEMO_KEY=<key>) and curl commands to try it.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (8000)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise SystemExit("ravelin demo: --port must be within 1..65535")
    from ravelin.demo import serve  # FastAPI and uvicorn only when the demo runs

    return serve(args.host, args.port)
