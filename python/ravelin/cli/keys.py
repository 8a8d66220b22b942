"""``ravelin keys``: create, list, revoke and rotate API keys in a SQLite file or Redis.

The raw key is printed once, by ``create`` and ``rotate``; every other output shows key ids and
masks only. A server-side pepper is read from ``$RAVELIN_KEY_PEPPER`` (never from the command
line, where other users could see it in the process list).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from datetime import datetime, timezone
from typing import Any, Optional

from ravelin.keys import CreatedKey, KeyRecord, KeyStore, RedisKeyStore, SQLiteKeyStore

DEFAULT_DB = "ravelin-keys.db"
PEPPER_ENV = "RAVELIN_KEY_PEPPER"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("keys", help="manage API keys", description=__doc__)

    def usage(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(func=usage)
    commands = parser.add_subparsers(dest="keys_command")

    store = argparse.ArgumentParser(add_help=False)
    where = store.add_mutually_exclusive_group()
    where.add_argument(
        "--db",
        default=os.environ.get("RAVELIN_KEYS_DB", DEFAULT_DB),
        help=f"SQLite file (default: $RAVELIN_KEYS_DB or {DEFAULT_DB})",
    )
    where.add_argument("--redis", metavar="URL", help="use Redis at URL instead of SQLite")
    store.add_argument("--prefix", default="rk_live", help="key prefix (default: rk_live)")
    store.add_argument("--format", choices=("text", "json"), default="text")

    create = commands.add_parser("create", parents=[store], help="issue a new key")
    create.add_argument("--owner", required=True)
    create.add_argument("--scopes", default="", help="comma-separated, e.g. chat,embed")
    create.add_argument("--expires", help="lifetime like 90d, 12h, 30m (default: never)")
    create.add_argument("--name", default="")
    create.add_argument("--metadata", help="a JSON object stored with the key")
    create.set_defaults(func=_create)

    listing = commands.add_parser("list", parents=[store], help="list keys (never the keys)")
    listing.add_argument("--owner", help="only this owner's keys")
    listing.set_defaults(func=_list)

    revoke = commands.add_parser("revoke", parents=[store], help="revoke a key now")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=_revoke)

    rotate = commands.add_parser("rotate", parents=[store], help="replace a key")
    rotate.add_argument("key_id")
    rotate.add_argument("--grace", default="1h", help="how long the old key still works")
    rotate.set_defaults(func=_rotate)


def _open_store(args: argparse.Namespace) -> KeyStore:
    options: dict[str, Any] = {"prefix": args.prefix, "pepper": os.environ.get(PEPPER_ENV)}
    if args.redis:
        return RedisKeyStore(args.redis, **options)
    return SQLiteKeyStore(args.db, **options)


def _when(ts: Optional[float]) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _print_records(records: list[KeyRecord], fmt: str) -> None:
    if fmt == "json":
        for record in records:
            print(json.dumps(record.to_dict(), sort_keys=True))
        return
    header = ("KEY_ID", "OWNER", "NAME", "SCOPES", "STATUS", "CREATED", "EXPIRES", "LAST_USED")
    rows = [header] + [
        (
            r.key_id,
            r.owner,
            r.name or "-",
            ",".join(r.scopes) or "-",
            r.status() if r.replaced_by is None else f"{r.status()} (rotated)",
            _when(r.created_at),
            _when(r.expires_at),
            _when(r.last_used_at),
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _print_created(created: CreatedKey, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps({"key": created.key, "record": created.record.to_dict()}, sort_keys=True))
    else:
        print(created.key)
        _print_records([created.record], "text")
    print("Store this key now: it cannot be shown again.", file=sys.stderr)


def _store_errors() -> tuple[type[BaseException], ...]:
    try:
        import redis
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, redis.RedisError)


def _run(args: argparse.Namespace, action: Any) -> int:
    try:
        with _open_store(args) as store:
            action(store)
    except (KeyError, ValueError, TypeError) as exc:
        # KeyError's str() is the repr of its message; show the message itself.
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"ravelin keys: {message}", file=sys.stderr)
        return 1
    except _store_errors() as exc:
        print(f"ravelin keys: the key store failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _create(args: argparse.Namespace) -> int:
    def action(store: KeyStore) -> None:
        metadata = None if args.metadata is None else json.loads(args.metadata)
        created = store.create(
            args.owner, args.scopes, expires_in=args.expires, name=args.name, metadata=metadata
        )
        _print_created(created, args.format)

    return _run(args, action)


def _list(args: argparse.Namespace) -> int:
    return _run(args, lambda store: _print_records(store.list(args.owner), args.format))


def _revoke(args: argparse.Namespace) -> int:
    return _run(args, lambda store: _print_records([store.revoke(args.key_id)], args.format))


def _rotate(args: argparse.Namespace) -> int:
    return _run(
        args, lambda store: _print_created(store.rotate(args.key_id, grace=args.grace), args.format)
    )
