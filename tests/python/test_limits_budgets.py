"""Token/cost budgets and the abuse guard, in memory and in Redis (same tests for both)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

import pytest
import ravelin
import redis
from ravelin.abuse import AbuseGuard, RedisAbuseGuard
from ravelin.budgets import Budget, RedisBudget
from servers import RedisServer

# 2026-03-31 23:00:00 UTC: one hour before both a new day and a new month.
T0 = datetime(2026, 3, 31, 23, 0, tzinfo=timezone.utc).timestamp()


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def price(model: str, input_tokens: int, output_tokens: int) -> float:
    """$1 per million input tokens, $3 per million output tokens (model-independent)."""
    return (input_tokens * 1 + output_tokens * 3) / 1e6


@pytest.fixture(params=["memory", "redis"])
def make_budget(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return Budget
    url = request.getfixturevalue("redis_url")
    return lambda **kw: RedisBudget(url, **kw)


@pytest.fixture(params=["memory", "redis"])
def make_guard(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return AbuseGuard
    url = request.getfixturevalue("redis_url")
    return lambda **kw: RedisAbuseGuard(url, **kw)


def test_reserve_then_reconcile_tokens(make_budget: Any) -> None:
    clock = Clock()
    budget = make_budget(tokens_per_day=1000, tokens_per_month=1500, clock=clock)
    r = budget.reserve("alice", 600)
    assert r.allowed and r.tokens_remaining == 400 and r.reserved_tokens == 600
    denied = budget.reserve("alice", 401)
    assert not denied.allowed and denied.tokens_remaining == 400
    assert denied.retry_after == pytest.approx(3600)  # midnight UTC
    # Real usage: 500 in (less than estimated) + 200 out; the reservation is not counted twice.
    after = budget.charge("alice", 500, 200, reserved=r)
    assert after.allowed and after.tokens_remaining == 300
    assert budget.reserve("bob", 1000).allowed  # keys are independent
    # Overspend after the fact is recorded and reported, then reservations are refused.
    over = budget.charge("alice", 0, 400)
    assert not over.allowed and over.tokens_remaining == 0
    assert not budget.reserve("alice", 1).allowed
    clock.now += 3600  # a new day and a new month
    assert budget.reserve("alice", 1000).allowed


def test_monthly_budget_outlasts_the_day(make_budget: Any) -> None:
    clock = Clock(T0 - 86400 * 10)
    budget = make_budget(tokens_per_day=1000, tokens_per_month=1500, clock=clock)
    assert budget.reserve("k", 1000).allowed
    clock.now += 86400
    assert budget.reserve("k", 500).allowed
    denied = budget.reserve("k", 1)
    assert not denied.allowed and denied.retry_after == pytest.approx(86400 * 9 + 3600)


def test_cost_budgets_use_the_price_function(make_budget: Any) -> None:
    budget = make_budget(cost_per_day=0.01, cost_fn=price, clock=Clock())
    r = budget.reserve("k", 4000, model="m")  # $0.004
    assert r.allowed and r.cost_remaining == pytest.approx(0.006)
    assert r.reserved_cost == pytest.approx(0.004) and r.tokens_remaining is None
    after = budget.charge("k", 4000, 1000, model="m", reserved=r)  # $0.007 in all
    assert after.cost_remaining == pytest.approx(0.003)
    assert not budget.reserve("k", 3001, model="m").allowed
    assert budget.reserve("k", 3000, model="m").allowed
    with pytest.raises(ValueError, match="model"):
        budget.reserve("k", 1)


def test_the_default_price_is_ravelins_table(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def table(model: str, i: int, o: int) -> float:
        calls.append((model, i, o))
        return 1.0

    monkeypatch.setattr(ravelin, "estimate_cost", table, raising=False)
    budget = Budget(cost_per_month=2.5)
    assert budget.reserve("k", 10, model="gpt-4o").allowed
    assert calls == [("gpt-4o", 10, 0)]
    monkeypatch.delattr(ravelin, "estimate_cost")
    with pytest.raises(RuntimeError, match="cost_fn"):
        budget.reserve("k", 10, model="gpt-4o")


def test_budget_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="set at least one"):
        Budget()
    with pytest.raises(ValueError, match="tokens_per_day"):
        Budget(tokens_per_day=-1)
    with pytest.raises(ValueError, match="cost_per_month"):
        Budget(cost_per_month=float("nan"))
    budget = Budget(tokens_per_day=10)
    with pytest.raises(ValueError, match="input_tokens"):
        budget.reserve("k", -5)
    with pytest.raises(ValueError, match="output_tokens"):
        budget.charge("k", 1, 10**13)
    with pytest.raises(TypeError, match="key"):
        budget.reserve(None, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"cost_per_day: must be a number within \[0, 1e\+09\]"):
        Budget(cost_per_day=1e9 + 1)
    with pytest.raises(ValueError, match="tokens_per_month"):
        Budget(tokens_per_month=10**12 + 1)


def test_the_largest_budgets_and_absurd_prices_count_without_overflow(make_budget: Any) -> None:
    budget = make_budget(tokens_per_day=10**12, cost_per_day=1e7, cost_fn=lambda m, i, o: 1e30,
                         clock=Clock())
    first = budget.reserve("k", 10**12, model="m")  # the price is capped, not an error
    assert first.allowed and first.tokens_remaining == 0
    assert first.cost_remaining == pytest.approx(1e7 - 2**53 / 1e9)
    for _ in range(3):
        after = budget.charge("k", 10**12, 10**12, model="m")
    assert not after.allowed and after.tokens_remaining == 0 and after.cost_remaining == 0


def test_redis_budget_async_ttls_and_hash_tags(redis_url: str) -> None:
    budget = RedisBudget(redis_url, tokens_per_day=100, tokens_per_month=1000)

    async def run() -> list[bool]:
        results = await asyncio.gather(*(budget.areserve("k", 30) for _ in range(5)))
        await budget.acharge("k", 0, 5)
        return [r.allowed for r in results]

    assert sum(asyncio.run(run())) == 3
    client = redis.Redis.from_url(redis_url)
    keys = client.keys("*")
    assert len(keys) == 2
    assert all(client.pttl(k) > 86_400_000 for k in keys)
    assert len({redis.crc.key_slot(k) for k in keys}) == 1  # one Cluster slot per client
    assert client.hget(next(k for k in keys if b":d:" in k), "t") == b"95"


def test_redis_budget_failure_policies() -> None:
    server = RedisServer()
    url = server.url
    server.close()
    with pytest.raises(ravelin.ServiceUnavailableError):
        RedisBudget(url, tokens_per_day=10, timeout=0.2).reserve("k", 1)
    assert RedisBudget(url, tokens_per_day=10, timeout=0.2, fail_open=True).reserve("k", 1).allowed


def test_abuse_penalty_box(make_guard: Any, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(1000.0)
    guard = make_guard(threshold=5, window=60.0, penalty=600.0, clock=clock,
                       weights={"injection": 3, "benign": 0})
    key = "rk_live_SECRETSECRET"
    with caplog.at_level(logging.WARNING, logger="ravelin.audit"):
        assert guard.record(key, "benign") == 0.0
        assert guard.record(key, "oversize") == 0.0
        clock.now += 61  # the first denial slid out of the window
        assert guard.record(key, "oversize") == 0.0
        assert guard.record(key, "repeated_prompt") == 0.0
        assert guard.blocked(key) == 0.0
        assert guard.record(key, "injection") == pytest.approx(600.0)
    events = [r for r in caplog.records if getattr(r, "event", "") == "abuse.penalty"]
    assert len(events) == 1 and events[0].reason == "injection" and events[0].count == 5
    assert all("SECRET" not in r.getMessage() and "SECRET" not in str(r.__dict__)
               for r in caplog.records)
    assert 0 < guard.blocked(key) <= 600
    assert guard.blocked("someone else") == 0.0
    with caplog.at_level(logging.WARNING, logger="ravelin.audit"):
        guard.release(key)
    assert guard.blocked(key) == 0.0
    assert any(getattr(r, "event", "") == "abuse.release" for r in caplog.records)
    assert guard.record(key, "oversize") == 0.0  # the count started over


def test_the_box_expires_on_its_own() -> None:
    clock = Clock(0.0)
    guard = AbuseGuard(threshold=2, window=10.0, penalty=30.0, clock=clock)
    guard.record("k", "x")
    assert guard.record("k", "x") == 30.0
    clock.now += 29.5
    assert guard.blocked("k") == pytest.approx(0.5)
    clock.now += 0.5
    assert guard.blocked("k") == 0.0


def test_redis_abuse_keys_expire_and_async(redis_url: str) -> None:
    guard = RedisAbuseGuard(redis_url, threshold=3, window=30.0, penalty=120.0)

    async def run() -> list[float]:
        return [await guard.arecord("1.2.3.4", "injection") for _ in range(4)]

    assert [x > 0 for x in asyncio.run(run())] == [False, False, True, True]
    assert 0 < asyncio.run(guard.ablocked("1.2.3.4")) <= 120
    guard.record("5.6.7.8", "oversize")
    client = redis.Redis.from_url(redis_url)
    keys = client.keys("*")
    assert len(keys) == 2
    assert all(0 < client.pttl(k) <= 120_000 for k in keys)


def test_abuse_memory_stays_bounded() -> None:
    clock = Clock(0.0)
    guard = AbuseGuard(threshold=3, window=1.0, penalty=5.0, clock=clock)
    for i in range(20_000):
        guard.record(f"ip{i}", "oversize")
        clock.now += 0.001
    assert len(guard) <= 4000


def test_abuse_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="threshold"):
        AbuseGuard(threshold=0)
    with pytest.raises(ValueError, match="penalty"):
        AbuseGuard(penalty=-1)
    with pytest.raises(ValueError, match="weights"):
        AbuseGuard(threshold=3, weights={"x": 4})
    with pytest.raises(TypeError, match="reason"):
        AbuseGuard().record("k", None)  # type: ignore[arg-type]
    # Checked on the fast path too (nobody boxed: no digest is made).
    with pytest.raises(TypeError, match="key"):
        AbuseGuard().blocked(None)  # type: ignore[arg-type]


def test_repeated_identical_prompts_are_a_rate_limit_on_client_and_prompt() -> None:
    from ravelin.abuse import repeat_key

    repeats = ravelin.RateLimiter("2/10 minutes")
    guard = AbuseGuard(threshold=2, penalty=60)
    boxed = 0.0
    for prompt in ["hi", "hi", "other", "hi", "hi"]:
        if not repeats.hit(repeat_key("ip1", prompt)).allowed:
            boxed = guard.record("ip1", "repeated_prompt")
    assert boxed == 60.0
    assert repeat_key("ip1", "hi") != repeat_key("ip2", "hi") != repeat_key("ip1", "hi ")
    with pytest.raises(TypeError, match="prompt"):
        repeat_key("ip1", None)  # type: ignore[arg-type]
