"""Rate limits shared by many processes: ``RedisRateLimiter``, the Redis twin of
``ravelin.RateLimiter`` (same limit strings, algorithms, decisions), plus ``ahit`` for asyncio.

Each check is ONE Lua script call (EVALSHA; redis-py reloads it on NOSCRIPT): one round trip,
atomic on the server, timed by the server's own clock (``TIME``) so application clocks do not
matter. A client's state is one string, ``{prefix}:{<digest>}:<limits id>``, with a TTL; the
braces are a Redis Cluster hash tag, so a client's keys (limits, budgets) share a slot.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Optional

from ravelin._core import Decision, RateLimiter
from ravelin._redis import STORE_ERRORS, Clients, FailurePolicy, Script, key_digest

__all__ = ["RedisRateLimiter"]

# Mirrors src/ratelimit/algorithm.rs, in microseconds. The limits (count, period, GCRA interval
# and tolerance, sliding-window capacity: integers computed in Python), algorithm and TTL are
# baked into each limiter's script, so a call sends and parses less. KEYS[1]: the client's
# state, msgpack numbers (GCRA: one TAT per limit; sliding window: window+1, previous and
# current count per limit). ARGV: now ('' = server TIME), cost, commit (1|0).
_RATE_LIMIT_LUA = """
local limits = {%(limits)s}
local gcra = %(gcra)s
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local cost = tonumber(ARGV[2])
local commit = ARGV[3] == '1' and cost > 0
local raw = redis.call('GET', KEYS[1])
local state = raw and {cmsgpack.unpack(raw)} or {}

-- Pass 1 judges the hit; a denial or a peek runs pass 2 with cost 0 to report the state as
-- it stays (nothing consumed).
local ok, retry, rem, rst, cnt, per, out
for pass = 1, 2 do
  local c = pass == 1 and cost or 0
  local all, longest = true, 0
  rem, out = nil, {}
  for i = 1, #limits do
    local limit = limits[i]
    local count, period = limit[1], limit[2]
    local allowed, remaining, reset, wait
    if gcra then
      local tat = state[i] or 0
      local interval, tolerance = limit[3], limit[4]
      local base = math.max(tat, now)
      local used = base - now
      local after = used + c * interval
      out[i] = tat
      if c > count then
        allowed, wait = false, period
      else
        allowed, wait = after <= tolerance, math.max(0, after - tolerance)
      end
      if allowed then
        out[i] = base + c * interval
        remaining, reset = math.floor((tolerance - after) / interval), after
      else
        remaining, reset = math.floor((tolerance - math.min(used, tolerance)) / interval), used
      end
    else
      local window = math.floor(now / period)
      local to_end = period - (now - window * period)
      local w = state[3 * i - 2] or 0
      local prev, cur = 0, 0
      if w == window + 1 then
        prev, cur = state[3 * i - 1] or 0, state[3 * i] or 0
      elseif w == window then
        prev = state[3 * i] or 0
      end
      local used = prev * to_end + cur * period
      local capacity = limit[5]
      allowed = c <= count and used + c * period <= capacity
      if allowed then used = used + c * period; cur = cur + c end
      out[3 * i - 2], out[3 * i - 1], out[3 * i] = window + 1, prev, cur
      remaining = math.floor((capacity - math.min(used, capacity)) / period)
      reset = 0
      if cur > 0 then reset = to_end + period elseif prev > 0 then reset = to_end end
      wait = 0
      if allowed then
        wait = 0
      elseif c > count then
        wait = period
      elseif cur + c <= count then
        wait = math.max(0, math.ceil(to_end - (count - cur - c) * period / prev))
      else
        wait = math.ceil(to_end + period - (count - c) * period / cur)
      end
    end
    all = all and allowed
    if wait > longest then longest = wait end
    if rem == nil or remaining < rem or (remaining == rem and reset > rst) then
      rem, rst, cnt, per = remaining, reset, count, period
    end
  end
  if pass == 1 then
    ok, retry = all, all and 0 or longest
    if ok and commit then
      redis.call('SET', KEYS[1], cmsgpack.pack(unpack(out)), 'PX', %(ttl_ms)d)
      break
    end
  end
end
return {ok and 1 or 0, rem, rst, retry, cnt, per}
"""


def _lua_limit(count: int, period: int) -> str:
    interval = -(-period // count)
    return f"{{{count}, {period}, {interval}, {interval * count}, {count * period}}}"


class RedisRateLimiter:
    """``RedisRateLimiter("redis://...", "100/minute; 1000/day", algorithm="gcra")``.

    ``url_or_client`` is a URL (sync and asyncio clients are made with ``timeout`` on every
    call and one retry, on a broken connection only) or a ``redis.Redis`` /
    ``redis.asyncio.Redis`` with a socket timeout.
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
        longest = max(period for _, period in self._periods)
        source = _RATE_LIMIT_LUA % {
            "limits": ", ".join(_lua_limit(c, p) for c, p in self._periods),
            "gcra": "true" if self.algorithm == "gcra" else "false",
            # A GCRA state is spent within one window; a sliding window's weighs for two.
            "ttl_ms": -(-longest * (1 if self.algorithm == "gcra" else 2) // 1000),
        }
        self._script = Script(self._clients, source)
        self._policy = FailurePolicy(fail_open, "rate limit")

    def key_name(self, key: str) -> str:
        """The Redis key holding ``key``'s state (a digest: the raw key never reaches Redis)."""
        return f"{self._prefix}:{{{key_digest(key)}}}:{self._id}"

    def hit(self, key: str, cost: int = 1) -> Decision:
        """Consume ``cost`` units for ``key`` if every limit allows it (one round trip)."""
        return self._check(key, cost, commit=True)

    async def ahit(self, key: str, cost: int = 1) -> Decision:
        """``hit`` for asyncio (redis.asyncio)."""
        keys, args = self._call(key, cost, commit=True)
        try:
            return self._decision(await self._script.acall(keys, args))
        except STORE_ERRORS as exc:
            return self._policy.handle(exc, self._open_decision)

    def peek(self, key: str, cost: int = 1) -> Decision:
        """Whether ``hit`` would allow ``cost`` units now, and the units left; consumes nothing."""
        return self._check(key, cost, commit=False)

    def _check(self, key: str, cost: int, commit: bool) -> Decision:
        keys, args = self._call(key, cost, commit)
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
        return [self.key_name(key)], [now, cost, 1 if commit else 0]

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
