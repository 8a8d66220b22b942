"""Every Redis client ravelin makes: a restart costs no failed call, a silent server one try."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import ravelin
import redis
from ravelin.keys import AsyncRedisKeyStore, RedisKeyStore
from ravelin.limits import RedisRateLimiter
from servers import RedisServer


@pytest.fixture()
def own_server() -> Iterator[RedisServer]:
    """A server of this test's own, so restarting it disturbs no other test."""
    server = RedisServer()
    yield server
    server.close()


def _calls(url: str, timeout: float) -> dict[str, Callable[[], Any]]:
    """One store call per client kind, each valid on an empty server."""
    limiter = RedisRateLimiter(url, "1000/minute", timeout=timeout)
    keys = RedisKeyStore(url, socket_timeout=timeout)
    async_keys = AsyncRedisKeyStore(url, socket_timeout=timeout)
    loop = asyncio.new_event_loop()

    def run(make: Callable[[], Awaitable[Any]]) -> Callable[[], Any]:
        return lambda: loop.run_until_complete(make())

    return {
        "limit": lambda: limiter.hit("k"),
        "limit async": run(lambda: limiter.ahit("k")),
        "keys": lambda: keys.get("key_0"),
        "keys async": run(lambda: async_keys.get("key_0")),
    }


def test_the_first_call_after_a_restart_succeeds(own_server: RedisServer) -> None:
    calls = _calls(own_server.url, timeout=2)
    for call in calls.values():
        call()  # every client now holds a pooled connection
    own_server.stop()
    own_server.start()
    # Each pooled socket was closed by the restart: one retry on a fresh connection hides it.
    outcomes = {}
    for name, call in calls.items():
        try:
            call()
            outcomes[name] = "ok"
        except ravelin.ServiceUnavailableError as exc:
            outcomes[name] = str(exc)
    assert outcomes == dict.fromkeys(calls, "ok")


def test_a_server_that_never_answers_is_asked_once() -> None:
    # A broken connection is retried, a timeout is not: a call never outlasts its timeout.
    # A retry would open a new connection: count them.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        for name, call in _calls(url, timeout=0.1).items():
            with pytest.raises((ravelin.ServiceUnavailableError, redis.TimeoutError)):
                call()
            silent.setblocking(False)
            connections = 0
            while True:
                try:
                    conn, _ = silent.accept()
                except BlockingIOError:
                    break
                conn.close()
                connections += 1
            assert connections == 1, name
