"""Key stores against a real SQLite file and the real Redis server, through one suite."""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable

import pytest
import ravelin
import redis
from ravelin.keys import AsyncRedisKeyStore, KeyStore, RedisKeyStore, SQLiteKeyStore

T0 = 1_800_000_000.0


class Clock:
    """A settable wall clock, so expiry and grace periods are tested without sleeping."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def open_store(kind: str, where: str, **options: Any) -> KeyStore:
    if kind == "sqlite":
        return SQLiteKeyStore(where, **options)
    return RedisKeyStore(where, **options)


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A factory of stores sharing one SQLite file or one Redis database."""
    kind = request.param
    where = str(tmp_path / "keys.db") if kind == "sqlite" else request.getfixturevalue("redis_url")
    opened: list[KeyStore] = []

    def make(**options: Any) -> KeyStore:
        store = open_store(kind, where, **options)
        opened.append(store)
        return store

    make.kind, make.where = kind, where  # type: ignore[attr-defined]
    yield make
    for store in opened:
        store.close()


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def store(make_store: Callable[..., KeyStore], clock: Clock) -> KeyStore:
    return make_store(clock=clock)


def stored_bytes(make_store: Any) -> bytes:
    """Everything the store holds, as raw bytes."""
    if make_store.kind == "sqlite":
        with sqlite3.connect(make_store.where) as conn:
            rows = conn.execute("SELECT * FROM ravelin_keys").fetchall()
        return repr(rows).encode()
    client = redis.Redis.from_url(make_store.where, socket_timeout=5)
    dump = []
    for key in client.scan_iter():
        kind = client.type(key)
        value = client.hgetall(key) if kind == b"hash" else (
            client.smembers(key) if kind == b"set" else client.get(key)
        )
        dump.append((key, value))
    return repr(dump).encode()


def test_create_returns_the_key_once_and_stores_only_its_digest(store: KeyStore,
                                                               make_store: Any) -> None:
    created = store.create("alice", "chat,embed", expires_in="90d", name="ci",
                           metadata={"team": "ml"})
    record = store.authenticate(created.key)
    assert record == created.record
    assert record.owner == "alice" and record.name == "ci"
    assert record.scopes == ("chat", "embed")
    assert record.expires_at == T0 + 90 * 86400
    assert record.metadata == {"team": "ml"}
    with pytest.raises(TypeError):
        record.metadata["team"] = "ops"  # type: ignore[index]
    assert record.key_id == ravelin.key_id(ravelin.hash_key(created.key))
    dump = stored_bytes(make_store)
    assert ravelin.hash_key(created.key).encode() in dump
    assert created.key.encode() not in dump
    assert created.key[8:20].encode() not in dump
    assert created.key not in repr(created) and created.key not in str(created)


def test_expired_keys_are_refused_even_when_cached(store: KeyStore, clock: Clock) -> None:
    created = store.create("alice", ["chat"], expires_in=60)
    store.authenticate(created.key)
    clock.now += 59
    store.authenticate(created.key)
    clock.now += 1
    with pytest.raises(ravelin.ExpiredKeyError) as info:
        store.authenticate(created.key)
    assert info.value.status == 401


def test_revocation_is_immediate_here_and_within_the_cache_ttl_elsewhere(
    make_store: Callable[..., KeyStore], clock: Clock
) -> None:
    admin = make_store(clock=clock)
    app = make_store(clock=clock, cache_ttl=5.0)
    created = admin.create("bob", ["chat"])
    app.authenticate(created.key)
    admin.revoke(created.record.key_id)
    with pytest.raises(ravelin.RevokedKeyError):
        admin.authenticate(created.key)
    clock.now += 4.9
    assert app.authenticate(created.key).key_id == created.record.key_id  # cached
    clock.now += 0.1
    with pytest.raises(ravelin.RevokedKeyError):
        app.authenticate(created.key)
    assert admin.revoke(created.record.key_id).revoked_at == T0  # the earliest time stays
    with pytest.raises(KeyError, match="no key with id key_0000"):
        admin.revoke("key_0000")


def test_cache_only_lookup_answers_hits_and_defers_misses_and_due_writes(
    make_store: Callable[..., KeyStore], clock: Clock
) -> None:
    app = make_store(clock=clock, cache_ttl=5.0, touch_interval=60)
    created = app.create("eve", ["chat"], expires_in=64)
    assert app.authenticate_cached(created.key) is None  # not cached yet: the caller does I/O
    app.authenticate(created.key)
    clock.now += 4
    assert app.authenticate_cached(created.key).key_id == created.record.key_id
    with pytest.raises(ravelin.MalformedKeyError):
        app.authenticate_cached("rk_live_nope")
    clock.now += 1
    assert app.authenticate_cached(created.key) is None  # the cache entry has expired
    app.authenticate(created.key)
    clock.now += 56  # a last-use batch is due: left to authenticate, which writes it
    assert app.authenticate_cached(created.key) is None
    app.authenticate(created.key)
    assert app.get(created.record.key_id).last_used_at == T0 + 61
    clock.now += 4
    with pytest.raises(ravelin.ExpiredKeyError):
        app.authenticate_cached(created.key)


def test_scopes_are_enforced(store: KeyStore) -> None:
    record = store.authenticate(store.create("carol", "chat").key)
    store.authorize(record, "chat")
    with pytest.raises(ravelin.PermissionDeniedError) as info:
        store.authorize(record, "embed")
    assert info.value.status == 403
    admin = store.authenticate(store.create("root", ["*"]).key)
    store.authorize(admin, "embed")
    nothing = store.authenticate(store.create("dave", []).key)
    with pytest.raises(ravelin.PermissionDeniedError):
        store.authorize(nothing, "chat")


def test_typos_and_foreign_prefixes_are_malformed_and_unknown_keys_unknown(
    store: KeyStore,
) -> None:
    key = store.create("erin", ["chat"]).key
    flipped = "B" if key[20] != "B" else "C"
    with pytest.raises(ravelin.MalformedKeyError):
        store.authenticate(key[:20] + flipped + key[21:])
    with pytest.raises(ravelin.MalformedKeyError):
        store.authenticate(ravelin.generate_key("rk_test"))
    with pytest.raises(ravelin.UnknownKeyError):
        store.authenticate(ravelin.generate_key())


@pytest.mark.parametrize(
    "bad",
    [None, 42, b"rk_live_x", "", "x" * 1_000_000, "rk_live_" + "é" * 39, "\ud800", "\x00" * 47],
)
def test_bad_input_to_authenticate_is_malformed(store: KeyStore, bad: Any) -> None:
    with pytest.raises(ravelin.MalformedKeyError):
        store.authenticate(bad)


@pytest.mark.parametrize("bad", [None, 7, b"id", ["id"], {"id": 1}])
def test_lookups_by_anything_but_a_str_are_type_errors(store: KeyStore, bad: Any) -> None:
    # Not a database error from deep inside the store (SQLite cannot bind a list).
    for lookup in (store.get, store.revoke, store.rotate):
        with pytest.raises(TypeError, match="key_id"):
            lookup(bad)
    if bad is not None:
        with pytest.raises(TypeError, match="owner"):
            store.list(bad)


@pytest.mark.parametrize(
    ("kwargs", "error", "argument"),
    [
        ({"owner": ""}, ValueError, "owner"),
        ({"owner": "a\nb"}, ValueError, "owner"),
        ({"owner": "x" * 10_000}, ValueError, "owner"),
        ({"owner": 7}, TypeError, "owner"),
        ({"scopes": "chat,em bed"}, ValueError, "scopes"),
        ({"scopes": [1]}, TypeError, "scopes"),
        ({"expires_in": 0}, ValueError, "expires_in"),
        ({"expires_in": float("nan")}, ValueError, "expires_in"),
        ({"expires_in": "ninety days"}, ValueError, "expires_in"),
        ({"expires_in": 10**12}, ValueError, "expires_in"),
        ({"metadata": {"x": object()}}, ValueError, "metadata"),
        ({"metadata": {"x": "y" * 20_000}}, ValueError, "metadata"),
        ({"name": "\x00"}, ValueError, "name"),
    ],
)
def test_bad_create_arguments_name_the_argument(
    store: KeyStore, kwargs: dict[str, Any], error: type, argument: str
) -> None:
    args = {"owner": "frank", "scopes": "chat", **kwargs}
    with pytest.raises(error, match=f"^{argument}: "):
        store.create(args.pop("owner"), args.pop("scopes"), **args)
    assert store.list() == []


def test_rotation_keeps_the_old_key_for_the_grace_period(store: KeyStore, clock: Clock) -> None:
    old = store.create("gina", "chat,embed", expires_in="30d", name="prod")
    clock.now += 100
    new = store.rotate(old.record.key_id, grace="1h")
    assert new.key != old.key
    assert (new.record.owner, new.record.name, new.record.scopes) == ("gina", "prod",
                                                                       ("chat", "embed"))
    assert new.record.expires_at == clock.now + 30 * 86400
    assert store.authenticate(new.key).key_id == new.record.key_id
    clock.now += 3599
    assert store.authenticate(old.key).replaced_by == new.record.key_id
    clock.now += 1
    with pytest.raises(ravelin.RevokedKeyError):
        store.authenticate(old.key)
    store.authenticate(new.key)
    with pytest.raises(ValueError, match="already rotated"):
        store.rotate(old.record.key_id)
    with pytest.raises(KeyError):
        store.rotate("key_ffffffffffffffff")
    store.revoke(new.record.key_id)
    with pytest.raises(ValueError, match="revoked"):
        store.rotate(new.record.key_id)


def test_list_is_per_owner_oldest_first(store: KeyStore, clock: Clock) -> None:
    ids = []
    for owner in ("hal", "ian", "hal"):
        ids.append((owner, store.create(owner, "chat").record.key_id))
        clock.now += 1
    assert [r.key_id for r in store.list("hal")] == [i for o, i in ids if o == "hal"]
    assert [r.key_id for r in store.list()] == [i for _, i in ids]
    assert store.list("nobody") == []


def test_last_use_is_written_in_batches(store: KeyStore, clock: Clock,
                                        make_store: Callable[..., KeyStore]) -> None:
    lazy = make_store(clock=clock, touch_interval=60)
    created = lazy.create("jo", "chat")
    clock.now += 10
    lazy.authenticate(created.key)
    assert store.get(created.record.key_id).last_used_at is None  # queued, not written
    clock.now += 50
    lazy.authenticate(created.key)  # the interval has passed: this call writes the batch
    assert store.get(created.record.key_id).last_used_at == T0 + 60
    clock.now += 5
    lazy.authenticate(created.key)
    lazy.flush()
    assert store.get(created.record.key_id).last_used_at == T0 + 65


def test_a_pepper_changes_the_digest_and_is_needed_to_authenticate(
    make_store: Callable[..., KeyStore]
) -> None:
    peppered = make_store(pepper=b"server-side secret")
    created = peppered.create("kim", "chat")
    assert created.record.key_id == ravelin.key_id(
        ravelin.hash_key(created.key, b"server-side secret"))
    assert peppered.authenticate(created.key).owner == "kim"
    with pytest.raises(ravelin.UnknownKeyError):
        make_store().authenticate(created.key)
    assert "server-side secret" not in repr(peppered)


def test_concurrent_creation_from_eight_threads(store: KeyStore) -> None:
    keys: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        for _ in range(15):
            key = store.create(f"owner{n}", "chat").key
            with lock:
                keys.append(key)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 120
    assert len(store.list()) == 120
    assert {store.authenticate(k).owner for k in keys} == {f"owner{n}" for n in range(8)}


def _create_in_child(kind: str, where: str, owner: str) -> list[str]:
    store = open_store(kind, where)
    try:
        return [store.create(owner, "chat").key for _ in range(20)]
    finally:
        store.close()


def test_concurrent_creation_from_two_processes(store: KeyStore, make_store: Any) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.starmap(
            _create_in_child, [(make_store.kind, make_store.where, o) for o in ("p1", "p2")]
        )
    keys = results[0] + results[1]
    assert len(set(keys)) == 40
    assert len(store.list("p1")) == len(store.list("p2")) == 20
    assert all(store.authenticate(k).owner in ("p1", "p2") for k in keys)


def test_no_key_reaches_a_log_record_or_an_exception(
    store: KeyStore, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []

    def attempt(call: Callable[[], object]) -> None:
        try:
            call()
        except Exception as exc:  # every message and attribute of every error
            texts.extend([str(exc), repr(exc), repr(exc.args), str(vars(exc))])

    created = store.create("lee", "chat", expires_in=60)
    key = created.key
    typo = key[:-1] + ("A" if key[-1] != "A" else "B")
    record = store.authenticate(key)
    attempt(lambda: store.authorize(record, "admin"))
    attempt(lambda: store.authenticate(typo))
    attempt(lambda: store.authenticate(ravelin.generate_key()))
    attempt(lambda: store.create("lee", "bad scope"))
    rotated = store.rotate(record.key_id, grace=10)
    clock.now += 11
    attempt(lambda: store.authenticate(key))
    clock.now += 60
    attempt(lambda: store.authenticate(rotated.key))
    attempt(lambda: store.rotate(record.key_id))
    store.revoke(rotated.record.key_id)
    attempt(lambda: store.authenticate(rotated.key))
    store.flush()
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    texts += [repr(created), str(rotated), repr(record), json.dumps(record.to_dict())]
    assert len(texts) > 20 and any(record.key_id in t for t in texts)
    secrets = [key, typo, rotated.key, key[8:], rotated.key[8:], key[8:-4]]
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_malformed_keys_are_refused_before_any_lookup(
    redis_server: Any, redis_url: str
) -> None:
    store = RedisKeyStore(redis_url, socket_timeout=0.5)
    key = store.create("mo", "chat").key
    redis_server.stop()
    try:
        with pytest.raises(ravelin.MalformedKeyError):
            store.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B"))
        with pytest.raises(ravelin.ServiceUnavailableError) as info:
            store.authenticate(ravelin.generate_key())
        assert info.value.status == 503
    finally:
        redis_server.start()
        store.close()


def test_async_redis_store(redis_url: str) -> None:
    clock = Clock()

    async def scenario() -> None:
        store = AsyncRedisKeyStore(redis_url, clock=clock, touch_interval=0)
        sync = RedisKeyStore(redis_url, clock=clock)
        try:
            created = await store.create("nia", "chat", expires_in="1d")
            assert (await store.authenticate(created.key)) == created.record
            assert sync.get(created.record.key_id).last_used_at == T0
            assert sync.authenticate(created.key).owner == "nia"
            with pytest.raises(ravelin.MalformedKeyError):
                await store.authenticate(created.key[:-1])
            with pytest.raises(ravelin.UnknownKeyError):
                await store.authenticate(ravelin.generate_key())
            clock.now += 1
            new = await store.rotate(created.record.key_id, grace=30)
            clock.now += 30
            with pytest.raises(ravelin.RevokedKeyError):
                await store.authenticate(created.key)
            assert (await store.authenticate(new.key)).scopes == ("chat",)
            await store.revoke(new.record.key_id)
            with pytest.raises(ravelin.RevokedKeyError):
                await store.authenticate(new.key)
            ids = [r.key_id for r in await store.list("nia")]
            assert ids == [created.record.key_id, new.record.key_id]
            for lookup in (store.get, store.revoke, store.rotate, store.list):
                with pytest.raises(TypeError):
                    await lookup(7)  # type: ignore[arg-type]
        finally:
            await store.aclose()
            sync.close()

    asyncio.run(scenario())


def test_store_options_are_validated(tmp_path: Path, redis_url: str) -> None:
    with pytest.raises(ValueError, match="^prefix: "):
        SQLiteKeyStore(str(tmp_path / "k.db"), prefix="Bad")
    with pytest.raises(ValueError, match="^pepper: "):
        SQLiteKeyStore(str(tmp_path / "k.db"), pepper=b"")
    with pytest.raises(ValueError, match="^path: "):
        SQLiteKeyStore(":memory:")
    with pytest.raises(ValueError, match="^cache_ttl: "):
        SQLiteKeyStore(str(tmp_path / "k.db"), cache_ttl=-1)
    with pytest.raises(ValueError, match="^namespace: "):
        RedisKeyStore(redis_url, namespace="app{1}")
    with pytest.raises(ValueError, match="^socket_timeout: "):
        RedisKeyStore(redis_url, socket_timeout=0)
