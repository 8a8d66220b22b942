"""ravelin.limits.RedisRateLimiter against a real Redis server."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import random
import socket
import subprocess
import threading
import time

import pytest
import ravelin
import redis
from ravelin.abuse import RedisAbuseGuard
from ravelin.budgets import RedisBudget
from ravelin.limits import RedisRateLimiter
from redis.cluster import RedisCluster
from servers import RedisServer, free_port, wait_for_port

ALGORITHMS = ["gcra", "sliding_window"]


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _hammer(url: str, algorithm: str, frozen: bool, barrier, results) -> None:
    clock = (lambda: 1_700_000_000.0) if frozen else None
    limiter = RedisRateLimiter(url, "1000/minute", algorithm, timeout=5, clock=clock)
    barrier.wait()
    results.put(sum(limiter.hit("shared").allowed for _ in range(400)))


def four_processes(url: str, algorithm: str, frozen: bool) -> list[int]:
    """Four processes hammering one key with 400 hits each; how many each was allowed."""
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(url, algorithm, frozen, barrier, results))
             for _ in range(4)]
    for p in procs:
        p.start()
    counts = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=10)
        assert p.exitcode == 0
    return counts


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_four_processes_admit_exactly_the_limit(redis_url: str, algorithm: str) -> None:
    # A frozen clock makes "exactly 1000" exact for GCRA too (it refills every 60 ms).
    counts = four_processes(redis_url, algorithm, frozen=True)
    assert sum(counts) == 1000
    assert all(c > 0 for c in counts)


def test_four_processes_on_the_server_clock_never_overshoot(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    t = client.time()
    began = t[0] + t[1] / 1e6
    counts = four_processes(redis_url, "sliding_window", frozen=False)
    t = client.time()
    elapsed = t[0] + t[1] / 1e6 - began
    # A sliding window may cross a window boundary mid-run: at most the weight that slid out.
    assert 1000 <= sum(counts) <= 1000 + int(1000 * elapsed / 60) + 1


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_decisions_match_the_in_process_limiter(redis_url: str, algorithm: str) -> None:
    clock = Clock()
    spec = "10/minute; 25/hour"
    local = ravelin.RateLimiter(spec, algorithm, clock=clock)
    remote = RedisRateLimiter(redis_url, spec, algorithm, clock=clock)
    rng = random.Random(7)
    for _ in range(300):
        cost = rng.choice([0, 1, 1, 1, 2, 5, 11])
        a, b = local.hit("k", cost), remote.hit("k", cost)
        assert (a.allowed, a.remaining, a.limit, a.window) == (b.allowed, b.remaining, b.limit,
                                                                 b.window)
        assert a.retry_after == pytest.approx(b.retry_after, abs=2e-6)
        assert a.reset_after == pytest.approx(b.reset_after, abs=2e-6)
        clock.now += rng.choice([0.0, 0.5, 3.0, 17.25, 61.0])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_cost_peek_reset_and_async(redis_url: str, algorithm: str) -> None:
    limiter = RedisRateLimiter(redis_url, "100/minute", algorithm)
    assert limiter.hit("k", 60).remaining == 40
    assert limiter.peek("k", 40).allowed and limiter.peek("k", 40).remaining == 40
    assert not limiter.hit("k", 41).allowed
    limiter.reset("k")

    async def run() -> list[bool]:
        results = await asyncio.gather(*(limiter.ahit("k", 7) for _ in range(20)))
        await limiter.areset("other")
        return [d.allowed for d in results]

    assert sum(asyncio.run(run())) == 14
    with pytest.raises(ValueError, match="cost"):
        limiter.hit("k", -1)
    with pytest.raises(TypeError, match="key"):
        limiter.hit(42)  # type: ignore[arg-type]


def test_every_key_has_a_ttl_and_a_cluster_hash_tag(redis_url: str) -> None:
    for algorithm in ALGORITHMS:
        limiter = RedisRateLimiter(redis_url, "5/second; 100/day", algorithm)
        for i in range(50):
            limiter.hit(f"user{i}")
    client = redis.Redis.from_url(redis_url)
    keys = client.keys("*")
    assert len(keys) == 100
    for key in keys:
        assert 0 < client.pttl(key) <= 2 * 86_400_000
        assert b"{" in key and b"user" not in key  # digests, never raw keys


def test_the_script_is_reloaded_after_a_script_flush(redis_url: str) -> None:
    limiter = RedisRateLimiter(redis_url, "2/minute")
    assert limiter.hit("k").allowed
    redis.Redis.from_url(redis_url).script_flush()
    assert limiter.hit("k").allowed
    assert not limiter.hit("k").allowed


def test_clients_must_have_timeouts(redis_url: str) -> None:
    with pytest.raises(ValueError, match="socket_timeout"):
        RedisRateLimiter(redis.Redis.from_url(redis_url), "1/second")
    with pytest.raises(TypeError, match="url_or_client"):
        RedisRateLimiter(42, "1/second")
    with pytest.raises(ValueError, match="timeout"):
        RedisRateLimiter(redis_url, "1/second", timeout=0)
    sync = RedisRateLimiter(redis.Redis.from_url(redis_url, socket_timeout=1), "1/second")
    assert sync.hit("k").allowed
    with pytest.raises(TypeError, match="a\\* methods|sync methods"):
        asyncio.run(sync.ahit("k"))


def test_a_redis_killed_mid_run_follows_each_policy(caplog: pytest.LogCaptureFixture) -> None:
    server = RedisServer()
    try:
        closed = RedisRateLimiter(server.url, "100000/minute", timeout=0.2)
        opened = RedisRateLimiter(server.url, "100000/minute", timeout=0.2, fail_open=True)
        outcomes: dict[str, set[str]] = {"closed": set(), "open": set()}
        killed = threading.Event()

        def hammer() -> None:
            while not killed.is_set() or len(outcomes["closed"]) < 2:
                try:
                    closed.hit("k")
                    outcomes["closed"].add("decision")
                except ravelin.ServiceUnavailableError:
                    outcomes["closed"].add("503")
                d = opened.hit("k")
                outcomes["open"].add("allowed" if d.allowed else "denied")
                if killed.is_set() and "503" in outcomes["closed"]:
                    return

        worker = threading.Thread(target=hammer, daemon=True)
        with caplog.at_level(logging.WARNING, logger="ravelin.limits"):
            worker.start()
            while not outcomes["closed"]:
                pass
            server.stop()
            killed.set()
            worker.join(timeout=30)
        assert not worker.is_alive()
        assert outcomes == {"closed": {"decision", "503"}, "open": {"allowed"}}
        assert any("fail_open" in r.getMessage() for r in caplog.records)

        async def async_policies() -> None:
            with pytest.raises(ravelin.ServiceUnavailableError):
                await closed.ahit("k")
            assert (await opened.ahit("k")).allowed

        asyncio.run(async_policies())
        server.start()
        assert closed.hit("k").allowed  # reconnects once Redis is back
    finally:
        server.close()


def test_a_server_that_never_answers_times_out() -> None:
    # A listening socket that never accepts: connect succeeds (backlog), replies never come.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        limiter = RedisRateLimiter(url, "1/second", timeout=0.1)
        with pytest.raises(ravelin.ServiceUnavailableError, match="TimeoutError"):
            limiter.hit("k")
        with pytest.raises(ravelin.ServiceUnavailableError):
            asyncio.run(limiter.ahit("k"))
        assert RedisRateLimiter(url, "1/second", timeout=0.1, fail_open=True).hit("k").allowed


def test_every_store_runs_on_redis_cluster(tmp_path) -> None:
    # A one-node cluster owning every slot still refuses scripts whose keys span slots
    # (CROSSSLOT), so this checks the hash tags, not just the client type.
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--cluster-enabled", "yes", "--cluster-port", str(free_port()),
         "--dir", str(tmp_path),
         "--cluster-config-file", str(tmp_path / "nodes.conf")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        admin = redis.Redis(port=port, socket_timeout=5)
        admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        while admin.cluster("info")["cluster_state"] != "ok":
            time.sleep(0.05)
        client = RedisCluster(host="127.0.0.1", port=port, socket_timeout=2)
        limiter = RedisRateLimiter(client, "3/minute; 10/hour", "sliding_window")
        assert [limiter.hit("k").allowed for _ in range(4)] == [True, True, True, False]
        budget = RedisBudget(client, tokens_per_day=100, tokens_per_month=150)
        assert budget.reserve("k", 100).allowed and not budget.reserve("k", 1).allowed
        guard = RedisAbuseGuard(client, threshold=2)
        assert guard.record("k", "x") == 0.0 and guard.record("k", "x") > 0
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_fail_open_warnings_are_throttled(caplog: pytest.LogCaptureFixture) -> None:
    server = RedisServer()
    url = server.url
    server.close()
    limiter = RedisRateLimiter(url, "1/second", timeout=0.2, fail_open=True)
    with caplog.at_level(logging.WARNING, logger="ravelin.limits"):
        assert all(limiter.hit("k").allowed for _ in range(50))
    assert len([r for r in caplog.records if r.name == "ravelin.limits"]) == 1
