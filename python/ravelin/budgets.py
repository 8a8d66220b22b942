"""Token and cost budgets per key per UTC day and month, in memory or in Redis.

Before the model call, ``reserve`` the estimated input tokens (and their cost): denied if any
budget would be exceeded, and then nothing is consumed. After the call, ``charge`` the real
usage; it reconciles against the reservation, so the estimate is never counted twice. Costs are
kept as integer nano-dollars so sums stay exact.

Prices come from ``cost_fn(model, input_tokens, output_tokens) -> dollars``; by default
``ravelin.estimate_cost`` (the price table), looked up when first needed.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable, NamedTuple, Optional

from ravelin._core import BudgetLedger, budget_verdict
from ravelin._redis import STORE_ERRORS, Clients, FailurePolicy, Script, key_digest

__all__ = ["Budget", "BudgetDecision", "RedisBudget"]

CostFn = Callable[[str, int, int], float]
_NANO = 1_000_000_000
# A price function's answer is capped to fit the core's 64-bit counters (whose sums saturate).
_MOST_NANO = 2**53


class BudgetDecision(NamedTuple):
    """``allowed``; what is left of the tightest token and cost budgets (None: no such
    budget); ``retry_after`` seconds until the exhausted period ends (0 when allowed); and the
    amounts reserved, to pass back to ``charge``. (A named tuple, not a frozen dataclass: as
    immutable, and made twice per guarded request at a fifth of the cost.)"""

    allowed: bool
    tokens_remaining: Optional[int]
    cost_remaining: Optional[float]
    retry_after: float
    reserved_tokens: int = 0
    reserved_cost: float = 0.0


class _Policy:
    """Limits, pricing and periods shared by both backends."""

    def __init__(self, tokens_per_day: Optional[int], tokens_per_month: Optional[int],
                 cost_per_day: Optional[float], cost_per_month: Optional[float],
                 cost_fn: Optional[CostFn], clock: Callable[[], float]) -> None:
        self.limits = (
            _limit("tokens_per_day", tokens_per_day, 1, 1e12),
            _limit("tokens_per_month", tokens_per_month, 1, 1e12),
            _limit("cost_per_day", cost_per_day, _NANO, 1e9),
            _limit("cost_per_month", cost_per_month, _NANO, 1e9),
        )
        if all(x < 0 for x in self.limits):
            raise ValueError("tokens_per_day: set at least one of the four budgets")
        self.cost_fn = cost_fn
        self.clock = clock
        self.has_cost = self.limits[2] >= 0 or self.limits[3] >= 0
        # The current day's bounds and ids, recomputed only when the clock leaves that day.
        self._day: tuple[float, float, str, str, float] = (0.0, -1.0, "", "", 0.0)

    def periods(self) -> tuple[str, str, float, float]:
        """The day and month ids, and seconds to the end of each."""
        ts = self.clock()
        start, end, day_id, month_id, month_end = self._day
        if not start <= ts < end:
            now = datetime.fromtimestamp(ts, tz=timezone.utc)
            start = datetime(now.year, now.month, now.day, tzinfo=timezone.utc).timestamp()
            end = start + 86400
            year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
            month_end = datetime(year, month, 1, tzinfo=timezone.utc).timestamp()
            day_id, month_id = now.strftime("%Y%m%d"), now.strftime("%Y%m")
            self._day = (start, end, day_id, month_id, month_end)
        return day_id, month_id, end - ts, month_end - ts

    def cost_nano(self, model: Optional[str], input_tokens: int, output_tokens: int) -> int:
        if not self.has_cost:
            return 0
        fn = self.cost_fn
        if fn is None:
            import ravelin

            fn = getattr(ravelin, "estimate_cost", None)
            if fn is None:
                raise RuntimeError("cost_fn: no price table available; pass cost_fn=")
        if model is None:
            raise ValueError("model: required when a cost budget is set")
        dollars = fn(model, input_tokens, output_tokens)
        return min(max(0, round(dollars * _NANO)), _MOST_NANO)

    def charge(self, input_tokens: int, output_tokens: int, model: Optional[str],
               reserved: Optional[BudgetDecision]) -> tuple[int, int]:
        """The (tokens, nano-dollars) a charge adds: the real usage minus what ``reserved``
        already counted."""
        i = _tokens("input_tokens", input_tokens)
        o = _tokens("output_tokens", output_tokens)
        cost = self.cost_nano(model, i, o)
        if reserved is not None:
            i, cost = i - reserved.reserved_tokens, cost - round(reserved.reserved_cost * _NANO)
        return i + o, cost

    def decision(self, allowed: bool, used: tuple[int, int, int, int], delta: tuple[int, int],
                 periods: tuple[str, str, float, float], check: bool) -> BudgetDecision:
        """``used`` = (tokens day, tokens month, cost day, cost month) after the operation
        (before it, for a refused reservation)."""
        return BudgetDecision(*budget_verdict(
            self.limits, allowed, used, delta[0], delta[1], check, periods[2], periods[3]
        ))


def _limit(name: str, value: Optional[float], scale: int, most: float) -> int:
    """A limit in counted units (tokens, nano-dollars), -1 for none. The bounds keep sums
    within 64 bits: 10^12 tokens, 10^9 dollars."""
    if value is None:
        return -1
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= most:
        raise ValueError(f"{name}: must be a number within [0, {most:g}], got {value!r}")
    return round(value * scale)


def _tokens(name: str, n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 10**12:
        raise ValueError(f"{name}: must be an int within 0..=10**12, got {n!r}")
    return n


class Budget:
    """In-process budgets: the usage is kept by the Rust core (`ravelin._core.BudgetLedger`),
    under its own lock; a call there is one step where the Python version was a dozen."""

    def __init__(self, *, tokens_per_day: Optional[int] = None,
                 tokens_per_month: Optional[int] = None, cost_per_day: Optional[float] = None,
                 cost_per_month: Optional[float] = None, cost_fn: Optional[CostFn] = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._policy = _Policy(tokens_per_day, tokens_per_month, cost_per_day, cost_per_month,
                               cost_fn, clock)
        self._ledger = BudgetLedger(self._policy.limits)

    def reserve(self, key: str, input_tokens: int, model: Optional[str] = None) -> BudgetDecision:
        """Reserve the estimated input tokens (and their cost) if every budget allows."""
        tokens = _tokens("input_tokens", input_tokens)
        return self._apply(key, tokens, self._policy.cost_nano(model, tokens, 0), True)

    def charge(self, key: str, input_tokens: int, output_tokens: int,
               model: Optional[str] = None, *,
               reserved: Optional[BudgetDecision] = None) -> BudgetDecision:
        """Record the real usage, minus what ``reserved`` already counted."""
        tokens, cost = self._policy.charge(input_tokens, output_tokens, model, reserved)
        return self._apply(key, tokens, cost, False)

    def usage(self, key: str) -> tuple[int, int, float, float]:
        """(tokens today, tokens this month, cost today, cost this month)."""
        day, month, _, _ = self._policy.periods()
        tokens_day, tokens_month, cost_day, cost_month = self._ledger.usage(
            _check_key(key), day, month
        )
        return tokens_day, tokens_month, cost_day / _NANO, cost_month / _NANO

    def reset(self, key: str) -> None:
        self._ledger.reset(_check_key(key))

    def _apply(self, key: str, tokens: int, cost: int, check: bool) -> BudgetDecision:
        # Counters are keyed by the key itself: in process memory a digest (as Redis gets)
        # would hide nothing the caller does not hold anyway, and costs a hash per call.
        return BudgetDecision(*self._ledger.apply(
            _check_key(key), tokens, cost, check, *self._policy.periods()
        ))


def _check_key(key: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"key: must be str, got {type(key).__name__}")
    return key


# KEYS: day hash, month hash (same hash tag). ARGV: check (1|0), tokens, cost (nano-$), the
# four limits (-1 = none), day TTL ms, month TTL ms. Fields: t (tokens), c (cost).
_BUDGET_LUA = """
local check = ARGV[1] == '1'
local dt, dc = tonumber(ARGV[2]), tonumber(ARGV[3])
local day = redis.call('HMGET', KEYS[1], 't', 'c')
local month = redis.call('HMGET', KEYS[2], 't', 'c')
local used = {tonumber(day[1]) or 0, tonumber(month[1]) or 0,
              tonumber(day[2]) or 0, tonumber(month[2]) or 0}
local need = {dt, dt, dc, dc}
local allowed = true
for i = 1, 4 do
  local lim = tonumber(ARGV[3 + i])
  if lim >= 0 and used[i] + need[i] > lim then allowed = false end
end
if allowed or not check then
  for i = 1, 4 do used[i] = math.max(0, used[i] + need[i]) end
  redis.call('HSET', KEYS[1], 't', used[1], 'c', used[3])
  redis.call('HSET', KEYS[2], 't', used[2], 'c', used[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[8])
  redis.call('PEXPIRE', KEYS[2], ARGV[9])
end
if not check then
  allowed = true
  for i = 1, 4 do
    local lim = tonumber(ARGV[3 + i])
    if lim >= 0 and used[i] > lim then allowed = false end
  end
end
return {allowed and 1 or 0, used[1], used[2], used[3], used[4]}
"""


class RedisBudget:
    """Budgets in Redis: one atomic Lua script per operation, keys expiring with their period.

    Same arguments as ``Budget`` plus ``url_or_client``, ``fail_open``, ``timeout`` and
    ``prefix`` (see ``ravelin.limits.RedisRateLimiter`` for the failure policy). Periods are
    UTC calendar days and months read from the application clock (``clock``): they name the
    keys, and Redis Cluster needs key names before the script runs.
    """

    def __init__(self, url_or_client: Any, *, tokens_per_day: Optional[int] = None,
                 tokens_per_month: Optional[int] = None, cost_per_day: Optional[float] = None,
                 cost_per_month: Optional[float] = None, cost_fn: Optional[CostFn] = None,
                 fail_open: bool = False, timeout: float = 0.25, prefix: str = "ravelin:budget",
                 clock: Callable[[], float] = time.time) -> None:
        self._policy = _Policy(tokens_per_day, tokens_per_month, cost_per_day, cost_per_month,
                               cost_fn, clock)
        self._clients = Clients(url_or_client, timeout)
        self._script = Script(self._clients, _BUDGET_LUA)
        self._failure = FailurePolicy(fail_open, "budget")
        self._prefix = prefix

    def reserve(self, key: str, input_tokens: int, model: Optional[str] = None) -> BudgetDecision:
        """Reserve the estimated input tokens (and their cost) if every budget allows."""
        keys, args, finish = self._reserve(key, input_tokens, model)
        try:
            return finish(self._script(keys, args))
        except STORE_ERRORS as exc:
            return self._failure.handle(exc, self._open)

    async def areserve(self, key: str, input_tokens: int,
                       model: Optional[str] = None) -> BudgetDecision:
        keys, args, finish = self._reserve(key, input_tokens, model)
        try:
            return finish(await self._script.acall(keys, args))
        except STORE_ERRORS as exc:
            return self._failure.handle(exc, self._open)

    def charge(self, key: str, input_tokens: int, output_tokens: int,
               model: Optional[str] = None, *,
               reserved: Optional[BudgetDecision] = None) -> BudgetDecision:
        """Record the real usage, minus what ``reserved`` already counted."""
        keys, args, finish = self._charge(key, input_tokens, output_tokens, model, reserved)
        try:
            return finish(self._script(keys, args))
        except STORE_ERRORS as exc:
            return self._failure.handle(exc, self._open)

    async def acharge(self, key: str, input_tokens: int, output_tokens: int,
                      model: Optional[str] = None, *,
                      reserved: Optional[BudgetDecision] = None) -> BudgetDecision:
        keys, args, finish = self._charge(key, input_tokens, output_tokens, model, reserved)
        try:
            return finish(await self._script.acall(keys, args))
        except STORE_ERRORS as exc:
            return self._failure.handle(exc, self._open)

    def _reserve(self, key: str, input_tokens: int, model: Optional[str]) -> Any:
        tokens = _tokens("input_tokens", input_tokens)
        return self._call(key, (tokens, self._policy.cost_nano(model, tokens, 0)), check=True)

    def _charge(self, key: str, input_tokens: int, output_tokens: int, model: Optional[str],
                reserved: Optional[BudgetDecision]) -> Any:
        return self._call(
            key, self._policy.charge(input_tokens, output_tokens, model, reserved), check=False
        )

    def _call(self, key: str, delta: tuple[int, int], check: bool) -> Any:
        periods = self._policy.periods()
        tag = f"{self._prefix}:{{{key_digest(key)}}}"
        keys = [f"{tag}:d:{periods[0]}", f"{tag}:m:{periods[1]}"]
        # Keep each hash a day past its period, so late reconciliations land in it.
        ttls = [int((periods[2] + 86400) * 1000), int((periods[3] + 86400) * 1000)]
        args = ["1" if check else "0", delta[0], delta[1], *self._policy.limits, *ttls]

        def finish(reply: list[int]) -> BudgetDecision:
            used = (int(reply[1]), int(reply[2]), int(reply[3]), int(reply[4]))
            return self._policy.decision(bool(reply[0]), used, delta, periods, check)

        return keys, args, finish

    def _open(self) -> BudgetDecision:
        return BudgetDecision(allowed=True, tokens_remaining=None, cost_remaining=None,
                              retry_after=0.0)
