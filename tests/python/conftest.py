from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real Redis server for the session."""
    server = RedisServer()
    yield server
    server.close()


@pytest.fixture()
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, with its data flushed so each test starts empty."""
    import redis

    if redis_server.proc is None:
        redis_server.start()
    with redis.Redis.from_url(redis_server.url, socket_timeout=5) as client:
        client.flushall()
    return redis_server.url
