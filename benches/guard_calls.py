"""Python function calls per request that the full guard adds, by module (cProfile).

A count, not a timing: it does not move with the machine's load, so it shows what a change to
the pipeline did where the timings of `bench_guard.py` drown in noise. Same apps as
`bench_guard.py` (1 KB prompt, full guard, audit to a log handler); the counts are of the
request's own thread (the audit writer thread's work is not in them).

    .venv/bin/python benches/guard_calls.py [--requests N]
"""

import argparse
import asyncio
import collections
import cProfile
import os
import pstats
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_guard  # noqa: E402


def _module(filename: str) -> str:
    """A short name for where a function lives: the ravelin file, the package, or builtin."""
    if filename == "~":
        return "(builtins)"
    if "/ravelin/" in filename:
        return "ravelin/" + filename.rsplit("/ravelin/", 1)[1]
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    return "(stdlib) " + Path(filename).stem


def _calls(run: Callable[[], Any], requests: int) -> collections.Counter[str]:
    for _ in range(50):  # caches, lazy imports, first-use paths
        run()
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(requests):
        run()
    profile.disable()
    counts: collections.Counter[str] = collections.Counter()
    for (filename, _, _), (_, calls, _, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        counts[_module(filename)] += calls
    return counts


def _report(framework: str, runs: dict[str, Callable[[], Any]], requests: int) -> None:
    plain, guarded = (_calls(runs[k], requests) for k in ("plain", "ravelin"))
    total = (sum(guarded.values()) - sum(plain.values())) / requests
    print(f"{framework}: the full guard adds {total:.0f} calls per request "
          f"(plain request {sum(plain.values()) / requests:.0f})")
    for module in sorted(set(plain) | set(guarded), key=lambda m: plain[m] - guarded[m]):
        added = (guarded[module] - plain[module]) / requests
        if abs(added) >= 0.5:
            print(f"  {module:<32} {added:+7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    bench_guard._audit_to_devnull()
    headers = {"Content-Type": "application/json"}
    with tempfile.TemporaryDirectory(prefix="ravelin-calls-") as tmp:
        apps, key = bench_guard.flask_apps(os.path.join(tmp, "flask.db"))
        headers["Authorization"] = f"Bearer {key}"
        clients = {kind: apps[kind].test_client() for kind in ("plain", "ravelin")}
        _report(
            "Flask",
            {
                kind: (lambda c=c: c.post("/chat", data=bench_guard.BODY, headers=headers))
                for kind, c in clients.items()
            },
            args.requests,
        )
        apps, key = bench_guard.fastapi_apps(os.path.join(tmp, "fastapi.db"))
        one = bench_guard._fastapi_timer({k: apps[k] for k in ("plain", "ravelin")}, key)
        loop = asyncio.new_event_loop()
        _report(
            "FastAPI",
            {k: (lambda k=k: loop.run_until_complete(one(k))) for k in ("plain", "ravelin")},
            args.requests,
        )
        loop.close()


if __name__ == "__main__":
    main()
