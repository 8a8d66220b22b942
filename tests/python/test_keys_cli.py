"""``ravelin keys`` in a subprocess, against a SQLite file and the real Redis server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import ravelin
from ravelin.keys import RedisKeyStore, SQLiteKeyStore
from servers import free_port, run_env

# The `keys` sub-command as `ravelin` wires it (cli/__init__.py: register + func), run alone so
# the test does not depend on the other concerns' commands.
RUNNER = """
import argparse, sys
from ravelin.cli import keys
parser = argparse.ArgumentParser(prog="ravelin")
keys.register(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def ravelin_keys(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, "keys", *argv],
        capture_output=True, text=True, timeout=60, env={**run_env(), **(env or {})},
    )


@pytest.fixture(params=["sqlite", "redis"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    if request.param == "sqlite":
        return ["--db", str(tmp_path / "keys.db")]
    return ["--redis", request.getfixturevalue("redis_url")]


def open_store(where: list[str]) -> SQLiteKeyStore | RedisKeyStore:
    return SQLiteKeyStore(where[1]) if where[0] == "--db" else RedisKeyStore(where[1])


def test_create_list_rotate_revoke(where: list[str]) -> None:
    done = ravelin_keys("create", "--owner", "alice", "--scopes", "chat,embed",
                        "--expires", "90d", "--format", "json", *where)
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    key, key_id = created["key"], created["record"]["key_id"]
    assert "cannot be shown again" in done.stderr
    assert created["record"]["scopes"] == ["chat", "embed"]
    expires = created["record"]["expires_at"] - created["record"]["created_at"]
    assert expires == pytest.approx(90 * 86400)

    with open_store(where) as store:
        assert store.authenticate(key).key_id == key_id

    listing = ravelin_keys("list", *where)
    assert listing.returncode == 0
    assert key_id in listing.stdout and "alice" in listing.stdout and "active" in listing.stdout
    assert key not in listing.stdout and key[8:] not in listing.stdout

    rotated = ravelin_keys("rotate", key_id, "--grace", "1h", *where)
    assert rotated.returncode == 0, rotated.stderr
    new_key = rotated.stdout.splitlines()[0]
    assert ravelin.check_key_format(new_key) and new_key != key

    revoked = ravelin_keys("revoke", key_id, "--format", "json", *where)
    assert revoked.returncode == 0
    assert json.loads(revoked.stdout)["revoked_at"] is not None
    with open_store(where) as store:
        with pytest.raises(ravelin.RevokedKeyError):
            store.authenticate(key)
        assert store.authenticate(new_key).owner == "alice"

    owners = ravelin_keys("list", "--owner", "alice", "--format", "json", *where)
    records = [json.loads(line) for line in owners.stdout.splitlines()]
    assert [r["key_id"] for r in records][0] == key_id and len(records) == 2
    assert records[0]["replaced_by"] == records[1]["key_id"]


def test_errors_exit_nonzero_with_a_message(where: list[str]) -> None:
    missing = ravelin_keys("revoke", "key_0123456789abcdef", *where)
    assert missing.returncode == 1
    assert "no key with id key_0123456789abcdef" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = ravelin_keys("create", "--owner", "bob", "--expires", "forever", *where)
    assert bad.returncode == 1 and "expires_in" in bad.stderr
    meta = ravelin_keys("create", "--owner", "bob", "--metadata", "[1]", *where)
    assert meta.returncode == 1 and "metadata" in meta.stderr
    bare = ravelin_keys()
    assert bare.returncode == 2 and "rotate" in bare.stderr


def test_pepper_comes_from_the_environment(tmp_path: Path) -> None:
    db = str(tmp_path / "keys.db")
    env = {"RAVELIN_KEY_PEPPER": "pepper-from-env"}
    done = ravelin_keys("create", "--owner", "cy", "--db", db, env=env)
    key = done.stdout.splitlines()[0]
    with SQLiteKeyStore(db, pepper="pepper-from-env") as store:
        assert store.authenticate(key).owner == "cy"
    with SQLiteKeyStore(db) as store:
        with pytest.raises(ravelin.UnknownKeyError):
            store.authenticate(key)


def test_an_unreachable_store_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    down = ravelin_keys("list", "--redis", f"redis://127.0.0.1:{free_port()}/0")
    assert down.returncode == 1
    assert "key store failed" in down.stderr and "Traceback" not in down.stderr
    (tmp_path / "not-a-db").write_bytes(b"this is not a SQLite file" * 100)
    broken = ravelin_keys("list", "--db", str(tmp_path / "not-a-db"))
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
