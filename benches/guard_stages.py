"""Where a guarded Flask request's time goes, stage by stage, timed inside real requests.

Each pipeline stage (`Guard.begin`, `admit`, `inspect`, `filter_body`, `complete`) is wrapped
with a timer and the bench's guarded Flask app (`bench_guard.py`: 1 KB prompt, full guard,
audit to a log handler) serves requests alternating with the plain one. A stage timed alone
in a loop runs with hot caches and looks 2-4x cheaper than here.

    .venv/bin/python benches/guard_stages.py [--requests N]
"""

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_guard  # noqa: E402

STAGES = ("begin", "admit", "inspect", "filter_body", "complete")


def _timed(fn: Callable[..., Any], into: list[int]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            into.append(time.perf_counter_ns() - start)

    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    from ravelin.guard import Guard

    bench_guard._audit_to_devnull()
    times: dict[str, list[int]] = {name: [] for name in (*STAGES, "guarded", "plain")}
    for name in STAGES:
        setattr(Guard, name, _timed(getattr(Guard, name), times[name]))
    headers = {"Content-Type": "application/json"}
    with tempfile.TemporaryDirectory(prefix="ravelin-stages-") as tmp:
        apps, key = bench_guard.flask_apps(os.path.join(tmp, "flask.db"))
        headers["Authorization"] = f"Bearer {key}"
        clients = {"guarded": apps["ravelin"].test_client(), "plain": apps["plain"].test_client()}
        for _ in range(args.requests):
            for name, client in clients.items():
                start = time.perf_counter_ns()
                client.post("/chat", data=bench_guard.BODY, headers=headers)
                times[name].append(time.perf_counter_ns() - start)
    warm = args.requests // 8  # the first requests fill caches and lazy tables
    medians = {name: statistics.median(t[warm:]) / 1000 for name, t in times.items()}
    print("µs, median in place: " + "  ".join(f"{k} {v:.1f}" for k, v in medians.items()))
    means = {name: statistics.fmean(times[name][warm:]) / 1000 for name in ("guarded", "plain")}
    print(
        f"guarded minus plain: medians {medians['guarded'] - medians['plain']:.1f} µs, means "
        f"{means['guarded'] - means['plain']:.1f} µs (a mean also holds the audit writer's "
        "batches, which run wherever a request lets go of the GIL)"
    )


if __name__ == "__main__":
    main()
