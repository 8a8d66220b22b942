"""``SQLiteKeyStore``: keys in a SQLite file, the embedded default."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Optional, Union

from ravelin.keys.records import KeyRecord
from ravelin.keys.store import KeyStore

_COLUMNS = (
    "key_id, owner, name, scopes, created_at, expires_at, revoked_at, last_used_at, metadata,"
    " replaced_by"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS ravelin_keys (
    key_id       TEXT PRIMARY KEY,
    digest       TEXT NOT NULL UNIQUE,
    owner        TEXT NOT NULL,
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   REAL NOT NULL,
    expires_at   REAL,
    revoked_at   REAL,
    last_used_at REAL,
    metadata     TEXT NOT NULL,
    replaced_by  TEXT
);
CREATE INDEX IF NOT EXISTS ravelin_keys_owner ON ravelin_keys (owner, created_at);
"""


def _row_record(row: Sequence[Any]) -> KeyRecord:
    return KeyRecord(
        key_id=row[0],
        owner=row[1],
        name=row[2],
        scopes=tuple(row[3].split()),
        created_at=row[4],
        expires_at=row[5],
        revoked_at=row[6],
        last_used_at=row[7],
        metadata={} if row[8] == "{}" else json.loads(row[8]),
        replaced_by=row[9],
    )


class SQLiteKeyStore(KeyStore):
    """Keys in a SQLite file (created if missing), the embedded default.

    WAL mode lets readers run beside one writer; each thread gets its own connection; writes
    are ``BEGIN IMMEDIATE`` transactions that wait up to ``timeout`` seconds for the lock, so
    several processes may share the file. Scopes are stored space-separated, metadata as JSON.
    """

    _unavailable = (sqlite3.OperationalError,)

    def __init__(
        self, path: Union[str, os.PathLike[str]], *, timeout: float = 10.0, **options: Any
    ) -> None:
        super().__init__(**options)
        path = os.fspath(path)
        if path == ":memory:" or path.startswith("file:"):
            # Each thread has its own connection, and an in-memory database is private to one.
            raise ValueError("path: must be a file path (for tests, one in a temporary directory)")
        self.path = path
        self._timeout = timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        with self._transaction() as conn:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)

    def _conn(self) -> sqlite3.Connection:
        conn: Optional[sqlite3.Connection] = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: no implicit transactions; we issue BEGIN IMMEDIATE ourselves.
            # Each connection is used by its own thread only; check_same_thread=False just lets
            # close() run from whichever thread closes the store.
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            # In WAL mode NORMAL never corrupts; a power cut may lose the last few commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _insert_row(
        self, conn: sqlite3.Connection, digest: str, record: KeyRecord, metadata_json: str
    ) -> bool:
        cursor = conn.execute(
            f"INSERT OR IGNORE INTO ravelin_keys (digest, {_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                digest,
                record.key_id,
                record.owner,
                record.name,
                " ".join(record.scopes),
                record.created_at,
                record.expires_at,
                record.revoked_at,
                record.last_used_at,
                metadata_json,
                record.replaced_by,
            ),
        )
        return cursor.rowcount == 1

    def _insert(self, digest: str, record: KeyRecord, metadata_json: str) -> bool:
        with self._transaction() as conn:
            return self._insert_row(conn, digest, record, metadata_json)

    def _select_one(self, conn: sqlite3.Connection, where: str, value: str) -> Optional[KeyRecord]:
        row = conn.execute(f"SELECT {_COLUMNS} FROM ravelin_keys WHERE {where} = ?", (value,))
        found = row.fetchone()
        return None if found is None else _row_record(found)

    def _fetch(self, digest: str) -> Optional[KeyRecord]:
        return self._select_one(self._conn(), "digest", digest)

    def _fetch_id(self, key_id: str) -> Optional[KeyRecord]:
        return self._select_one(self._conn(), "key_id", key_id)

    def _revoke(self, key_id: str, now: float) -> Optional[KeyRecord]:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE ravelin_keys SET revoked_at = min(coalesce(revoked_at, ?), ?)"
                " WHERE key_id = ?",
                (now, now, key_id),
            )
            return self._select_one(conn, "key_id", key_id)

    def _rotate(
        self,
        old: KeyRecord,
        digest: str,
        record: KeyRecord,
        metadata_json: str,
        old_revoked_at: float,
        now: float,
    ) -> bool:
        with self._transaction() as conn:
            current = self._select_one(conn, "key_id", old.key_id)
            self._check_rotatable(current, old.key_id, now)
            if not self._insert_row(conn, digest, record, metadata_json):
                return False
            conn.execute(
                "UPDATE ravelin_keys SET revoked_at = ?, replaced_by = ? WHERE key_id = ?",
                (old_revoked_at, record.key_id, old.key_id),
            )
            return True

    def _list(self, owner: Optional[str]) -> list[KeyRecord]:
        if owner is None:
            rows = self._conn().execute(f"SELECT {_COLUMNS} FROM ravelin_keys")
        else:
            rows = self._conn().execute(
                f"SELECT {_COLUMNS} FROM ravelin_keys WHERE owner = ?", (owner,)
            )
        return [_row_record(row) for row in rows]

    def _touch(self, last_used: Mapping[str, float]) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE ravelin_keys SET last_used_at = max(coalesce(last_used_at, 0), ?)"
                " WHERE digest = ?",
                [(at, digest) for digest, at in last_used.items()],
            )

    def _close(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
