"""The store interface and the rules every store shares (none of them does I/O)."""

from __future__ import annotations

import builtins
import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional, Union

from ravelin._core import check_key_format, generate_key, hash_key
from ravelin._core import key_id as _key_id_of
from ravelin.errors import (
    ExpiredKeyError,
    MalformedKeyError,
    PermissionDeniedError,
    RevokedKeyError,
    ServiceUnavailableError,
    UnknownKeyError,
)
from ravelin.keys.records import (
    CreatedKey,
    Duration,
    KeyRecord,
    _check_metadata,
    _check_scopes,
    _check_str,
    _check_text,
    oldest_first,
    parse_duration,
)

log = logging.getLogger("ravelin.keys")


class _KeyPolicy:
    """Everything a store does that is not I/O: validation, digests, the positive-lookup cache,
    expiry and revocation rules, batching of ``last_used_at``. Shared by sync and async stores."""

    def __init__(
        self,
        *,
        pepper: Union[str, bytes, None] = None,
        prefix: str = "rk_live",
        cache_ttl: float = 5.0,
        cache_size: int = 10_000,
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

    def authenticate_cached(self, raw_key: str) -> Optional[KeyRecord]:
        """``authenticate`` without I/O: the record of a cached active key when no
        ``last_used_at`` batch is due, else None (then call ``authenticate``). Raises as
        ``authenticate`` does for malformed, revoked and expired keys."""
        digest = self._digest(raw_key)
        now = self._clock()
        record = self._cached(digest, now)
        if record is None or now - self._last_flush >= self._touch_interval:
            return None
        self._check_active(record, now)
        self._note_use(digest, now)
        return record

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
        return self._fetch_id(_check_str(key_id, "key_id"))

    def revoke(self, key_id: str) -> KeyRecord:
        """Revokes a key now (earlier if a rotation already scheduled it). ``KeyError`` if
        there is no such key."""
        record = self._revoke(_check_str(key_id, "key_id"), self._clock())
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
        _check_str(key_id, "key_id")
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
        return oldest_first(self._list(None if owner is None else _check_str(owner, "owner")))

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
