"""API key latency from Python, side by side with the plain-Python anchor in the same run.

    .venv/bin/python benches/bench_keys.py [--keys 100000] [--samples 20000] [--redis URL]

* verify: ``ravelin.verify_key`` vs ``hmac.compare_digest(hashlib.sha256(key).hexdigest(), d)``
  (and the peppered HMAC-SHA256 forms);
* authenticate against a SQLite file holding ``--keys`` keys: a cold-cache lookup (format check,
  digest, one indexed read, record) and a cached one, vs the plain-Python floor of the same
  work (``hashlib.sha256`` + one ``SELECT`` by digest + ``hmac.compare_digest``; a dict for the
  cached case);
* with ``--redis URL``: the same against ``RedisKeyStore`` (10,000 keys), anchored by one
  redis-py ``HGETALL`` by digest.

Every figure is a per-call latency percentile from ``perf_counter_ns`` around single calls.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import platform
import random
import sqlite3
import tempfile
import time
from typing import Callable

import ravelin
from ravelin.keys import KeyStore, RedisKeyStore, SQLiteKeyStore


def percentiles(call: Callable[[str], object], inputs: list[str]) -> tuple[float, float]:
    """p50 and p99 in microseconds of ``call(x)`` over ``inputs``."""
    timer = time.perf_counter_ns
    samples = []
    for x in inputs:
        start = timer()
        call(x)
        samples.append(timer() - start)
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[len(samples) * 99 // 100] / 1000


def report(title: str, ours: tuple[float, float], anchor: tuple[float, float]) -> None:
    ratio = anchor[0] / ours[0]
    print(
        f"| {title} | {ours[0]:.2f} | {ours[1]:.2f} | {anchor[0]:.2f} | {anchor[1]:.2f} "
        f"| {ratio:.2f}x |"
    )


def bench_verify(keys: list[str], samples: int) -> None:
    pepper = b"server-side pepper"
    digests = {k: ravelin.hash_key(k) for k in keys}
    peppered = {k: ravelin.hash_key(k, pepper) for k in keys}
    inputs = [random.choice(keys) for _ in range(samples)]

    def py_verify(k: str) -> bool:
        return hmac.compare_digest(hashlib.sha256(k.encode()).hexdigest(), digests[k])

    def py_verify_hmac(k: str) -> bool:
        mac = hmac.new(pepper, k.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(mac, peppered[k])

    report(
        "verify_key (SHA-256)",
        percentiles(lambda k: ravelin.verify_key(k, digests[k]), inputs),
        percentiles(py_verify, inputs),
    )
    report(
        "verify_key (HMAC pepper)",
        percentiles(lambda k: ravelin.verify_key(k, peppered[k], pepper), inputs),
        percentiles(py_verify_hmac, inputs),
    )
    report(
        "hash_key (SHA-256)",
        percentiles(ravelin.hash_key, inputs),
        percentiles(lambda k: hashlib.sha256(k.encode()).hexdigest(), inputs),
    )


def populate(path: str, n: int) -> list[str]:
    start = time.perf_counter()
    with SQLiteKeyStore(path) as store:
        keys = [store.create(f"owner{i % 1000}", "chat,embed").key for i in range(n)]
    print(f"(stored {n} keys in {time.perf_counter() - start:.1f} s)")
    return keys


def bench_authenticate(path: str, keys: list[str], samples: int) -> None:
    conn = sqlite3.connect(path)

    def py_lookup(k: str) -> object:
        digest = hashlib.sha256(k.encode()).hexdigest()
        row = conn.execute(
            "SELECT digest, key_id, owner, scopes FROM ravelin_keys WHERE digest = ?", (digest,)
        ).fetchone()
        return hmac.compare_digest(row[0], digest)

    cold_inputs = random.sample(keys, min(samples, len(keys)))
    # cache_ttl=0: every call reads the database (the cold-cache path).
    with SQLiteKeyStore(path, cache_ttl=0, touch_interval=3600) as cold, SQLiteKeyStore(
        path, touch_interval=3600
    ) as warm:
        report(
            f"authenticate, cold cache ({len(keys)} keys)",
            percentiles(cold.authenticate, cold_inputs),
            percentiles(py_lookup, cold_inputs),
        )
        _cached_report(warm, keys[:1000], samples, "authenticate, cached")
    conn.close()


def bench_redis(url: str, n: int, samples: int) -> None:
    import redis

    with RedisKeyStore(url, namespace="ravelin:bench", cache_ttl=0) as cold, RedisKeyStore(
        url, namespace="ravelin:bench", touch_interval=3600
    ) as warm:
        keys = [cold.create(f"owner{i % 100}", "chat").key for i in range(n)]
        client = redis.Redis.from_url(url, socket_timeout=1, decode_responses=True)

        def py_lookup(k: str) -> object:
            digest = hashlib.sha256(k.encode()).hexdigest()
            return client.hgetall(f"{{ravelin:bench}}:key:{digest}")

        inputs = [random.choice(keys) for _ in range(samples)]
        report(f"Redis authenticate, cold cache ({n} keys)", percentiles(cold.authenticate, inputs),
               percentiles(py_lookup, inputs))
        _cached_report(warm, keys[:1000], samples, "Redis authenticate, cached")
        client.delete(*client.keys("{ravelin:bench}:*"))
        client.close()


def _cached_report(store: KeyStore, hot: list[str], samples: int, title: str) -> None:
    cached_dict = {ravelin.hash_key(k): ("record",) for k in hot}
    for k in hot:
        store.authenticate(k)
    inputs = [random.choice(hot) for _ in range(samples)]
    report(
        title,
        percentiles(store.authenticate, inputs),
        percentiles(lambda k: cached_dict[hashlib.sha256(k.encode()).hexdigest()], inputs),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--redis", metavar="URL", help="also measure RedisKeyStore at URL")
    args = parser.parse_args()
    random.seed(7)
    print(f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "keys.db")
        keys = populate(path, args.keys)
        print("| operation | ravelin p50 µs | p99 µs | plain Python p50 µs | p99 µs | ratio |")
        print("|---|---|---|---|---|---|")
        bench_verify(keys[:1000], args.samples)
        bench_authenticate(path, keys, args.samples)
    if args.redis:
        bench_redis(args.redis, 10_000, args.samples)


if __name__ == "__main__":
    main()
