"""``RedisKeyStore`` and ``AsyncRedisKeyStore``: keys in Redis, shared by every instance."""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

from ravelin._redis import retry_broken_connection
from ravelin.errors import ServiceUnavailableError, UnknownKeyError
from ravelin.keys.records import (
    CreatedKey,
    Duration,
    KeyRecord,
    _check_str,
    _check_text,
    oldest_first,
    parse_duration,
)
from ravelin.keys.store import KeyStore, _KeyPolicy, log


class _RedisLayout:
    """Key names, Lua scripts and record encoding shared by the sync and async Redis stores.

    ``{ns}:key:{digest}`` is a hash with the record; ``{ns}:id:{key_id}`` holds the digest;
    ``{ns}:owner:{owner}`` and ``{ns}:all`` are sets of key ids for ``list``. The namespace is
    a hash tag (``{ns}`` in braces), so on Redis Cluster every key of a store sits in one slot
    and the multi-key scripts stay valid.
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
        if "{" in self.ns or "}" in self.ns:
            raise ValueError("namespace: must not contain braces (it becomes a hash tag)")

    def record_key(self, digest: str) -> str:
        return f"{{{self.ns}}}:key:{digest}"

    def id_key(self, key_id: str) -> str:
        return f"{{{self.ns}}}:id:{key_id}"

    def owner_key(self, owner: str) -> str:
        return f"{{{self.ns}}}:owner:{owner}"

    @property
    def all_key(self) -> str:
        return f"{{{self.ns}}}:all"

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
    socket_timeout: float,
    connect_timeout: Optional[float],
    options: Mapping[str, Any],
    asyncio: bool,
) -> dict[str, Any]:
    if not (0 < socket_timeout <= 60):
        raise ValueError("socket_timeout: must be within (0, 60] seconds")
    return {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout if connect_timeout is None else connect_timeout,
        "decode_responses": True,
        "retry": retry_broken_connection(asyncio),
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
            url, **_redis_options(socket_timeout, connect_timeout, redis_options or {}, False)
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
            url, **_redis_options(socket_timeout, connect_timeout, redis_options or {}, True)
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
        digest = await self._client.get(self._layout.id_key(_check_str(key_id, "key_id")))
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
            self._layout.all_key
            if owner is None
            else self._layout.owner_key(_check_str(owner, "owner"))
        )
        pipe = self._client.pipeline(transaction=False)
        for kid in ids:
            pipe.get(self._layout.id_key(str(kid)))
        for digest in [d for d in await pipe.execute() if d]:
            pipe.hgetall(self._layout.record_key(digest))
        records = [r for r in map(self._layout.record, await pipe.execute()) if r is not None]
        return oldest_first(records)

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
