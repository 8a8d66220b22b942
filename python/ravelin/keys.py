"""API key stores: digests at rest, scopes, expiry, revocation and rotation.

Only the digest of a key is stored (``hash_key``: SHA-256, or HMAC-SHA256 with a server-side
``pepper``); ``create`` and ``rotate`` return the raw key once and nothing ever returns it again.

* ``SQLiteKeyStore(path)`` is the embedded default: stdlib ``sqlite3`` in WAL mode, one
  connection per thread, writes in ``BEGIN IMMEDIATE`` transactions, safe under threads and
  several processes sharing the file.
* ``RedisKeyStore(url)`` (and ``AsyncRedisKeyStore`` for asyncio code) keeps keys in Redis for
  many app instances; every call has a socket timeout and every write is one Lua script, so it
  is atomic and one round trip.

``authenticate(raw_key)`` checks the key's format and checksum before any lookup, then does
one indexed read by digest. Positive lookups are cached in memory for ``cache_ttl`` seconds
(default 5): a revocation made through the same store object takes effect at once, one made
elsewhere (another process, the CLI) within ``cache_ttl``. Expiry and rotation grace periods
are checked on every call, cached or not. ``last_used_at`` is written in batches at most every
``touch_interval`` seconds (and on ``flush``/``close``), so authentication never waits on a
write; it is a coarse activity marker, not an audit log.

From asyncio code (a FastAPI dependency) use ``AsyncRedisKeyStore``, or run a sync store in a
worker thread: ``record = await anyio.to_thread.run_sync(store.authenticate, raw_key)``
(``asyncio.to_thread`` works too). A cached ``authenticate`` is a few microseconds and may be
called directly on the event loop; a miss does blocking I/O.
"""

from __future__ import annotations

import builtins
import json
import logging
import math
import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Optional, Union

from ravelin._core import check_key_format, generate_key, hash_key, mask_key
from ravelin._core import key_id as _key_id_of
from ravelin.errors import (
    ExpiredKeyError,
    MalformedKeyError,
    PermissionDeniedError,
    RevokedKeyError,
    ServiceUnavailableError,
    UnknownKeyError,
)

__all__ = [
    "AsyncRedisKeyStore",
    "CreatedKey",
    "KeyRecord",
    "KeyStore",
    "RedisKeyStore",
    "SQLiteKeyStore",
    "parse_duration",
]

log = logging.getLogger("ravelin.keys")

Duration = Union[int, float, timedelta, str]

#: A scope: letters, digits and ``_ . : - /``, or ``*`` which grants every scope.
_SCOPE = re.compile(r"\*|[A-Za-z0-9_.:/-]{1,64}")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_TEXT = 256
_MAX_METADATA_BYTES = 16 * 1024
_MAX_SCOPES = 64
#: The longest accepted duration (100 years): longer is a typo, and keys should expire.
_MAX_DURATION = 100 * 365 * 86400.0


def parse_duration(value: Duration, name: str = "duration") -> float:
    """Seconds in ``value``: a number of seconds, a ``timedelta``, or ``"90d"``-style text
    (units ``s m h d w``). Raises ``ValueError`` naming ``name`` unless positive and finite."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            raise ValueError(f"{name}: expected seconds or a duration like 90d, 12h, 30m")
        seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
    else:
        raise TypeError(f"{name}: expected a number, a timedelta or a str like 90d")
    if not (0 < seconds <= _MAX_DURATION) or math.isnan(seconds):
        raise ValueError(f"{name}: must be positive and at most 100 years")
    return seconds


def _check_text(value: object, name: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected str, got {type(value).__name__}")
    if (not value and not allow_empty) or len(value) > _MAX_TEXT:
        raise ValueError(f"{name}: must be 1 to {_MAX_TEXT} characters")
    if not value.isprintable():
        raise ValueError(f"{name}: must not contain control characters")
    return value


def _check_scopes(scopes: Union[str, Sequence[str]]) -> tuple[str, ...]:
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    if not all(isinstance(s, str) for s in items):
        raise TypeError("scopes: every scope must be a str")
    cleaned = tuple(dict.fromkeys(s.strip() for s in items if s.strip()))
    if len(cleaned) > _MAX_SCOPES:
        raise ValueError(f"scopes: at most {_MAX_SCOPES}")
    for scope in cleaned:
        if not _SCOPE.fullmatch(scope):
            raise ValueError("scopes: each is '*' or 1-64 of letters, digits and _ . : - /")
    return cleaned


def _check_metadata(metadata: Optional[Mapping[str, Any]]) -> str:
    if metadata is None:
        return "{}"
    if not isinstance(metadata, Mapping):
        raise TypeError("metadata: expected a mapping")
    try:
        text = json.dumps(dict(metadata), sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError("metadata: must be JSON-serialisable") from exc
    if len(text) > _MAX_METADATA_BYTES:
        raise ValueError(f"metadata: at most {_MAX_METADATA_BYTES} bytes as JSON")
    return text


@dataclass(frozen=True)
class KeyRecord:
    """What a store keeps about a key (never the key). Times are Unix seconds."""

    key_id: str
    owner: str
    name: str
    scopes: tuple[str, ...]
    created_at: float
    expires_at: Optional[float] = None
    revoked_at: Optional[float] = None
    last_used_at: Optional[float] = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: The id of the key that replaced this one by ``rotate``.
    replaced_by: Optional[str] = None

    def status(self, now: Optional[float] = None) -> str:
        """``"active"``, ``"revoked"`` or ``"expired"`` at ``now`` (default: the current time).
        A rotated key stays active until its grace period ends."""
        now = time.time() if now is None else now
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "owner": self.owner,
            "name": self.name,
            "scopes": list(self.scopes),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
            "metadata": dict(self.metadata),
            "replaced_by": self.replaced_by,
        }


@dataclass(frozen=True)
class CreatedKey:
    """A new key and its record. ``key`` is the only copy of the raw key: hand it to its owner
    and drop it. ``repr`` and ``str`` show only the masked key."""

    key: str = field(repr=False)
    record: KeyRecord

    def __repr__(self) -> str:
        return f"CreatedKey(key={mask_key(self.key)!r}, record={self.record!r})"

    __str__ = __repr__


class _KeyPolicy:
    """Everything a store does that is not I/O: validation, digests, the positive-lookup cache,
    expiry and revocation rules, batching of ``last_used_at``. Shared by sync and async stores."""

    def __init__(
        self,
        *,
        pepper: Union[str, bytes, None] = None,
        prefix: str = "rk_live",
        cache_ttl: float = 5.0,
        cache_size: int = 100_000,
        touch_interval: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        generate_key(prefix)  # validates the prefix with a clear ValueError
        if pepper is not None:
            hash_key("rk_live_pepper_check", pepper)  # validates the pepper
        if not (0 <= cache_ttl <= 3600):
            raise ValueError("cache_ttl: must be within [0, 3600] seconds")
        if not (isinstance(cache_size, int) and cache_size >= 0):
            raise ValueError("cache_size: must be a non-negative int")
        if not (0 <= touch_interval <= 86400):
            raise ValueError("touch_interval: must be within [0, 86400] seconds")
        self.prefix = prefix
        self._pepper = pepper
        self._cache_ttl = cache_ttl
        self._cache_size = cache_size
        self._touch_interval = touch_interval
        self._clock = clock
        self._cache: dict[str, tuple[KeyRecord, float]] = {}
        self._cache_lock = threading.Lock()
        self._pending: dict[str, float] = {}
        self._last_flush = clock()

    def __repr__(self) -> str:
        # Never show the pepper.
        return f"{type(self).__name__}(prefix={self.prefix!r})"

    def _digest(self, raw_key: object) -> str:
        """The digest of a well-formed key of this store's prefix; ``MalformedKeyError``
        otherwise, before any lookup."""
        if not isinstance(raw_key, str) or not check_key_format(raw_key, self.prefix):
            raise MalformedKeyError("malformed key")
        return hash_key(raw_key, self._pepper)

    def _cached(self, digest: str, now: float) -> Optional[KeyRecord]:
        hit = self._cache.get(digest)
        if hit is not None and 0 <= now - hit[1] < self._cache_ttl:
            return hit[0]
        return None

    def _remember(self, digest: str, record: KeyRecord, now: float) -> None:
        if self._cache_size == 0 or self._cache_ttl == 0:
            return
        with self._cache_lock:
            if len(self._cache) >= self._cache_size:
                # Oldest insertion first: entries live seconds, so FIFO is close to LRU.
                self._cache.pop(next(iter(self._cache)))
            self._cache[digest] = (record, now)

    def _forget(self, key_id: str) -> None:
        with self._cache_lock:
            for digest in [d for d, (r, _) in self._cache.items() if r.key_id == key_id]:
                del self._cache[digest]

    @staticmethod
    def _check_active(record: KeyRecord, now: float) -> KeyRecord:
        status = record.status(now)
        if status == "revoked":
            raise RevokedKeyError(f"key {record.key_id} is revoked")
        if status == "expired":
            raise ExpiredKeyError(f"key {record.key_id} has expired")
        return record

    def _note_use(self, digest: str, now: float) -> bool:
        """Queues a ``last_used_at`` write; True when a batch is due."""
        self._pending[digest] = now
        return now - self._last_flush >= self._touch_interval

    def _take_pending(self) -> dict[str, float]:
        with self._cache_lock:
            pending, self._pending = self._pending, {}
            self._last_flush = self._clock()
        return pending

    def _requeue(self, pending: Mapping[str, float], exc: BaseException) -> None:
        log.warning("ravelin.keys: could not record last use of %d keys: %s", len(pending), exc)
        with self._cache_lock:
            for digest, at in pending.items():
                self._pending.setdefault(digest, at)

    def _new_key(
        self,
        owner: str,
        scopes: Union[str, Sequence[str]],
        expires_in: Optional[Duration],
        name: str,
        metadata: Optional[Mapping[str, Any]],
    ) -> tuple[str, str, KeyRecord, str]:
        """A fresh raw key, its digest, its record and the metadata as JSON."""
        owner = _check_text(owner, "owner")
        name = _check_text(name, "name", allow_empty=True)
        clean_scopes = _check_scopes(scopes)
        metadata_json = _check_metadata(metadata)
        lifetime = None if expires_in is None else parse_duration(expires_in, "expires_in")
        raw = generate_key(self.prefix)
        digest = hash_key(raw, self._pepper)
        now = self._clock()
        record = KeyRecord(
            key_id=_key_id_of(digest),
            owner=owner,
            name=name,
            scopes=clean_scopes,
            created_at=now,
            expires_at=None if lifetime is None else now + lifetime,
            metadata=json.loads(metadata_json),
        )
        return raw, digest, record, metadata_json

    def _successor(self, old: KeyRecord) -> tuple[str, str, KeyRecord, str]:
        """A new key with ``old``'s owner, name, scopes, metadata and lifetime."""
        lifetime = None if old.expires_at is None else max(1.0, old.expires_at - old.created_at)
        return self._new_key(old.owner, old.scopes, lifetime, old.name, old.metadata)

    def _check_rotatable(self, old: Optional[KeyRecord], key_id: str, now: float) -> KeyRecord:
        if old is None:
            raise KeyError(f"no key with id {key_id}")
        if old.replaced_by is not None:
            raise ValueError(f"key {key_id} was already rotated (to {old.replaced_by})")
        if old.status(now) != "active":
            raise ValueError(f"key {key_id} is {old.status(now)} and cannot be rotated")
        return old

    @staticmethod
    def authorize(record: KeyRecord, scope: str) -> None:
        """Raises ``PermissionDeniedError`` unless ``record`` has ``scope`` (or ``*``)."""
        if scope not in record.scopes and "*" not in record.scopes:
            raise PermissionDeniedError(f"key {record.key_id} lacks scope {scope!r}")


class KeyStore(_KeyPolicy, ABC):
    """The store interface. Subclasses supply a handful of storage primitives; the rules
    (formats, caching, expiry, rotation, batching) live here, once."""

    #: Backend errors that mean "the store is unreachable": ``authenticate`` turns them into
    #: ``ServiceUnavailableError`` (503) so a guard fails closed instead of crashing.
    _unavailable: tuple[type[BaseException], ...] = ()

    def create(
        self,
        owner: str,
        scopes: Union[str, Sequence[str]],
        *,
        expires_in: Optional[Duration] = None,
        name: str = "",
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> CreatedKey:
        """Issues a key. The returned ``CreatedKey.key`` is the only time the raw key exists."""
        while True:
            raw, digest, record, metadata_json = self._new_key(
                owner, scopes, expires_in, name, metadata
            )
            # A collision of 196 random bits (or of 64-bit ids) is not going to happen; if it
            # did, a new key is drawn rather than failing or overwriting.
            if self._insert(digest, record, metadata_json):
                log.info("ravelin.keys: created %s for owner %r", record.key_id, record.owner)
                return CreatedKey(raw, record)

    def authenticate(self, raw_key: str) -> KeyRecord:
        """The record of an active key, or ``MalformedKeyError``, ``UnknownKeyError``,
        ``RevokedKeyError``, ``ExpiredKeyError``; ``ServiceUnavailableError`` if the store is
        unreachable. The record's ``last_used_at`` may lag by ``touch_interval``."""
        digest = self._digest(raw_key)
        now = self._clock()
        record = self._cached(digest, now)
        if record is None:
            try:
                record = self._fetch(digest)
            except self._unavailable as exc:
                raise ServiceUnavailableError("key store unavailable") from exc
            if record is None:
                raise UnknownKeyError("unknown key")
            self._remember(digest, record, now)
        self._check_active(record, now)
        if self._note_use(digest, now):
            self.flush()
        return record

    def get(self, key_id: str) -> Optional[KeyRecord]:
        """The record with this id, or None."""
        return self._fetch_id(key_id)

    def revoke(self, key_id: str) -> KeyRecord:
        """Revokes a key now (earlier if a rotation already scheduled it). ``KeyError`` if
        there is no such key."""
        record = self._revoke(key_id, self._clock())
        if record is None:
            raise KeyError(f"no key with id {key_id}")
        self._forget(key_id)
        log.info("ravelin.keys: revoked %s", key_id)
        return record

    def rotate(self, key_id: str, *, grace: Duration = 3600) -> CreatedKey:
        """Issues a successor of an active key (same owner, name, scopes, metadata, lifetime);
        the old key keeps working for ``grace`` more seconds, then counts as revoked.
        ``KeyError`` if unknown; ``ValueError`` if revoked, expired or already rotated."""
        grace_seconds = parse_duration(grace, "grace")
        while True:
            old = self._check_rotatable(self._fetch_id(key_id), key_id, self._clock())
            raw, digest, record, metadata_json = self._successor(old)
            now = record.created_at
            if self._rotate(old, digest, record, metadata_json, now + grace_seconds, now):
                self._forget(key_id)
                log.info("ravelin.keys: rotated %s to %s", key_id, record.key_id)
                return CreatedKey(raw, record)

    def list(self, owner: Optional[str] = None) -> builtins.list[KeyRecord]:
        """Every key of ``owner`` (every key if None), oldest first."""
        return sorted(self._list(owner), key=lambda r: (r.created_at, r.key_id))

    def flush(self) -> None:
        """Writes the queued ``last_used_at`` times now (best effort: a failure is logged and
        the times are retried with the next batch)."""
        pending = self._take_pending()
        if not pending:
            return
        try:
            self._touch(pending)
        except Exception as exc:  # bookkeeping must never fail a request
            self._requeue(pending, exc)

    def close(self) -> None:
        self.flush()
        self._close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Storage primitives.
    @abstractmethod
    def _insert(self, digest: str, record: KeyRecord, metadata_json: str) -> bool:
        """Stores a new key; False (and nothing stored) if its digest or id exists."""

    @abstractmethod
    def _fetch(self, digest: str) -> Optional[KeyRecord]:
        """One indexed read by digest."""

    @abstractmethod
    def _fetch_id(self, key_id: str) -> Optional[KeyRecord]: ...

    @abstractmethod
    def _revoke(self, key_id: str, now: float) -> Optional[KeyRecord]:
        """Sets ``revoked_at`` to ``now`` unless already earlier; the record after, or None."""

    @abstractmethod
    def _rotate(
        self,
        old: KeyRecord,
        digest: str,
        record: KeyRecord,
        metadata_json: str,
        old_revoked_at: float,
        now: float,
    ) -> bool:
        """Atomically: re-check ``old`` is active and not rotated (else ``ValueError``), store
        the successor (False if its digest or id exists) and schedule ``old``'s revocation."""

    @abstractmethod
    def _list(self, owner: Optional[str]) -> builtins.list[KeyRecord]: ...

    @abstractmethod
    def _touch(self, last_used: Mapping[str, float]) -> None:
        """Sets ``last_used_at`` for each digest (digest -> time)."""

    @abstractmethod
    def _close(self) -> None: ...


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

    def __init__(self, path: str, *, timeout: float = 10.0, **options: Any) -> None:
        super().__init__(**options)
        self.path = str(path)
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
            conn.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode up to the last sync
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


class _RedisLayout:
    """Key names, Lua scripts and record encoding shared by the sync and async Redis stores.

    ``{ns}:key:{digest}`` is a hash with the record; ``{ns}:id:{key_id}`` holds the digest;
    ``{ns}:owner:{owner}`` and ``{ns}:all`` are sets of key ids for ``list``.
    """

    # KEYS: record, id, owner set, all set. ARGV: digest, key id, field, value, ...
    INSERT = """
    if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then
        return 0
    end
    redis.call('HSET', KEYS[1], unpack(ARGV, 3))
    redis.call('SET', KEYS[2], ARGV[1])
    redis.call('SADD', KEYS[3], ARGV[2])
    redis.call('SADD', KEYS[4], ARGV[2])
    return 1
    """
    # KEYS: record. ARGV: now. Returns the record after, or nil.
    REVOKE = """
    if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
    local current = tonumber(redis.call('HGET', KEYS[1], 'revoked_at'))
    if current == nil or current > tonumber(ARGV[1]) then
        redis.call('HSET', KEYS[1], 'revoked_at', ARGV[1])
    end
    return redis.call('HGETALL', KEYS[1])
    """
    # KEYS: old record, new record, new id, owner set, all set.
    # ARGV: now, old revoked_at, new digest, new key id, field, value, ...
    ROTATE = """
    local revoked = tonumber(redis.call('HGET', KEYS[1], 'revoked_at'))
    local expires = tonumber(redis.call('HGET', KEYS[1], 'expires_at'))
    local now = tonumber(ARGV[1])
    local replaced = redis.call('HGET', KEYS[1], 'replaced_by')
    if redis.call('EXISTS', KEYS[1]) == 0 or (replaced and replaced ~= '')
        or (revoked ~= nil and revoked <= now) or (expires ~= nil and expires <= now) then
        return -1
    end
    if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then
        return 0
    end
    redis.call('HSET', KEYS[2], unpack(ARGV, 5))
    redis.call('SET', KEYS[3], ARGV[3])
    redis.call('SADD', KEYS[4], ARGV[4])
    redis.call('SADD', KEYS[5], ARGV[4])
    redis.call('HSET', KEYS[1], 'revoked_at', ARGV[2], 'replaced_by', ARGV[4])
    return 1
    """

    def __init__(self, namespace: str) -> None:
        self.ns = _check_text(namespace, "namespace")

    def record_key(self, digest: str) -> str:
        return f"{self.ns}:key:{digest}"

    def id_key(self, key_id: str) -> str:
        return f"{self.ns}:id:{key_id}"

    def owner_key(self, owner: str) -> str:
        return f"{self.ns}:owner:{owner}"

    @property
    def all_key(self) -> str:
        return f"{self.ns}:all"

    def insert_keys(self, digest: str, record: KeyRecord) -> list[str]:
        return [
            self.record_key(digest),
            self.id_key(record.key_id),
            self.owner_key(record.owner),
            self.all_key,
        ]

    @staticmethod
    def fields(digest: str, record: KeyRecord, metadata_json: str) -> list[str]:
        """The record as HSET arguments; None is the empty string."""

        def num(value: Optional[float]) -> str:
            return "" if value is None else repr(value)

        return [
            "digest", digest,
            "key_id", record.key_id,
            "owner", record.owner,
            "name", record.name,
            "scopes", " ".join(record.scopes),
            "created_at", num(record.created_at),
            "expires_at", num(record.expires_at),
            "revoked_at", num(record.revoked_at),
            "last_used_at", num(record.last_used_at),
            "metadata", metadata_json,
            "replaced_by", record.replaced_by or "",
        ]  # fmt: skip

    @staticmethod
    def record(data: Any) -> Optional[KeyRecord]:
        """A record from HGETALL (a mapping, or the flat list a script returns)."""
        if not data:
            return None
        if not isinstance(data, Mapping):
            data = dict(zip(data[::2], data[1::2]))

        def num(name: str) -> Optional[float]:
            value = data.get(name, "")
            return float(value) if value else None

        return KeyRecord(
            key_id=data["key_id"],
            owner=data["owner"],
            name=data["name"],
            scopes=tuple(data["scopes"].split()),
            created_at=float(data["created_at"]),
            expires_at=num("expires_at"),
            revoked_at=num("revoked_at"),
            last_used_at=num("last_used_at"),
            metadata=json.loads(data["metadata"]),
            replaced_by=data.get("replaced_by") or None,
        )

    def rotate_args(
        self,
        old_digest: str,
        digest: str,
        record: KeyRecord,
        metadata_json: str,
        old_revoked_at: float,
        now: float,
    ) -> tuple[list[str], list[str]]:
        keys = [self.record_key(old_digest), *self.insert_keys(digest, record)]
        args = [repr(now), repr(old_revoked_at), digest, record.key_id]
        return keys, args + self.fields(digest, record, metadata_json)


def _redis_options(
    socket_timeout: float, connect_timeout: Optional[float], options: Mapping[str, Any]
) -> dict[str, Any]:
    if not (0 < socket_timeout <= 60):
        raise ValueError("socket_timeout: must be within (0, 60] seconds")
    return {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout if connect_timeout is None else connect_timeout,
        "decode_responses": True,
        **options,
    }


class RedisKeyStore(KeyStore):
    """Keys in Redis, shared by every app instance. Every call times out after
    ``socket_timeout`` seconds; each write is one atomic Lua script. ``redis_options`` go to
    ``redis.Redis.from_url``."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "ravelin:keys",
        socket_timeout: float = 1.0,
        connect_timeout: Optional[float] = None,
        redis_options: Optional[Mapping[str, Any]] = None,
        **options: Any,
    ) -> None:
        import redis

        super().__init__(**options)
        self._layout = _RedisLayout(namespace)
        self._client = redis.Redis.from_url(
            url, **_redis_options(socket_timeout, connect_timeout, redis_options or {})
        )
        self._insert_script = self._client.register_script(_RedisLayout.INSERT)
        self._revoke_script = self._client.register_script(_RedisLayout.REVOKE)
        self._rotate_script = self._client.register_script(_RedisLayout.ROTATE)
        self._unavailable = (redis.RedisError,)

    def _insert(self, digest: str, record: KeyRecord, metadata_json: str) -> bool:
        keys = self._layout.insert_keys(digest, record)
        args = [digest, record.key_id, *self._layout.fields(digest, record, metadata_json)]
        return bool(self._insert_script(keys=keys, args=args))

    def _fetch(self, digest: str) -> Optional[KeyRecord]:
        return self._layout.record(self._client.hgetall(self._layout.record_key(digest)))

    def _digest_of(self, key_id: str) -> Optional[str]:
        digest = self._client.get(self._layout.id_key(key_id))
        return None if digest is None else str(digest)

    def _fetch_id(self, key_id: str) -> Optional[KeyRecord]:
        digest = self._digest_of(key_id)
        return None if digest is None else self._fetch(digest)

    def _revoke(self, key_id: str, now: float) -> Optional[KeyRecord]:
        digest = self._digest_of(key_id)
        if digest is None:
            return None
        result = self._revoke_script(keys=[self._layout.record_key(digest)], args=[repr(now)])
        return self._layout.record(result)

    def _rotate(
        self,
        old: KeyRecord,
        digest: str,
        record: KeyRecord,
        metadata_json: str,
        old_revoked_at: float,
        now: float,
    ) -> bool:
        old_digest = self._digest_of(old.key_id)
        if old_digest is None:
            raise KeyError(f"no key with id {old.key_id}")
        keys, args = self._layout.rotate_args(
            old_digest, digest, record, metadata_json, old_revoked_at, now
        )
        outcome = int(self._rotate_script(keys=keys, args=args))
        if outcome < 0:
            raise ValueError(f"key {old.key_id} was revoked or rotated meanwhile")
        return outcome == 1

    def _list(self, owner: Optional[str]) -> list[KeyRecord]:
        ids = self._client.smembers(
            self._layout.all_key if owner is None else self._layout.owner_key(owner)
        )
        pipe = self._client.pipeline(transaction=False)
        for kid in ids:
            pipe.get(self._layout.id_key(str(kid)))
        digests = [d for d in pipe.execute() if d]
        for digest in digests:
            pipe.hgetall(self._layout.record_key(digest))
        return [r for r in map(self._layout.record, pipe.execute()) if r is not None]

    def _touch(self, last_used: Mapping[str, float]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for digest, at in last_used.items():
            pipe.hset(self._layout.record_key(digest), "last_used_at", repr(at))
        pipe.execute()

    def _close(self) -> None:
        self._client.close()


class AsyncRedisKeyStore(_KeyPolicy):
    """``RedisKeyStore`` for asyncio code (``redis.asyncio``): the same data, rules and
    options, with ``async`` methods. Close it with ``await store.aclose()``."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "ravelin:keys",
        socket_timeout: float = 1.0,
        connect_timeout: Optional[float] = None,
        redis_options: Optional[Mapping[str, Any]] = None,
        **options: Any,
    ) -> None:
        import redis
        import redis.asyncio

        super().__init__(**options)
        self._layout = _RedisLayout(namespace)
        self._client = redis.asyncio.Redis.from_url(
            url, **_redis_options(socket_timeout, connect_timeout, redis_options or {})
        )
        self._insert_script = self._client.register_script(_RedisLayout.INSERT)
        self._revoke_script = self._client.register_script(_RedisLayout.REVOKE)
        self._rotate_script = self._client.register_script(_RedisLayout.ROTATE)
        self._unavailable = (redis.RedisError,)

    async def create(
        self,
        owner: str,
        scopes: Union[str, Sequence[str]],
        *,
        expires_in: Optional[Duration] = None,
        name: str = "",
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> CreatedKey:
        """As ``KeyStore.create``."""
        while True:
            raw, digest, record, metadata_json = self._new_key(
                owner, scopes, expires_in, name, metadata
            )
            keys = self._layout.insert_keys(digest, record)
            args = [digest, record.key_id, *self._layout.fields(digest, record, metadata_json)]
            if await self._insert_script(keys=keys, args=args):
                log.info("ravelin.keys: created %s for owner %r", record.key_id, record.owner)
                return CreatedKey(raw, record)

    async def _fetch(self, digest: str) -> Optional[KeyRecord]:
        return self._layout.record(await self._client.hgetall(self._layout.record_key(digest)))

    async def authenticate(self, raw_key: str) -> KeyRecord:
        """As ``KeyStore.authenticate``."""
        digest = self._digest(raw_key)
        now = self._clock()
        record = self._cached(digest, now)
        if record is None:
            try:
                record = await self._fetch(digest)
            except self._unavailable as exc:
                raise ServiceUnavailableError("key store unavailable") from exc
            if record is None:
                raise UnknownKeyError("unknown key")
            self._remember(digest, record, now)
        self._check_active(record, now)
        if self._note_use(digest, now):
            await self.flush()
        return record

    async def _digest_of(self, key_id: str) -> Optional[str]:
        digest = await self._client.get(self._layout.id_key(key_id))
        return None if digest is None else str(digest)

    async def get(self, key_id: str) -> Optional[KeyRecord]:
        digest = await self._digest_of(key_id)
        return None if digest is None else await self._fetch(digest)

    async def revoke(self, key_id: str) -> KeyRecord:
        """As ``KeyStore.revoke``."""
        digest = await self._digest_of(key_id)
        record = None
        if digest is not None:
            now = repr(self._clock())
            result = await self._revoke_script(keys=[self._layout.record_key(digest)], args=[now])
            record = self._layout.record(result)
        if record is None:
            raise KeyError(f"no key with id {key_id}")
        self._forget(key_id)
        log.info("ravelin.keys: revoked %s", key_id)
        return record

    async def rotate(self, key_id: str, *, grace: Duration = 3600) -> CreatedKey:
        """As ``KeyStore.rotate``."""
        grace_seconds = parse_duration(grace, "grace")
        while True:
            old_digest = await self._digest_of(key_id)
            old_record = None if old_digest is None else await self._fetch(old_digest)
            old = self._check_rotatable(old_record, key_id, self._clock())
            raw, digest, record, metadata_json = self._successor(old)
            now = record.created_at
            keys, args = self._layout.rotate_args(
                str(old_digest), digest, record, metadata_json, now + grace_seconds, now
            )
            outcome = int(await self._rotate_script(keys=keys, args=args))
            if outcome < 0:
                raise ValueError(f"key {key_id} was revoked or rotated meanwhile")
            if outcome == 1:
                self._forget(key_id)
                log.info("ravelin.keys: rotated %s to %s", key_id, record.key_id)
                return CreatedKey(raw, record)

    async def list(self, owner: Optional[str] = None) -> builtins.list[KeyRecord]:
        """As ``KeyStore.list``."""
        ids = await self._client.smembers(
            self._layout.all_key if owner is None else self._layout.owner_key(owner)
        )
        records = []
        for kid in ids:
            record = await self.get(str(kid))
            if record is not None:
                records.append(record)
        return sorted(records, key=lambda r: (r.created_at, r.key_id))

    async def flush(self) -> None:
        """As ``KeyStore.flush``."""
        pending = self._take_pending()
        if not pending:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for digest, at in pending.items():
                pipe.hset(self._layout.record_key(digest), "last_used_at", repr(at))
            await pipe.execute()
        except Exception as exc:  # bookkeeping must never fail a request
            self._requeue(pending, exc)

    async def aclose(self) -> None:
        await self.flush()
        await self._client.aclose()
