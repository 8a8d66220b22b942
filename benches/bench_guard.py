"""Per-request cost of the full ravelin guard on FastAPI and Flask, beside slowapi/flask-limiter.

In-process: the same echo endpoint plain, behind the full guard (auth + limit + size + scan +
PII + budget + output redaction + audit to a log handler) and behind the peer rate limiter
alone; requests rotate plain / ravelin / peer and the script reports the median of the paired
differences (guarded - plain) over thousands of rounds, with a 1 KB prompt.

A no-op FastAPI security dependency (taking the request and its scopes, as ravelin's does)
rotates with them: the framework's own floor for any dependency-based guard; and the same
dependency running only the guard's text checks on the parsed body (injection scan, PII and
tokens: its one core call), the floor of any guard that inspects prompts there. ``--breakdown``
first times Flask and FastAPI endpoints behind the guard with parts switched off (budgets, abuse
box, rate limit, audit event), in place, since parts timed alone in a loop run with hot caches.

Under load: uvicorn serving the plain and the guarded app in turn, each hit by wrk for
``--seconds``; requests per second, non-2xx responses and the server's RSS after warm-up and
at the end.

    .venv/bin/python benches/bench_guard.py [--rounds N] [--seconds S] [--skip-wrk] [--breakdown]
"""

# No `from __future__ import annotations`: FastAPI must resolve the endpoints' locally defined
# models and dependencies as objects.
import argparse
import asyncio
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

PROMPT = (
    "Summarise the following meeting notes for the weekly engineering update. The team "
    "reviewed the migration plan for the billing service, agreed to move the nightly "
    "reconciliation job to the new queue, and discussed the latency regression seen after "
    "the last deploy. Action items: profile the serializer, add a dashboard for queue depth, "
    "and schedule a follow-up with the data team about the retention policy for raw events. "
) * 3
PROMPT = PROMPT[:1024]
BODY = json.dumps({"messages": [{"role": "user", "content": PROMPT}]}).encode()
HIGH_LIMIT = "1000000/minute"


def _audit_to_devnull() -> None:
    """Audit events are built and written (to /dev/null), as a deployment would log them."""
    logger = logging.getLogger("ravelin.audit")
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.StreamHandler(open(os.devnull, "w")))  # noqa: SIM115
    logger.propagate = False


def _policy():
    from ravelin.policy import Policy

    return Policy(rate_limit=HIGH_LIMIT, tokens_per_day=10**11, cost_per_day=10.0**9)


# -- FastAPI ------------------------------------------------------------------------------------


def _noop_security(check: Optional[Callable[[Any], Any]] = None) -> Any:
    """A security dependency doing nothing, or only ``check(parsed body)``."""
    from fastapi import Request
    from fastapi.openapi.models import APIKey, APIKeyIn
    from fastapi.security import SecurityScopes
    from fastapi.security.base import SecurityBase

    class NoopSecurity(SecurityBase):
        def __init__(self) -> None:
            self.model = APIKey(**{"in": APIKeyIn.header}, name="X-API-Key")
            self.scheme_name = "noop"

        async def __call__(self, request: Request, security_scopes: SecurityScopes) -> int:
            if check is not None:
                check(await request.json())
            return 0

    return NoopSecurity


def _chat_model() -> Any:
    from pydantic import BaseModel

    class Message(BaseModel):
        role: str
        content: str

    class Chat(BaseModel):
        messages: list[Message]

    return Chat


def _fastapi_app(dependency: Any = None, guard: Any = None) -> Any:
    """The echo endpoint, plain or behind a security dependency (installed if a ravelin guard)."""
    from fastapi import FastAPI, Security

    Chat = _chat_model()
    app = FastAPI()
    if guard is not None:
        guard.install(app)
        dependency = guard
    if dependency is None:

        @app.post("/chat")
        async def chat(body: Chat) -> dict:
            return {"answer": body.messages[-1].content}

    else:

        @app.post("/chat")
        async def chat(body: Chat, ctx: Annotated[Any, Security(dependency)]) -> dict:
            return {"answer": body.messages[-1].content}

    return app


# What the guard adds to every allowed response: its request id and five rate-limit headers.
GUARD_HEADERS = [
    (b"x-request-id", b"9f6c0e4a1b2d4c3e8f7a6b5c4d3e2f10"),
    (b"ratelimit-policy", b'"default";q=1000000;w=60'),
    (b"ratelimit", b'"default";r=999999;t=1'),
    (b"x-ratelimit-limit", b"1000000"),
    (b"x-ratelimit-remaining", b"999999"),
    (b"x-ratelimit-reset", b"1"),
]


def _with_guard_headers(app: Any) -> Any:
    """``app`` behind a pass-through ASGI layer that only adds the guard's six response headers:
    what that layer and those headers cost (server and client side), apart from any checking."""

    async def layer(scope: Any, receive: Any, send: Any) -> None:
        async def send_more(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *GUARD_HEADERS]}
            await send(message)

        await app(scope, receive, send_more if scope["type"] == "http" else send)

    return layer


def fastapi_apps(keys_db: str) -> tuple[dict[str, Any], str]:
    from fastapi import FastAPI, Request
    from ravelin.fastapi import Guard
    from ravelin.guard import _inspector
    from ravelin.keys import SQLiteKeyStore
    from slowapi import Limiter, _rate_limit_exceeded_handler
    from slowapi.errors import RateLimitExceeded
    from slowapi.util import get_remote_address

    Chat = _chat_model()
    store = SQLiteKeyStore(keys_db)
    key = store.create("bench", ["chat"]).key
    plain = _fastapi_app()
    guarded = _fastapi_app(guard=Guard(_policy(), keys=store))
    # The floor any dependency-based guard pays: FastAPI solving a no-op security dependency
    # that takes the request and its scopes, as ravelin's does.
    floor = _fastapi_app(_noop_security()())
    text_checks = _fastapi_app(_noop_security(_inspector(_policy()).inspect)())

    limiter = Limiter(key_func=get_remote_address)
    peer = FastAPI()
    peer.state.limiter = limiter
    peer.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)

    @peer.post("/chat")
    @limiter.limit(HIGH_LIMIT)
    async def peer_chat(request: Request, body: Chat) -> dict:
        return {"answer": body.messages[-1].content}

    apps = {"plain": plain, "ravelin": guarded, "slowapi": peer, "noop-security": floor}
    return {**apps, "text-checks-only": text_checks}, key


def _fastapi_timer(apps: dict[str, Any], key: str) -> Callable[[str], Any]:
    """Times one chat request through the named app over httpx's ASGI transport (ns)."""
    import httpx

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
        for name, app in apps.items()
    }

    async def one(name: str) -> int:
        start = time.perf_counter_ns()
        r = await clients[name].post("/chat", content=BODY, headers=headers)
        elapsed = time.perf_counter_ns() - start
        assert r.status_code == 200, (name, r.status_code, r.text)
        return elapsed

    return one


async def _fastapi_rounds(apps: dict[str, Any], key: str, rounds: int) -> dict[str, list[int]]:
    return await _rounds(list(apps), rounds, _fastapi_timer(apps, key))


# -- Flask --------------------------------------------------------------------------------------


def flask_apps(keys_db: str) -> tuple[dict[str, Any], str]:
    from flask import Flask, request
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address
    from ravelin.flask import Guard
    from ravelin.keys import SQLiteKeyStore

    def answer() -> dict:
        return {"answer": request.get_json()["messages"][-1]["content"]}

    plain = Flask("plain")
    plain.post("/chat")(answer)

    store = SQLiteKeyStore(keys_db)
    key = store.create("bench", ["chat"]).key
    guarded = Flask("guarded")
    guard = Guard(guarded, policy=_policy(), keys=store)
    guarded.post("/chat")(guard.protect()(answer))

    peer = Flask("peer")
    limiter = Limiter(get_remote_address, app=peer, storage_uri="memory://")
    peer.post("/chat")(limiter.limit(HIGH_LIMIT)(answer))
    return {"plain": plain, "ravelin": guarded, "flask-limiter": peer}, key


def _flask_timer(clients: dict[str, Any], key: str) -> Callable[[str], Any]:
    """Times one chat request through the named Flask test client (ns)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def one(name: str) -> int:
        start = time.perf_counter_ns()
        r = clients[name].post("/chat", data=BODY, headers=headers)
        elapsed = time.perf_counter_ns() - start
        assert r.status_code == 200, (name, r.status_code, r.data)
        return elapsed

    return one


async def _flask_rounds(apps: dict[str, Any], key: str, rounds: int) -> dict[str, list[int]]:
    clients = {name: app.test_client() for name, app in apps.items()}
    return await _rounds(list(apps), rounds, _flask_timer(clients, key))


# -- pairing ------------------------------------------------------------------------------------


async def _rounds(names: list[str], rounds: int, one: Callable[[str], Any]) -> dict[str, list[int]]:
    """Each round times every variant once, in a rotating order, after a warm-up."""
    for _ in range(200):
        for name in names:
            await one(name)
    times: dict[str, list[int]] = {name: [] for name in names}
    for i in range(rounds):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            times[name].append(await one(name))
    return times


def _report(framework: str, times: dict[str, list[int]]) -> list[str]:
    plain = times["plain"]
    lines = [f"{framework}: median plain request {statistics.median(plain) / 1000:.1f} µs"]
    for name, samples in times.items():
        if name == "plain":
            continue
        diffs = [g - p for g, p in zip(samples, plain)]
        med = statistics.median(diffs) / 1000
        lines.append(f"  {name:<16} adds {med:7.1f} µs per request (median of {len(diffs)} pairs)")
    return lines


# -- wrk ----------------------------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""


def serve(kind: str, port: int, keys_db: str) -> None:
    """Child process: uvicorn serving the plain or guarded FastAPI app."""
    import uvicorn

    _audit_to_devnull()
    apps, key = fastapi_apps(keys_db)
    Path(keys_db + ".key").write_text(key)
    uvicorn.run(apps[kind], host="127.0.0.1", port=port, log_level="error", access_log=False)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wrk_run(kind: str, seconds: int, tmp: str) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
    from servers import free_port, wait_for_port

    port = free_port()
    keys_db = os.path.join(tmp, f"{kind}.db")
    proc = subprocess.Popen(
        [sys.executable, __file__, "serve", kind, str(port), keys_db],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=30)
        deadline = time.monotonic() + 10
        while not os.path.exists(keys_db + ".key") and time.monotonic() < deadline:
            time.sleep(0.05)
        key = Path(keys_db + ".key").read_text()
        script = os.path.join(tmp, f"{kind}.lua")
        Path(script).write_text(WRK_SCRIPT.format(body=BODY.decode(), key=key))
        url = f"http://127.0.0.1:{port}/chat"
        wrk = ["wrk", "-t2", "-c32", "-s", script, url]
        subprocess.run([*wrk[:1], "-d5s", *wrk[1:]], check=True, capture_output=True)  # warm-up
        rss_warm = _rss_kib(proc.pid)
        out = subprocess.run(
            [*wrk[:1], f"-d{seconds}s", *wrk[1:]], check=True, capture_output=True, text=True
        ).stdout
        rss_end = _rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(0) if errors else "none",
        "rss_warm_kib": rss_warm,
        "rss_end_kib": rss_end,
    }


def breakdown(keys_db: str, rounds: int) -> list[str]:
    """Where the time goes, in place: endpoints behind the guard with parts switched off,
    rotating with the plain one (a part timed alone in a loop runs with hot caches and looks
    2-4x cheaper than inside a request). FastAPI also gets two floors: the no-op security
    dependency (any dependency-based guard pays it) and a pass-through ASGI layer adding the
    guard's six response headers (its request id and rate-limit headers: httpx parses them)."""
    from flask import Flask, request
    from ravelin import audit
    from ravelin.fastapi import Guard as FastAPIGuard
    from ravelin.flask import Guard as FlaskGuard
    from ravelin.keys import SQLiteKeyStore

    store = SQLiteKeyStore(keys_db)
    key = store.create("bench", ["chat"]).key

    def answer() -> dict:
        return {"answer": request.get_json()["messages"][-1]["content"]}

    full = _policy()
    no_budget = full.replace(tokens_per_day=None, cost_per_day=None)
    no_abuse = no_budget.replace(abuse_threshold=0)
    no_limit = no_abuse.replace(rate_limit="")
    policies = {
        "full guard": full,
        "without budgets": no_budget,
        "  and abuse box": no_abuse,
        "  and rate limit": no_limit,
    }
    flask_clients = {}
    for name, policy in {"plain": None, **policies}.items():
        app = Flask(name)
        if policy is None:
            app.post("/chat")(answer)
        else:
            app.post("/chat")(FlaskGuard(app, policy=policy, keys=store).protect()(answer))
        flask_clients[name] = app.test_client()
    fastapi = {
        "plain": _fastapi_app(),
        "ASGI layer + 6 headers": _with_guard_headers(_fastapi_app()),
        "no-op security dependency": _fastapi_app(_noop_security()()),
    }
    for name, policy in policies.items():
        fastapi[name] = _fastapi_app(guard=FastAPIGuard(policy, keys=store))
    timers = {
        "Flask": (list(flask_clients), _flask_timer(flask_clients, key)),
        "FastAPI": (list(fastapi), _fastapi_timer(fastapi, key)),
    }

    def report(title: str) -> list[str]:
        lines = [f"  {title}:"]
        for framework, (names, one) in timers.items():
            times = asyncio.run(_rounds(names, rounds // 2, one))
            for name in names[1:]:
                diffs = [g - p for g, p in zip(times[name], times["plain"])]
                med = statistics.median(diffs) / 1000
                lines.append(f"    {framework:<8} {name:<26} adds {med:7.1f} µs")
        return lines

    lines = ["Breakdown (median of paired differences vs plain):"]
    lines += report("with the audit event")
    logger, metrics = logging.getLogger("ravelin.audit"), audit._metrics
    logger.setLevel(logging.WARNING)
    audit._metrics = None
    try:
        lines += report("without the audit event (log level WARNING, no metrics)")
    finally:
        logger.setLevel(logging.INFO)
        audit._metrics = metrics
    return lines


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--skip-wrk", action="store_true")
    parser.add_argument("--breakdown", action="store_true", help="time the pipeline's parts")
    args = parser.parse_args()
    _audit_to_devnull()
    with tempfile.TemporaryDirectory(prefix="ravelin-bench-") as tmp:
        if args.breakdown:
            for line in breakdown(os.path.join(tmp, "parts.db"), args.rounds):
                print(line, flush=True)
        apps, key = fastapi_apps(os.path.join(tmp, "fastapi.db"))
        for line in _report("FastAPI", asyncio.run(_fastapi_rounds(apps, key, args.rounds))):
            print(line, flush=True)
        apps, key = flask_apps(os.path.join(tmp, "flask.db"))
        for line in _report("Flask", asyncio.run(_flask_rounds(apps, key, args.rounds))):
            print(line, flush=True)
        if args.skip_wrk or shutil.which("wrk") is None:
            return
        results = {kind: wrk_run(kind, args.seconds, tmp) for kind in ("plain", "ravelin")}
    plain, guarded = results["plain"], results["ravelin"]
    print(f"wrk -t2 -c32 -d{args.seconds}s, uvicorn (1 worker), 1 KB prompt:")
    for kind, r in results.items():
        growth = (r["rss_end_kib"] - r["rss_warm_kib"]) / r["rss_warm_kib"] * 100
        print(
            f"  {kind:<8} {r['rps']:9.1f} req/s  non-2xx {r['non2xx']}  "
            f"socket errors: {r['socket_errors']}  RSS {r['rss_warm_kib']} -> "
            f"{r['rss_end_kib']} KiB ({growth:+.1f}%)"
        )
    print(f"  ravelin / plain throughput: {guarded['rps'] / plain['rps'] * 100:.1f}%")


if __name__ == "__main__":
    main()
