"""Rate limits side by side with the `limits` library (behind slowapi and flask-limiter).

    .venv/bin/python benches/bench_limits.py [--redis-url URL] [--calls N]

Prints markdown tables: in-process latency, memory with 1,000,000 keys, exactness under thread
contention, and the Redis check (commands per check, latency next to a bare EVALSHA). Without
--redis-url a throwaway redis-server is started (tests/python/servers.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import limits
import limits.storage
import limits.strategies
import ravelin
from ravelin.limits import RedisRateLimiter

ROOT = Path(__file__).resolve().parent.parent
KEYS = [f"user-{i}" for i in range(1000)]


def timer_floor() -> int:
    pc = time.perf_counter_ns
    samples = []
    for _ in range(20_000):
        a = pc()
        samples.append(pc() - a)
    return sorted(samples)[len(samples) // 2]


def per_call(fn: Callable[[str], object], calls: int) -> tuple[float, float]:
    """p50 and p99 in microseconds of one call, timer cost removed (GC off, as in timeit)."""
    pc = time.perf_counter_ns
    floor = timer_floor()
    for key in KEYS * 5:  # warm-up
        fn(key)
    samples = []
    gc.disable()
    try:
        for i in range(calls):
            key = KEYS[i % 1000]
            a = pc()
            fn(key)
            samples.append(pc() - a)
    finally:
        gc.enable()
    samples.sort()
    return ((samples[calls // 2] - floor) / 1000, (samples[calls * 99 // 100] - floor) / 1000)


def interleaved(fns: dict[str, Callable[[str], object]], calls: int) -> dict[str, tuple]:
    """p50/p99 µs per check, the checks taking turns call by call so that all of them see the
    same machine load (this box is shared and noisy)."""
    pc = time.perf_counter_ns
    samples: dict[str, list[int]] = {name: [] for name in fns}
    for key, name, fn in _turns(fns, calls):
        a = pc()
        fn(key)
        samples[name].append(pc() - a)
    return {name: _percentiles(xs) for name, xs in samples.items()}


async def interleaved_async(fns: dict[str, Callable[[str], object]], calls: int) -> dict:
    pc = time.perf_counter_ns
    samples: dict[str, list[int]] = {name: [] for name in fns}
    for key, name, fn in _turns(fns, calls):
        a = pc()
        await fn(key)
        samples[name].append(pc() - a)
    return {name: _percentiles(xs) for name, xs in samples.items()}


def _turns(fns: dict[str, Any], calls: int) -> Iterator[tuple[str, str, Any]]:
    """(key, name, fn) in call order: every round starts with the next check in the rotation."""
    items = list(fns.items())
    for i in range(calls):
        key = KEYS[i % 1000]
        for name, fn in items[i % len(items):] + items[:i % len(items)]:
            yield key, name, fn


def _percentiles(xs: list[int]) -> tuple[float, float]:
    xs.sort()
    return xs[len(xs) // 2] / 1000, xs[len(xs) * 99 // 100] / 1000


def limits_memory(strategy: type, spec: str) -> Callable[[str], bool]:
    limiter = strategy(limits.storage.MemoryStorage())
    item = limits.parse(spec)
    return lambda key: limiter.hit(item, key)


def in_process(calls: int) -> None:
    spec = "10000/minute"  # 1000 keys x at most a few hundred hits: every hit is allowed
    peers: dict[str, Callable[[], Callable[[str], object]]] = {
        "ravelin gcra": lambda: ravelin.RateLimiter(spec, "gcra").hit,
        "ravelin sliding_window": lambda: ravelin.RateLimiter(spec, "sliding_window").hit,
        "limits moving window (memory)":
            lambda: limits_memory(limits.strategies.MovingWindowRateLimiter, spec),
        "limits sliding window counter (memory)":
            lambda: limits_memory(limits.strategies.SlidingWindowCounterRateLimiter, spec),
        "limits fixed window (memory)":
            lambda: limits_memory(limits.strategies.FixedWindowRateLimiter, spec),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in peers}
    for _ in range(3):  # interleaved rounds, medians reported
        for name, make in peers.items():
            results[name].append(per_call(make(), calls))
    base = statistics.median(p50 for p50, _ in results["limits moving window (memory)"])
    print(f"\n### In-process check from Python ({calls:,} calls x 3 rounds, 1000 keys)\n")
    print("| limiter | p50 µs | p99 µs | p50 speed-up vs limits moving window |")
    print("|---|---:|---:|---:|")
    for name, rounds in results.items():
        p50 = statistics.median(r[0] for r in rounds)
        p99 = statistics.median(r[1] for r in rounds)
        print(f"| {name} | {p50:.3f} | {p99:.3f} | {base / p50:.1f}x |")


MEMORY_CHILD = """
import sys, ravelin, limits, limits.storage, limits.strategies
n = 1_000_000
keys = [f"client-{i:07d}" for i in range(n)]
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
which = sys.argv[1]
before = rss()
if which.startswith("ravelin"):
    limiter = ravelin.RateLimiter("100/day", which.split()[1])
    for k in keys: limiter.hit(k)
    held = len(limiter)
else:
    strategy = getattr(limits.strategies, which.split()[1])
    limiter = strategy(limits.storage.MemoryStorage())
    item = limits.parse("100/day")
    for k in keys: limiter.hit(item, k)
    held = n
print((rss() - before) / n, held)
"""


def memory() -> None:
    print("\n### Memory with 1,000,000 distinct live keys, 100/day (RSS growth, fresh process)\n")
    print("| limiter | bytes per key | keys held |")
    print("|---|---:|---:|")
    for which in ["ravelin gcra", "ravelin sliding_window", "limits MovingWindowRateLimiter",
                  "limits SlidingWindowCounterRateLimiter", "limits FixedWindowRateLimiter"]:
        out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, which], capture_output=True,
                             text=True, check=True).stdout.split()
        print(f"| {which} | {float(out[0]):.0f} | {int(out[1]):,} |")


def contention(runs: int = 10) -> None:
    def hammer(hit: Callable[[], bool]) -> tuple[int, int]:
        """Allowed hits, and threads that died of an exception inside the limiter."""
        allowed = [0] * 8
        crashed = [0] * 8
        barrier = threading.Barrier(8)

        def run(i: int) -> None:
            barrier.wait()
            try:
                for _ in range(500):
                    allowed[i] += bool(hit())
            except Exception:
                crashed[i] = 1

        old = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            sys.setswitchinterval(old)
        return sum(allowed), sum(crashed)

    def limits_hit(strategy: type) -> Callable[[], bool]:
        limiter = strategy(limits.storage.MemoryStorage())
        item = limits.parse("1000/minute")
        return lambda: limiter.hit(item, "shared")

    def ravelin_hit(algorithm: str) -> Callable[[], bool]:
        limiter = ravelin.RateLimiter("1000/day", algorithm)
        return lambda: limiter.hit("shared").allowed

    peers = {
        "ravelin gcra": lambda: ravelin_hit("gcra"),
        "ravelin sliding_window": lambda: ravelin_hit("sliding_window"),
        "limits fixed window (memory)":
            lambda: limits_hit(limits.strategies.FixedWindowRateLimiter),
        "limits moving window (memory)":
            lambda: limits_hit(limits.strategies.MovingWindowRateLimiter),
        "limits sliding window counter (memory)":
            lambda: limits_hit(limits.strategies.SlidingWindowCounterRateLimiter),
    }
    print("\n### Exactness: 8 threads x 500 hits on one key, sys.setswitchinterval(1e-6)\n")
    print("limits: 1000/minute; ravelin: 1000/day (no refill during the run, so any count")
    print(f"above 1000 is overshoot). {runs} runs each; 'crashed' counts hammering threads that")
    print("died of an exception raised inside the limiter.\n")
    print("| limiter | allowed per run (want 1000) | runs over 1000 | crashed threads |")
    print("|---|---|---:|---:|")
    for name, make in peers.items():
        results = [hammer(make()) for _ in range(runs)]
        counts = [a for a, _ in results]
        over = sum(a > 1000 for a in counts)
        print(f"| {name} | {', '.join(map(str, counts))} | {over} | "
              f"{sum(c for _, c in results)} |")


SAME = "gcra script by a bare EVALSHA"


def redis_section(url: str, calls: int) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    bare_sha = client.script_load("return 1")
    gcra = RedisRateLimiter(url, "1000000000/minute", "gcra")
    sliding = RedisRateLimiter(url, "1000000000/minute", "sliding_window")
    three = RedisRateLimiter(url, "1000000000/second; 1000000000/hour; 1000000000/day")
    peer_storage = limits.storage.RedisStorage(url)
    peer = limits.strategies.MovingWindowRateLimiter(peer_storage)
    item = limits.parse("1000000000/minute")

    # Commands per check and server time per check, counted by the server. The floor is a
    # script that only does the I/O any stateful limiter needs (TIME, GET, SET PX).
    floor_sha = client.script_load(
        "redis.call('TIME'); redis.call('GET', KEYS[1]); "
        "redis.call('SET', KEYS[1], '1 2', 'PX', 60000); return {1, 2, 3, 4, 5, 6}")
    print("\n### Redis: commands and server time per check (INFO commandstats, 3000 checks)\n")
    print("Commands a script runs are counted too; round trips = the EVALSHA count.\n")
    print("| check | commands per check | server µs per EVALSHA |")
    print("|---|---|---:|")
    checks: dict[str, Callable[[str], object]] = {
        "bare EVALSHA (return 1)": lambda k: client.evalsha(bare_sha, 1, k),
        "floor script (TIME, GET, SET PX)": lambda k: client.evalsha(floor_sha, 1, k),
        "ravelin gcra": gcra.hit, "ravelin sliding_window": sliding.hit,
        "ravelin gcra, 3 limits": three.hit,
        "limits moving window (redis)": lambda k: peer.hit(item, k),
    }
    for name, fn in checks.items():
        for i in range(300):
            fn(KEYS[i % 1000])
        client.config_resetstat()
        for i in range(3000):
            fn(KEYS[i % 1000])
        stats = client.info("commandstats")
        counts = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()
                  if not k.startswith(("cmdstat_config", "cmdstat_info"))}
        desc = ", ".join(f"{k} {v / 3000:g}" for k, v in sorted(counts.items()))
        usec = stats["cmdstat_evalsha"]["usec_per_call"]
        print(f"| {name} | {desc} | {usec:.1f} |")

    # The same GCRA script sent by a bare EVALSHA: what ravelin's client-side work is
    # measured against (its digest and arguments, read from the limiter's internals).
    same = (gcra._script._sha, 1)

    sync: dict[str, Callable[[str], object]] = {
        "bare EVALSHA (return 1)": lambda k: client.evalsha(bare_sha, 1, k),
        SAME: lambda k: client.evalsha(*same, gcra.key_name(k), "", 1, 1),
        "ravelin gcra": gcra.hit, "ravelin sliding_window": sliding.hit,
        "ravelin gcra, 3 limits": three.hit,
        "limits moving window (redis)": lambda k: peer.hit(item, k),
    }
    res = interleaved(sync, calls)

    async def run_async() -> dict[str, tuple[float, float]]:
        import redis.asyncio

        aclient = redis.asyncio.Redis.from_url(url, socket_timeout=5)
        fns = {
            "bare EVALSHA (return 1)": lambda k: aclient.evalsha(bare_sha, 1, k),
            SAME: lambda k: aclient.evalsha(*same, gcra.key_name(k), "", 1, 1),
            "ravelin gcra": gcra.ahit, "ravelin sliding_window": sliding.ahit,
            "ravelin gcra, 3 limits": three.ahit,
        }
        for fn in fns.values():
            await fn("warm")
        return await interleaved_async(fns, calls)

    ares = asyncio.run(run_async())
    for title, table in (("sync (redis-py)", res), ("asyncio (redis.asyncio)", ares)):
        base = table["bare EVALSHA (return 1)"][0]
        print(f"\n### Redis check latency, {title}, loopback ({calls:,} calls each, taking "
              "turns)\n")
        print("| check | p50 µs | p99 µs | p50 minus bare EVALSHA µs |")
        print("|---|---:|---:|---:|")
        for name, (p50, p99) in table.items():
            print(f"| {name} | {p50:.1f} | {p99:.1f} | {p50 - base:+.1f} |")
        gap = table["ravelin gcra"][0] - table[SAME][0]
        print(f"\nravelin gcra minus the same script by a bare EVALSHA: {gap:+.1f} µs p50")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url")
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--redis-calls", type=int, default=5_000)
    parser.add_argument("--sections", default="in_process,memory,contention,redis",
                        help="comma-separated subset of the default")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    print(f"ravelin {ravelin.__version__}, limits {limits.__version__}, Python "
          f"{sys.version.split()[0]}")
    if "in_process" in sections:
        in_process(args.calls)
    if "memory" in sections:
        memory()
    if "contention" in sections:
        contention()
    if "redis" not in sections:
        return
    server = None
    url = args.redis_url
    if url is None:
        sys.path.insert(0, str(ROOT / "tests" / "python"))
        from servers import RedisServer

        server = RedisServer()
        url = server.url
    try:
        redis_section(url, args.redis_calls)
    finally:
        if server is not None:
            server.close()


if __name__ == "__main__":
    main()
