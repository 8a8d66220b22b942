"""Limits shared through Redis by two app processes (FastAPI and Flask), and Redis outages."""

from __future__ import annotations

import httpx
from apps import serve_example
from ravelin.keys import SQLiteKeyStore

# One client for the module: a new httpx client per call costs more than the call.
HTTP = httpx.Client(timeout=10)


def chat(url: str, key: str) -> int:
    r = HTTP.post(
        url + "/v1/chat",
        timeout=10,
        headers={"Authorization": f"Bearer {key}"},
        json={"messages": [{"role": "user", "content": "hello"}]},
    )
    return r.status_code


def test_two_processes_share_one_limit_and_follow_the_outage_policy(
    redis_server, redis_url, tmp_path
):
    db = str(tmp_path / "keys.db")
    env = {"RAVELIN_KEYS_DB": db, "RAVELIN_REDIS_URL": redis_url, "RAVELIN_RATE_LIMIT": "5/minute"}
    with SQLiteKeyStore(db) as store:
        key = store.create("tester", ["chat"]).key
        fail_open_key = store.create("tester", ["chat"]).key
    servers = [serve_example("fastapi", env), serve_example("flask", env)]
    fail_open = serve_example("fastapi", {**env, "RAVELIN_FAIL_OPEN": "true"})
    try:
        # Alternating between the two processes: exactly five pass in total.
        statuses = [chat(servers[i % 2].url, key) for i in range(8)]
        assert sorted(statuses) == [200] * 5 + [429] * 3
        assert statuses[:5] == [200] * 5
        assert chat(fail_open.url, fail_open_key) == 200

        redis_server.stop()
        try:
            for server in servers:  # fail closed: 503, quickly, with the generic body
                r = HTTP.post(
                    server.url + "/v1/chat",
                    timeout=10,
                    headers={"Authorization": f"Bearer {fail_open_key}"},
                    json={"messages": [{"role": "user", "content": "hello"}]},
                )
                assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
                assert "redis" not in r.text.lower()
            assert chat(fail_open.url, fail_open_key) == 200  # fail open: allowed, logged
            assert "unavailable" in fail_open.logs()  # the outage is logged
        finally:
            redis_server.start()
        # Back up (empty: the test server keeps nothing on disk): the very first request is
        # served again (the broken pooled connection is replaced within the call).
        for server in servers:
            assert chat(server.url, fail_open_key) == 200
    finally:
        for server in (*servers, fail_open):
            server.close()
