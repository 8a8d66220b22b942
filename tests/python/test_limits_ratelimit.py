"""ravelin.RateLimiter: the in-process limiter through the bindings."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
import ravelin
import tomllib

CASES = tomllib.loads((Path(__file__).parent / "data" / "limits_parse.toml").read_text())["case"]
ALGORITHMS = ["gcra", "sliding_window"]


class Clock:
    """A manual monotonic clock (seconds)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("case", CASES, ids=[repr(c["spec"]) for c in CASES])
def test_parses_limit_strings(case: dict) -> None:
    if "rates" in case:
        limiter = ravelin.RateLimiter(case["spec"])
        assert limiter.limits == [(c, float(w)) for c, w in case["rates"]]
    else:
        with pytest.raises(ValueError, match="^limits: ") as err:
            ravelin.RateLimiter(case["spec"])
        assert case["error"] in str(err.value)


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="algorithm"):
        ravelin.RateLimiter("1/second", algorithm="leaky")
    with pytest.raises(ValueError, match="limits: longer than"):
        ravelin.RateLimiter("1/second;" * 1_000_000)
    with pytest.raises(ValueError, match="at most 16"):
        ravelin.RateLimiter("1/second;" * 17)
    limiter = ravelin.RateLimiter("1/second")
    with pytest.raises(TypeError, match="key: must be str"):
        limiter.hit(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cost: must be >= 0"):
        limiter.hit("k", -1)
    with pytest.raises(ValueError, match="cost: must be within"):
        limiter.hit("k", 10**12)
    with pytest.raises(OverflowError):
        limiter.hit("k", 10**30)
    with pytest.raises(ValueError, match="clock"):
        ravelin.RateLimiter("1/second", clock=lambda: -1.0).hit("k")


def test_odd_keys_are_distinct_keys() -> None:
    limiter = ravelin.RateLimiter("1/minute")
    keys = ["", "\0", "a\ud800", "a\udfff", "x" * 50_000_000, "🙂"]
    assert all(limiter.hit(k).allowed for k in keys)
    assert not any(limiter.hit(k).allowed for k in keys)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_decision_fields(algorithm: str) -> None:
    clock = Clock()
    limiter = ravelin.RateLimiter("10/minute; 100/hour", algorithm, clock=clock)
    d = limiter.hit("k", 4)
    assert (d.allowed, d.remaining, d.retry_after, d.limit, d.window) == (True, 6, 0.0, 10, 60.0)
    assert d.reset_after > 0
    denied = limiter.hit("k", 7)
    assert not denied.allowed and denied.remaining == 6 and denied.retry_after > 0
    assert repr(denied).startswith("Decision(allowed=False, remaining=6,")
    clock.now += denied.retry_after
    assert limiter.hit("k", 7).allowed
    assert "10/60s; 100/3600s" in repr(limiter)
    assert limiter.algorithm == algorithm


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_cost_weights_peek_and_reset(algorithm: str) -> None:
    limiter = ravelin.RateLimiter("100/minute", algorithm, clock=Clock())
    assert limiter.hit("k", 60).remaining == 40
    assert not limiter.peek("k", 41).allowed
    assert limiter.peek("k", 40).allowed
    assert limiter.peek("k", 40).remaining == 40  # peeking consumes nothing
    assert not limiter.hit("k", 41).allowed
    assert limiter.hit("k", 40).allowed
    assert not limiter.hit("k").allowed
    assert not limiter.hit("new", 101).allowed  # never fits
    limiter.reset("k")
    assert limiter.hit("k", 100).allowed


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("clocked", [True, False])
def test_eight_threads_on_one_key_admit_exactly_the_limit(algorithm: str, clocked: bool) -> None:
    # With a frozen clock the count must be exactly 1000; on the real clock GCRA refills one
    # unit per 60 ms while the threads run, so at most that many more may pass.
    limiter = ravelin.RateLimiter("1000/minute", algorithm, clock=Clock() if clocked else None)
    allowed = [0] * 8
    start = threading.Barrier(8)

    def hammer(i: int) -> None:
        start.wait()
        allowed[i] = sum(limiter.hit("shared").allowed for _ in range(400))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    began = time.monotonic()
    try:
        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    elapsed = time.monotonic() - began
    if clocked:
        assert sum(allowed) == 1000
    else:
        refill = int(elapsed / 0.06) + 1 if algorithm == "gcra" else 0
        assert 1000 <= sum(allowed) <= 1000 + refill


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_memory_stays_bounded_with_many_distinct_keys(algorithm: str) -> None:
    clock = Clock()
    limiter = ravelin.RateLimiter("5/second", algorithm, clock=clock)
    for round_ in range(10):
        for i in range(20_000):
            limiter.hit(f"{round_}:{i}")
        clock.now += 3.0
    # 200,000 keys seen; only those still inside a window (x2 slack for amortised sweeps).
    assert 20_000 <= len(limiter) <= 60_000


def test_no_background_thread() -> None:
    before = threading.active_count()
    limiter = ravelin.RateLimiter("10/second")
    for i in range(5000):
        limiter.hit(str(i))
    assert threading.active_count() == before
