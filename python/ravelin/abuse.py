"""Abuse blocking: count a client's guard denials (injection attempts, oversize inputs,
repeated identical prompts...) in a sliding window; past a threshold, put the client in a
penalty box for a while and emit an audit event (logger ``ravelin.audit``).

Nothing is permanent: a box expires on its own, and only an operator's ``release`` ends it
early. Clients are logged as a digest (``subject``), never as the raw key or IP.

Repeated identical prompts are a rate limit on (client, prompt): limit ``repeat_key(key,
prompt)`` with a ``RateLimiter`` (or ``RedisRateLimiter``), e.g. ``"3/10 minutes"``, and
``record(key, "repeated_prompt")`` when it denies.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, Callable, Optional

from ravelin._redis import STORE_ERRORS, Clients, FailurePolicy, Script, key_digest

__all__ = ["AbuseGuard", "RedisAbuseGuard", "repeat_key"]

_audit = logging.getLogger("ravelin.audit")


def repeat_key(key: str, prompt: str) -> str:
    """A rate-limit key meaning "this client sent exactly this prompt" (a digest of both)."""
    if not isinstance(prompt, str):
        raise TypeError(f"prompt: must be str, got {type(prompt).__name__}")
    return key_digest(key + "\x00" + prompt)


class _Settings:
    def __init__(self, threshold: int, window: float, penalty: float,
                 weights: Optional[Mapping[str, int]]) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int) \
                or not 1 <= threshold <= 1_000_000:
            raise ValueError(f"threshold: must be an int within 1..=1000000, got {threshold!r}")
        for name, value in (("window", window), ("penalty", penalty)):
            if not isinstance(value, (int, float)) or not 0 < value <= 366 * 86400:
                raise ValueError(f"{name}: must be seconds within (0, one year], got {value!r}")
        self.weights = dict(weights or {})
        for reason, w in self.weights.items():
            if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= threshold:
                raise ValueError(f"weights: {reason!r} must be an int within 0..={threshold}")
        self.threshold, self.window, self.penalty = threshold, float(window), float(penalty)

    def weight(self, reason: str) -> int:
        if not isinstance(reason, str):
            raise TypeError(f"reason: must be str, got {type(reason).__name__}")
        return self.weights.get(reason, 1)

    def boxed(self, digest: str, reason: str, count: int) -> None:
        _audit.warning(
            "abuse: client %s in the penalty box for %gs (%d weighted denials in %gs, last: %s)",
            digest[:16], self.penalty, count, self.window, reason,
            extra={"event": "abuse.penalty", "subject": digest[:16], "reason": reason,
                   "count": count, "penalty": self.penalty},
        )


class AbuseGuard:
    """In-process abuse counters: per client, a deque of (time, weight) within the window
    (at most ``threshold`` entries), under one lock; stale clients are swept as they age out."""

    def __init__(self, *, threshold: int = 10, window: float = 60.0, penalty: float = 900.0,
                 weights: Optional[Mapping[str, int]] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._s = _Settings(threshold, window, penalty, weights)
        self._clock = clock
        self._lock = threading.Lock()
        self._events: dict[str, deque[tuple[float, int]]] = {}
        self._boxed: dict[str, float] = {}
        self._sweep_at = 1024

    def record(self, key: str, reason: str) -> float:
        """Count one denial of ``key`` for ``reason``; return the penalty seconds left (0 when
        the client is not boxed)."""
        digest, weight, now = key_digest(key), self._s.weight(reason), self._clock()
        with self._lock:
            left = self._left(digest, now)
            if left or not weight:
                return left
            events = self._events.setdefault(digest, deque())
            events.append((now, weight))
            while events and events[0][0] <= now - self._s.window:
                events.popleft()
            count = sum(w for _, w in events)
            if count < self._s.threshold:
                if len(self._events) >= self._sweep_at:
                    self._sweep(now)
                return 0.0
            del self._events[digest]
            self._boxed[digest] = now + self._s.penalty
        self._s.boxed(digest, reason, count)
        return self._s.penalty

    def blocked(self, key: str) -> float:
        """Penalty seconds left for ``key`` (0.0: not boxed)."""
        if not self._boxed:  # the usual case, asked on every request: no digest, no lock
            if not isinstance(key, str):
                raise TypeError(f"key: must be str, got {type(key).__name__}")
            return 0.0
        digest, now = key_digest(key), self._clock()
        with self._lock:
            return self._left(digest, now)

    def release(self, key: str) -> None:
        """Operator action: take ``key`` out of the box and forget its count."""
        digest = key_digest(key)
        with self._lock:
            self._boxed.pop(digest, None)
            self._events.pop(digest, None)
        _audit.warning("abuse: client %s released by an operator", digest[:16],
                       extra={"event": "abuse.release", "subject": digest[:16]})

    def __len__(self) -> int:
        with self._lock:
            return len(self._events) + len(self._boxed)

    def _left(self, digest: str, now: float) -> float:
        until = self._boxed.get(digest)
        if until is None:
            return 0.0
        if until <= now:
            del self._boxed[digest]
            return 0.0
        return until - now

    def _sweep(self, now: float) -> None:
        horizon = now - self._s.window
        self._events = {d: e for d, e in self._events.items() if e and e[-1][0] > horizon}
        self._boxed = {d: t for d, t in self._boxed.items() if t > now}
        self._sweep_at = max(1024, 2 * len(self._events))


# KEYS: the client's events zset, its box key. ARGV: now (ms, '' = server TIME), weight,
# window ms, threshold, penalty ms, a unique member id. Returns penalty ms left, and the count
# when this denial put the client in the box (else 0).
_ABUSE_LUA = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local left = redis.call('PTTL', KEYS[2])
if left > 0 then return {left, 0} end
local weight, window = tonumber(ARGV[2]), tonumber(ARGV[3])
if weight == 0 then return {0, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[6] .. ':' .. weight)
local count = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  count = count + tonumber(string.match(member, ':(%d+)$'))
end
if count >= tonumber(ARGV[4]) then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], count, 'PX', ARGV[5])
  return {tonumber(ARGV[5]), count}
end
redis.call('PEXPIRE', KEYS[1], window)
return {0, 0}
"""


class RedisAbuseGuard:
    """Abuse counters in Redis (a sorted set per client, a box key with the penalty as TTL),
    one atomic script per denial, timed by the server clock. Same arguments as ``AbuseGuard``
    plus ``url_or_client``, ``fail_open``, ``timeout`` and ``prefix``; on a store failure,
    fail-open counts nothing and reports no box, fail-closed raises ServiceUnavailableError.
    """

    def __init__(self, url_or_client: Any, *, threshold: int = 10, window: float = 60.0,
                 penalty: float = 900.0, weights: Optional[Mapping[str, int]] = None,
                 fail_open: bool = False, timeout: float = 0.25,
                 prefix: str = "ravelin:abuse",
                 clock: Optional[Callable[[], float]] = None) -> None:
        self._s = _Settings(threshold, window, penalty, weights)
        self._clients = Clients(url_or_client, timeout)
        self._script = Script(self._clients, _ABUSE_LUA)
        self._failure = FailurePolicy(fail_open, "abuse")
        self._prefix = prefix
        self._clock = clock
        self._seq = 0
        self._lock = threading.Lock()

    def _keys(self, key: str) -> tuple[str, list[str]]:
        digest = key_digest(key)
        tag = f"{self._prefix}:{{{digest}}}"
        return digest, [f"{tag}:events", f"{tag}:box"]

    def _args(self, reason: str) -> list[Any]:
        weight = self._s.weight(reason)
        with self._lock:
            self._seq += 1
            member = f"{id(self)}.{time.monotonic_ns()}.{self._seq}"
        now = "" if self._clock is None else int(self._clock() * 1000)
        return [now, weight, int(self._s.window * 1000), self._s.threshold,
                int(self._s.penalty * 1000), member]

    def _finish(self, digest: str, reason: str, reply: list[int]) -> float:
        left, count = int(reply[0]), int(reply[1])
        if count:
            self._s.boxed(digest, reason, count)
        return left / 1000

    def record(self, key: str, reason: str) -> float:
        """Count one denial; return the penalty seconds left (0 when not boxed)."""
        digest, keys = self._keys(key)
        args = self._args(reason)
        try:
            return self._finish(digest, reason, self._script(keys, args))
        except STORE_ERRORS as exc:
            return self._failure.handle(exc, float)

    async def arecord(self, key: str, reason: str) -> float:
        digest, keys = self._keys(key)
        args = self._args(reason)
        try:
            return self._finish(digest, reason, await self._script.acall(keys, args))
        except STORE_ERRORS as exc:
            return self._failure.handle(exc, float)

    def blocked(self, key: str) -> float:
        """Penalty seconds left for ``key`` (0.0: not boxed)."""
        try:
            return max(0, self._clients.sync.pttl(self._keys(key)[1][1])) / 1000
        except STORE_ERRORS as exc:
            return self._failure.handle(exc, float)

    async def ablocked(self, key: str) -> float:
        try:
            return max(0, await self._clients.asyncio.pttl(self._keys(key)[1][1])) / 1000
        except STORE_ERRORS as exc:
            return self._failure.handle(exc, float)

    def release(self, key: str) -> None:
        """Operator action: take ``key`` out of the box and forget its count."""
        digest, keys = self._keys(key)
        self._clients.sync.delete(*keys)
        _audit.warning("abuse: client %s released by an operator", digest[:16],
                       extra={"event": "abuse.release", "subject": digest[:16]})
