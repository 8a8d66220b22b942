"""What every Redis-backed store shares: clients with a timeout on every call, key digests,
script calls (EVALSHA, reloaded on NOSCRIPT), and the configured failure policy."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from typing import Any, Callable, TypeVar

from ravelin.errors import ServiceUnavailableError

T = TypeVar("T")
_log = logging.getLogger("ravelin.limits")

#: Errors that mean "the store is unreachable or unwell", never a bug of ours.
try:
    import redis
    import redis.asyncio
    import redis.asyncio.cluster
    import redis.asyncio.retry
    import redis.cluster
    import redis.retry
    from redis.backoff import NoBackoff

    STORE_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
except ImportError:  # pragma: no cover - the redis extra is not installed
    redis = None  # type: ignore[assignment]
    STORE_ERRORS = (OSError,)


def key_digest(key: str) -> str:
    """A short stable digest for a client key: raw keys (often API keys) never reach Redis."""
    if not isinstance(key, str):
        raise TypeError(f"key: must be str, got {type(key).__name__}")
    raw = key.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def check_timeout(timeout: float) -> float:
    if not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        raise ValueError(f"timeout: must be seconds within (0, 60], got {timeout!r}")
    return float(timeout)


def retry_broken_connection(asyncio: bool) -> Any:
    """The retry policy of every client ravelin makes: one immediate retry on a broken
    connection (a pooled socket that a Redis restart closed, so the first call after a restart
    does not fail), none on a timeout (a slow store must not cost twice the timeout). The
    asyncio client needs the asyncio ``Retry`` class: the sync one cannot await."""
    retry = redis.asyncio.retry.Retry if asyncio else redis.retry.Retry
    return retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))


class Clients:
    """A sync and an asyncio client for one store, made from a URL or given by the caller.

    Clients made here have socket and connect timeouts and retry only a broken connection,
    once (a retry loop is how a short outage becomes a hang). A client passed in must have a
    socket timeout.
    """

    def __init__(self, url_or_client: Any, timeout: float) -> None:
        if redis is None:
            raise ImportError("ravelin's Redis stores need redis-py: pip install 'ravelin[redis]'")
        self.timeout = check_timeout(timeout)
        self._sync: Any = None
        self._async: Any = None
        self._loop: Any = None
        self._url: str | None = None
        if isinstance(url_or_client, str):
            self._url = url_or_client
        elif isinstance(url_or_client, (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster)):
            self._async = _checked(url_or_client)
        elif isinstance(url_or_client, (redis.Redis, redis.cluster.RedisCluster)):
            self._sync = _checked(url_or_client)
        else:
            raise TypeError(
                "url_or_client: expected a redis:// URL or a (cluster) client of redis-py, "
                f"sync or asyncio, got {type(url_or_client).__name__}"
            )

    def _options(self, asyncio: bool) -> dict[str, Any]:
        return {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry": retry_broken_connection(asyncio),
        }

    @property
    def sync(self) -> Any:
        if self._sync is None:
            if self._url is None:
                raise TypeError("this store was given an asyncio client: use the a* methods")
            self._sync = redis.Redis.from_url(self._url, **self._options(asyncio=False))
        return self._sync

    @property
    def asyncio(self) -> Any:
        """The asyncio client; one made from a URL is remade for each new event loop (its
        connections belong to the loop that opened them)."""
        if self._url is None:
            if self._async is None:
                raise TypeError("this store was given a sync client: use the sync methods")
            return self._async
        loop = asyncio.get_running_loop()
        if self._async is None or self._loop is not loop:
            self._async = redis.asyncio.Redis.from_url(self._url, **self._options(asyncio=True))
            self._loop = loop
        return self._async


def _checked(client: Any) -> Any:
    pool = getattr(client, "connection_pool", None)
    kwargs = pool.connection_kwargs if pool is not None else client.get_connection_kwargs()
    if not kwargs.get("socket_timeout"):
        raise ValueError(
            "url_or_client: the client has no socket_timeout; a store call must never hang"
        )
    return client


class Script:
    """One Lua script called by EVALSHA on the sync and asyncio clients, loaded on NOSCRIPT.

    The digest is computed here and EVALSHA is sent directly: redis-py's ``Script`` wrapper
    costs ~10 µs per call, as much as the limiter's own client work.
    """

    def __init__(self, clients: Clients, source: str) -> None:
        self._clients = clients
        self._source = source
        self._sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        client = self._clients.sync
        try:
            return client.evalsha(self._sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            client.script_load(self._source)
            return client.evalsha(self._sha, len(keys), *keys, *args)

    async def acall(self, keys: list[str], args: list[Any]) -> Any:
        client = self._clients.asyncio
        try:
            return await client.evalsha(self._sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            await client.script_load(self._source)
            return await client.evalsha(self._sha, len(keys), *keys, *args)


class FailurePolicy:
    """Fail closed (raise ServiceUnavailableError, a 503) or fail open (log and allow).

    Fail-open warnings are throttled to one per ``LOG_EVERY`` seconds (with the number of
    failures in between), so an outage under load does not flood the log."""

    LOG_EVERY = 10.0

    def __init__(self, fail_open: bool, what: str) -> None:
        self.fail_open = bool(fail_open)
        self.what = what
        self._lock = threading.Lock()
        self._next_log = 0.0
        self._failures = 0

    def handle(self, exc: BaseException, open_result: Callable[[], T]) -> T:
        if self.fail_open:
            now = time.monotonic()
            with self._lock:
                self._failures += 1
                failures, log = self._failures, now >= self._next_log
                if log:
                    self._next_log, self._failures = now + self.LOG_EVERY, 0
            if log:
                _log.warning("%s store unavailable (%s); allowing (fail_open), %d failure(s)",
                             self.what, type(exc).__name__, failures)
            return open_result()
        raise ServiceUnavailableError(f"{self.what} store unavailable: {type(exc).__name__}") \
            from exc
