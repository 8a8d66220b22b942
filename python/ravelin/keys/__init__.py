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
are checked on every call, cached or not. ``last_used_at`` is queued in memory and written in one
batch at most every ``touch_interval`` seconds (default 30; and on ``flush``/``close``): one
call per interval pays for one batched write, the others for none. It is a coarse activity
marker, not an audit log.

From asyncio code (a FastAPI dependency) use ``AsyncRedisKeyStore``, or run a sync store in a
worker thread: ``record = await anyio.to_thread.run_sync(store.authenticate, raw_key)``
(``asyncio.to_thread`` works too). A cached ``authenticate`` is a few microseconds and may be
called directly on the event loop; a miss does blocking I/O. ``store.authenticate_cached(raw)``
is that hit without any I/O (None on a miss or when a ``last_used_at`` batch is due), so only
misses need the thread:
``record = store.authenticate_cached(raw) or await asyncio.to_thread(store.authenticate, raw)``.
"""

from __future__ import annotations

from ravelin.keys.records import CreatedKey, KeyRecord, parse_duration
from ravelin.keys.redis_store import AsyncRedisKeyStore, RedisKeyStore
from ravelin.keys.sqlite_store import SQLiteKeyStore
from ravelin.keys.store import KeyStore

__all__ = [
    "AsyncRedisKeyStore",
    "CreatedKey",
    "KeyRecord",
    "KeyStore",
    "RedisKeyStore",
    "SQLiteKeyStore",
    "parse_duration",
]
