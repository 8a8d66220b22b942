"""Rate limits shared by many processes: ``RedisRateLimiter``, the Redis twin of
``ravelin.RateLimiter`` (same limit strings, algorithms, decisions), plus ``ahit`` for asyncio.

Each check is ONE Lua script call (EVALSHA; redis-py reloads it on NOSCRIPT): one round trip,
atomic on the server, timed by the server's own clock (``TIME``) so application clocks do not
matter. A client's state is one hash, ``{prefix}:{<digest>}:<limits id>``, with a TTL; the
braces are a Redis Cluster hash tag, so a client's keys (limits, budgets) share a slot.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Optional

from ravelin._core import Decision, RateLimiter
from ravelin._redis import STORE_ERRORS, Clients, FailurePolicy, Script, key_digest

__all__ = ["RedisRateLimiter"]

# Mirrors src/ratelimit/algorithm.rs (times in microseconds). KEYS[1]: the client's hash.
# ARGV: now ('' = server TIME), algorithm, cost, commit (1|0), then count, period per limit.
_RATE_LIMIT_LUA = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local gcra = ARGV[2] == 'gcra'
local cost = tonumber(ARGV[3])
local commit = ARGV[4] == '1'
local n = (#ARGV - 4) / 2
local width = gcra and 1 or 3
local fields = {}
for i = 1, n do
  if gcra then
    fields[i] = 't' .. i
  else
    fields[3 * i - 2] = 'w' .. i; fields[3 * i - 1] = 'p' .. i; fields[3 * i] = 'c' .. i
  end
end
local stored = redis.call('HMGET', KEYS[1], unpack(fields))

local function check_gcra(i, count, period, c, out)
  local tat = tonumber(stored[i]) or 0
  local interval = math.ceil(period / count)
  local tolerance = interval * count
  local base = math.max(tat, now)
  local used = base - now
  local before = math.floor((tolerance - math.min(used, tolerance)) / interval)
  if c > count then return false, before, used, period end
  local after = base + c * interval - now
  if after <= tolerance then
    out[#out + 1] = 't' .. i; out[#out + 1] = base + c * interval
    return true, math.floor((tolerance - after) / interval), after, 0
  end
  return false, before, used, after - tolerance
end

local function check_sliding(i, count, period, c, out)
  local window = math.floor(now / period)
  local to_end = period - (now - window * period)
  local w = tonumber(stored[3 * i - 2]) or 0
  local prev, cur = 0, 0
  if w == window + 1 then
    prev = tonumber(stored[3 * i - 1]) or 0; cur = tonumber(stored[3 * i]) or 0
  elseif w == window then
    prev = tonumber(stored[3 * i]) or 0
  end
  local used = prev * to_end + cur * period
  local capacity = count * period
  local allowed = c <= count and used + c * period <= capacity
  if allowed then used = used + c * period; cur = cur + c end
  local reset = 0
  if cur > 0 then reset = to_end + period elseif prev > 0 then reset = to_end end
  local retry = 0
  if allowed then
    out[#out + 1] = 'w' .. i; out[#out + 1] = window + 1
    out[#out + 1] = 'p' .. i; out[#out + 1] = prev
    out[#out + 1] = 'c' .. i; out[#out + 1] = cur
  elseif c > count then
    retry = period
  elseif cur + c <= count then
    retry = math.max(0, math.ceil(to_end - (count - cur - c) * period / prev))
  else
    retry = math.ceil(to_end + period - (count - c) * period / cur)
  end
  return allowed, math.floor((capacity - math.min(used, capacity)) / period), reset, retry
end

local check = gcra and check_gcra or check_sliding
local function evaluate(c)
  local v = {allowed = true, retry = 0, out = {}}
  for i = 1, n do
    local count, period = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
    local ok, remaining, reset, retry = check(i, count, period, c, v.out)
    v.allowed = v.allowed and ok
    v.retry = math.max(v.retry, retry)
    if v.remaining == nil or remaining < v.remaining
        or (remaining == v.remaining and reset > v.reset) then
      v.remaining, v.reset, v.count, v.period = remaining, reset, count, period
    end
  end
  return v
end

local verdict = evaluate(cost)
local report = verdict
if verdict.allowed and commit and cost > 0 then
  redis.call('HSET', KEYS[1], unpack(verdict.out))
  local ttl = 0
  for i = 1, n do
    local period = tonumber(ARGV[4 + 2 * i])
    ttl = math.max(ttl, gcra and period or 2 * period)
  end
  redis.call('PEXPIRE', KEYS[1], math.ceil(ttl / 1000))
else
  report = evaluate(0)
end
local retry = 0
if not verdict.allowed then retry = verdict.retry end
return {verdict.allowed and 1 or 0, report.remaining, report.reset, retry, report.count,
        report.period}
"""


class RedisRateLimiter:
    """``RedisRateLimiter("redis://...", "100/minute; 1000/day", algorithm="gcra")``.

    ``url_or_client`` is a URL (sync and asyncio clients are made with ``timeout`` on every
    call and no retries) or a ``redis.Redis`` / ``redis.asyncio.Redis`` with a socket timeout.
    When Redis fails, ``fail_open=False`` raises ``ravelin.ServiceUnavailableError`` (503) and
    ``fail_open=True`` logs a warning (logger ``ravelin.limits``) and allows. ``clock``
    (seconds) replaces the server's clock, for tests and simulations only.
    """

    def __init__(
        self,
        url_or_client: Any,
        limits: str,
        algorithm: str = "gcra",
        *,
        fail_open: bool = False,
        timeout: float = 0.25,
        prefix: str = "ravelin:rl",
        clock: Optional[Callable[[], float]] = None,
    ) -> None:
        # The Rust parser validates and normalises, so both backends read limits identically.
        parsed = RateLimiter(limits, algorithm)
        self.limits: list[tuple[int, float]] = parsed.limits
        self.algorithm: str = parsed.algorithm
        self._periods = [(count, round(window * 1e6)) for count, window in self.limits]
        spec = ";".join(f"{c}/{p}" for c, p in self._periods)
        self._id = hashlib.blake2b(f"{self.algorithm}:{spec}".encode(), digest_size=4).hexdigest()
        self._prefix = prefix
        self._clock = clock
        self._clients = Clients(url_or_client, timeout)
        self._script = Script(self._clients, _RATE_LIMIT_LUA)
        self._policy = FailurePolicy(fail_open, "rate limit")
        self._tail = [
            "gcra" if self.algorithm == "gcra" else "sliding",
            *(x for pair in self._periods for x in pair),
        ]

    def key_name(self, key: str) -> str:
        """The Redis key holding ``key``'s state (a digest: the raw key never reaches Redis)."""
        return f"{self._prefix}:{{{key_digest(key)}}}:{self._id}"

    def hit(self, key: str, cost: int = 1) -> Decision:
        """Consume ``cost`` units for ``key`` if every limit allows it (one round trip)."""
        keys, args = self._call(key, cost, commit=True)
        try:
            return self._decision(self._script(keys, args))
        except STORE_ERRORS as exc:
            return self._policy.handle(exc, self._open_decision)

    async def ahit(self, key: str, cost: int = 1) -> Decision:
        """``hit`` for asyncio (redis.asyncio)."""
        keys, args = self._call(key, cost, commit=True)
        try:
            return self._decision(await self._script.acall(keys, args))
        except STORE_ERRORS as exc:
            return self._policy.handle(exc, self._open_decision)

    def peek(self, key: str, cost: int = 1) -> Decision:
        """Whether ``hit`` would allow ``cost`` units now, and the units left; consumes nothing."""
        keys, args = self._call(key, cost, commit=False)
        try:
            return self._decision(self._script(keys, args))
        except STORE_ERRORS as exc:
            return self._policy.handle(exc, self._open_decision)

    def reset(self, key: str) -> None:
        """Forget ``key`` (an operator action; a store failure raises)."""
        self._clients.sync.delete(self.key_name(key))

    async def areset(self, key: str) -> None:
        await self._clients.asyncio.delete(self.key_name(key))

    def _call(self, key: str, cost: int, commit: bool) -> tuple[list[str], list[Any]]:
        if isinstance(cost, bool) or not isinstance(cost, int) or not 0 <= cost <= 10**9:
            raise ValueError(f"cost: must be an int within 0..=1000000000, got {cost!r}")
        now = "" if self._clock is None else int(self._clock() * 1e6)
        return [self.key_name(key)], [now, self._tail[0], cost, 1 if commit else 0,
                                      *self._tail[1:]]

    @staticmethod
    def _decision(reply: list[int]) -> Decision:
        allowed, remaining, reset, retry, count, period = reply
        return Decision(allowed=bool(allowed), remaining=int(remaining),
                        reset_after=reset / 1e6, retry_after=retry / 1e6,
                        limit=int(count), window=period / 1e6)

    def _open_decision(self) -> Decision:
        count, period = min(self._periods)
        return Decision(allowed=True, remaining=count, reset_after=0.0, retry_after=0.0,
                        limit=count, window=period / 1e6)

    def __repr__(self) -> str:
        spec = "; ".join(f"{c}/{w:g}s" for c, w in self.limits)
        return f"RedisRateLimiter({spec!r}, algorithm={self.algorithm!r})"
